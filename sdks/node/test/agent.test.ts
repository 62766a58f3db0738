import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { AgentError, defineAgent, FatalError, type AgentEvent } from "../src/index.js";

const error = (code: string, message: string, retryable: boolean): AgentEvent => ({ type: "error", code, message, retryable });

describe("defineAgent: declared pins", () => {
  const shout = defineAgent({
    inputs: { text: "string", times: { type: "number", default: 1 }, note: { type: "string", required: false } },
    outputs: { result: "string" },
    handler(ctx, inputs) {
      // Compile-time checks of the inferred types (tsc runs before these tests).
      const text: string = inputs.text;
      const times: number = inputs.times;
      const note: string | undefined = inputs.note;
      // @ts-expect-error text is a string, not a number
      const wrong: number = inputs.text;
      void wrong;
      ctx.progress(50, "shouting");
      return { result: Array(times).fill(text.toUpperCase()).join(" ") + (note ?? "") };
    },
  });

  it("types and binds inputs, applies defaults, writes returned outputs", async () => {
    const result = await shout.invoke({ inputs: { text: "hi", times: 2 } });
    assert.equal(result.status, "succeeded");
    assert.equal(result.exitCode, 0);
    assert.deepEqual(result.events, [
      { type: "progress", percent: 50, message: "shouting" },
      { type: "output", pin: "result", value: "HI HI" },
    ]);
    assert.deepEqual(result.outputs, { result: "HI HI" });
    assert.deepEqual((await shout.invoke({ inputs: { text: "hi" } })).outputs, { result: "HI" });
  });

  it("reports every input problem at once, not retryable", async () => {
    const result = await shout.invoke({ inputs: { times: "2", note: 3 } });
    assert.equal(result.exitCode, 1);
    assert.deepEqual(result.events, [
      error(
        "missing_input",
        "required input 'text' was not given; input 'times' must be number, got string \"2\"; input 'note' must be string, got number 3",
        false,
      ),
    ]);
  });

  it("warns about undeclared inputs", async () => {
    const result = await shout.invoke({ inputs: { text: "a", extra: 1, more: [] } });
    assert.deepEqual(result.events[0], { type: "log", level: "warning", message: "ignoring inputs that no pin declares: extra, more" });
    assert.equal(result.status, "succeeded");
  });

  it("checks outputs against the declared pins", async () => {
    const bad = defineAgent({
      outputs: { n: "number" },
      handler: (ctx) => {
        ctx.output("n", 1);
        ctx.output("n", "one" as unknown as number);
      },
    });
    const result = await bad.invoke();
    assert.deepEqual(result.events, [
      { type: "output", pin: "n", value: 1 },
      error("invalid_output", "output 'n' must be number, got string \"one\"", false),
    ]);
    assert.deepEqual(result.outputs, {});
    const undeclared = defineAgent({ outputs: { n: "number" }, handler: (ctx) => ctx.output("m", 1) });
    assert.deepEqual((await undeclared.invoke()).error, error("invalid_output", "unknown output pin 'm'; declared outputs: n", false));
  });

  it("rejects declarations that cannot work", () => {
    assert.throws(() => defineAgent({ inputs: { x: { type: "number", default: "1" } }, handler: () => undefined }), /default must be number/);
    assert.throws(() => defineAgent({ inputs: { x: "text" as "string" } as const, handler: () => undefined }).inputs);
    assert.throws(() => defineAgent({ heartbeatSeconds: 0, handler: () => undefined }), RangeError);
  });
});

describe("defineAgent: undeclared pins", () => {
  it("gives the handler every input and writes any output", async () => {
    const echo = defineAgent({ handler: (_ctx, inputs) => inputs });
    const result = await echo.invoke({ inputs: { a: 1, b: { c: [null] } } });
    assert.deepEqual(result.outputs, { a: 1, b: { c: [null] } });
  });

  it("exposes run identity, params and resume state", async () => {
    const describeAgent = defineAgent({
      handler: (ctx) => ({ id: ctx.runId, node: ctx.nodeId, attempt: ctx.attempt, params: ctx.params, resume: ctx.resume, n: ctx.param("n", 0) }),
    });
    const result = await describeAgent.invoke({ run: { id: "r", node: "x", attempt: 3 }, params: { n: 4 }, resume: { at: 2 } });
    assert.deepEqual(result.outputs, { id: "r", node: "x", attempt: 3, params: { n: 4 }, resume: { at: 2 }, n: 4 });
  });

  it("fails with invalid_param when a param has the wrong type", async () => {
    const agent = defineAgent({ handler: (ctx) => ({ n: ctx.param("n", 1) }) });
    assert.deepEqual((await agent.invoke({ params: { n: "x" } })).error, error("invalid_param", "param 'n' must be number, got string \"x\"", false));
  });

  it("rejects outputs that are not JSON instead of writing something else", async () => {
    for (const value of [Number.NaN, undefined, new Date(0)]) {
      const agent = defineAgent({ handler: (ctx) => ctx.output("x", value as unknown as null) });
      const result = await agent.invoke();
      assert.equal(result.error?.code, "invalid_output");
      assert.equal(result.events.length, 1);
    }
  });

  it("fails when the handler returns something other than an object", async () => {
    const agent = defineAgent({ handler: () => [1] as unknown as Record<string, never> });
    assert.deepEqual((await agent.invoke()).error, error("invalid_output", "the handler returned an array; return an object of output pins or nothing", false));
  });
});

describe("events", () => {
  it("writes each helper's event with optional fields left out", async () => {
    const agent = defineAgent({
      handler: (ctx) => {
        ctx.log("a");
        ctx.log("b", "debug");
        ctx.progress(0);
        ctx.metric("tokens", 3);
        ctx.metric("t", 0.5, "s");
        ctx.checkpoint(null);
        ctx.heartbeat();
      },
    });
    assert.deepEqual((await agent.invoke()).events, [
      { type: "log", level: "info", message: "a" },
      { type: "log", level: "debug", message: "b" },
      { type: "progress", percent: 0 },
      { type: "metric", name: "tokens", value: 3 },
      { type: "metric", name: "t", value: 0.5, unit: "s" },
      { type: "checkpoint", state: null },
      { type: "heartbeat" },
    ]);
  });

  it("turns helper misuse into an unexpected error", async () => {
    const cases: [(ctx: Parameters<Parameters<typeof defineAgent>[0]["handler"]>[0]) => void, string][] = [
      [(ctx) => ctx.progress(101), "RangeError: progress percent must be between 0 and 100, got 101"],
      [(ctx) => ctx.log("x", "loud" as "info"), 'RangeError: log level must be one of debug, info, warning, error, got string "loud"'],
      [(ctx) => ctx.metric("m", Number.POSITIVE_INFINITY), "TypeError: metric value must be a finite number, got number null"],
      [(ctx) => ctx.checkpoint({ d: new Date(0) } as unknown as null), "TypeError: checkpoint state.d is a Date, not a plain object"],
    ];
    for (const [misuse, message] of cases) {
      const result = await defineAgent({ handler: (ctx) => misuse(ctx) }).invoke();
      assert.deepEqual(result.error, error("unexpected_error", message, true));
      assert.match(result.stderr, /at /);
    }
  });

  it("beats automatically while the handler runs, and not after", async () => {
    const agent = defineAgent({
      heartbeatSeconds: 0.02,
      handler: async () => {
        await sleep(500);
        return { done: true };
      },
    });
    const { events } = await agent.invoke();
    assert.ok(events.filter((event) => event.type === "heartbeat").length >= 2); // not 12: timers lag under load
    assert.deepEqual(events.at(-1), { type: "output", pin: "done", value: true });
  });

  it("beats for a block with withHeartbeats", async () => {
    const agent = defineAgent({
      handler: async (ctx) => {
        await ctx.withHeartbeats(0.02, () => sleep(500));
        ctx.log("after");
      },
    });
    const { events } = await agent.invoke();
    assert.ok(events.filter((event) => event.type === "heartbeat").length >= 2); // not 12: timers lag under load
    assert.deepEqual(events.at(-1), { type: "log", level: "info", message: "after" });
  });
});

describe("failures", () => {
  it("maps AgentError, FatalError and other throws to error events", async () => {
    const cases: [() => never, AgentEvent][] = [
      [() => { throw new AgentError("busy", { code: "rate_limited" }); }, error("rate_limited", "busy", true)],
      [() => { throw new AgentError("no", { retryable: false }); }, error("agent_error", "no", false)],
      [() => { throw new FatalError("bad config", { code: "bad_config" }); }, error("bad_config", "bad config", false)],
      [() => { throw new TypeError("x is not a function"); }, error("unexpected_error", "TypeError: x is not a function", true)],
      [() => { throw "plain string"; }, error("unexpected_error", "non-Error value thrown: plain string", true)],
    ];
    for (const [handler, expected] of cases) {
      const result = await defineAgent({ handler }).invoke();
      assert.equal(result.exitCode, 1);
      assert.equal(result.status, "failed");
      assert.deepEqual(result.events, [expected]);
    }
  });

  it("fails an async handler's rejection the same way", async () => {
    const agent = defineAgent({
      handler: async () => {
        await sleep(1);
        throw new AgentError("later");
      },
    });
    assert.deepEqual((await agent.invoke()).error, error("agent_error", "later", true));
  });
});

describe("cancellation", () => {
  it("aborts ctx.signal, lets the handler clean up, reports cancelled with 143", async () => {
    const stop = new AbortController();
    const agent = defineAgent({
      handler: async (ctx) => {
        ctx.log("waiting");
        setTimeout(() => stop.abort(), 10);
        try {
          await sleep(10_000, undefined, { signal: ctx.signal });
        } finally {
          ctx.checkpoint({ at: 1 });
        }
      },
    });
    const result = await agent.invoke({ signal: stop.signal });
    assert.equal(result.status, "cancelled");
    assert.equal(result.exitCode, 143);
    assert.deepEqual(result.events, [
      { type: "log", level: "info", message: "waiting" },
      { type: "checkpoint", state: { at: 1 } },
      error("cancelled", "stopped by SIGTERM", true),
    ]);
  });

  it("gives up on a handler that ignores the stop after the grace period", async () => {
    const stop = new AbortController();
    const agent = defineAgent({
      cancelGraceSeconds: 0.05,
      handler: async (ctx) => {
        setTimeout(() => stop.abort(), 10);
        await sleep(5_000, undefined, { ref: false });
        ctx.output("late", true); // never reached in time: the outcome is written first
      },
    });
    const started = Date.now();
    const result = await agent.invoke({ signal: stop.signal });
    assert.ok(Date.now() - started < 4_000); // far below the handler's 5 s, even under load
    assert.deepEqual(result.events, [error("cancelled", "stopped by SIGTERM", true)]);
  });

  it("is cancelled even when the handler returns normally after the stop", async () => {
    const stop = new AbortController();
    const agent = defineAgent({
      handler: async (ctx) => {
        stop.abort();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return { ignored: true };
      },
    });
    const result = await agent.invoke({ signal: stop.signal });
    assert.deepEqual(result.events, [error("cancelled", "stopped by SIGTERM", true)]);
  });
});
