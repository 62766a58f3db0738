// @ts-check
/**
 * Reference agent of the Node SDK for the conformance vectors.
 *
 * Implements the contract in conformance/README.md with @mentatlab/sdk: the variant comes from
 * CONFORMANCE_AGENT (default, typed, heartbeat), the behaviour from params.action. It imports
 * the SDK's build output directly (sdks/node/dist), so it needs no `npm install` of its own:
 * `npm ci && npm run build` in sdks/node is enough.
 */

import { setTimeout as sleep } from "node:timers/promises";

import { AgentError, defineAgent, FatalError } from "../../../sdks/node/dist/index.js";

/** @typedef {import("../../../sdks/node/dist/index.js").Context} Context */
/** @typedef {import("../../../sdks/node/dist/index.js").JsonValue} JsonValue */
/** @typedef {import("../../../sdks/node/dist/index.js").JsonObject} JsonObject */
/** @typedef {import("../../../sdks/node/dist/index.js").LogLevel} LogLevel */

const ENV_NAMES = ["MENTAT_PROTOCOL", "MENTAT_RUN_ID", "MENTAT_NODE_ID", "MENTAT_ATTEMPT"];

/** Code point order (UTF-16 order differs for non-BMP characters). */
const byCodePoint = (/** @type {string} */ a, /** @type {string} */ b) =>
  Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/**
 * @param {Context} ctx
 * @param {JsonValue} steps
 */
async function runSteps(ctx, steps) {
  for (const step of /** @type {JsonObject[]} */ (steps ?? [])) await runStep(ctx, step);
}

/**
 * @param {Context} ctx
 * @param {any} step - a step object of the contract (JSON, checked by the vectors' schema)
 */
async function runStep(ctx, step) {
  switch (step.do) {
    case "log":
      if ("level" in step) ctx.log(step.message, /** @type {LogLevel} */ (step.level));
      else ctx.log(step.message);
      return;
    case "progress":
      ctx.progress(step.percent, step.message ?? undefined);
      return;
    case "heartbeat":
      ctx.heartbeat();
      return;
    case "metric":
      ctx.metric(step.name, step.value, step.unit ?? undefined);
      return;
    case "checkpoint":
      ctx.checkpoint(step.state);
      return;
    case "output":
      ctx.output(step.pin, step.value);
      return;
    case "print":
      console.log(step.text);
      return;
    case "stderr":
      console.error(step.text);
      return;
    case "sleep":
      // Deliberately deaf to cancellation: the SDK must end the attempt anyway.
      await sleep(step.seconds * 1000);
      return;
    case "heartbeats":
      await ctx.withHeartbeats(step.every, () => sleep(step.seconds * 1000, undefined, { signal: ctx.signal }));
      return;
    case "repeat":
      for (let i = 0; i < step.times; i++) await runSteps(ctx, step.steps);
      return;
    case "wait_for_cancel": {
      ctx.log(step.message);
      if (!ctx.cancelled) {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
      }
      await runSteps(ctx, step.then ?? []);
      if (!step.swallow) throw ctx.signal.reason;
      return;
    }
    case "fail":
      throw new AgentError(step.message, {
        ...("code" in step ? { code: step.code } : {}),
        retryable: step.retryable ?? true,
      });
    case "fatal":
      throw new FatalError(step.message, "code" in step ? { code: step.code } : {});
    case "crash":
      throw new Error(step.message);
    default:
      throw new FatalError(`unknown step ${JSON.stringify(step.do)}`, { code: "unknown_step" });
  }
}

/**
 * The default handler: params.action decides.
 * @param {Context} ctx
 * @param {JsonObject} inputs
 * @returns {Promise<JsonObject | void>}
 */
async function handle(ctx, inputs) {
  const action = ctx.params.action ?? "echo";
  switch (action) {
    case "echo":
      // Written pin by pin: a returned object would put integer-like keys first.
      for (const name of Object.keys(inputs).sort(byCodePoint)) ctx.output(name, /** @type {JsonValue} */ (inputs[name]));
      return;
    case "describe":
      return {
        run: { id: ctx.runId, node: ctx.nodeId, attempt: ctx.attempt },
        inputs: ctx.inputs,
        params: ctx.params,
        resume: ctx.resume,
        env: Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name] ?? null])),
      };
    case "script":
      await runSteps(ctx, ctx.params.steps ?? []);
      return /** @type {JsonObject | undefined} */ (ctx.params.returns ?? undefined);
    case "resume":
      return resume(ctx, Number(ctx.params.total), /** @type {number | undefined} */ (ctx.params.fail_at));
    case "big_output":
      return { data: String(ctx.params.unit).repeat(Number(ctx.params.times)) };
    default:
      throw new FatalError(`unknown action ${JSON.stringify(action)}`, { code: "unknown_action" });
  }
}

/**
 * @param {Context} ctx
 * @param {number} total
 * @param {number | undefined} failAt
 */
function resume(ctx, total, failAt) {
  const state = /** @type {{ next?: number } | null} */ (ctx.resume);
  const start = state?.next ?? 0;
  ctx.log(`starting at ${start}`);
  for (let i = start; i < total; i++) {
    ctx.checkpoint({ next: i + 1 });
    ctx.progress((100 * (i + 1)) / total);
    if (failAt !== undefined && i + 1 === failAt) {
      throw new AgentError(`interrupted after ${i + 1}`, { code: "interrupted" });
    }
  }
  return { done: total, resumed_from: start };
}

const typed = defineAgent({
  inputs: { text: "string", count: { type: "number", default: 1 } },
  outputs: { result: "string" },
  handler(ctx, { text, count }) {
    /** @type {Record<string, unknown>} */
    const outputs = { result: Array(count).fill(text).join(" ") };
    if (ctx.params.wrong_type) outputs.result = 42;
    if (ctx.params.undeclared) outputs.undeclared = true;
    return /** @type {{ result: string }} */ (outputs); // deliberately wrong when asked to be
  },
});

const AGENTS = {
  default: defineAgent({ handler: handle }),
  typed,
  heartbeat: defineAgent({ heartbeatSeconds: 0.05, handler: handle }),
};

const variant = /** @type {keyof typeof AGENTS} */ (process.env.CONFORMANCE_AGENT ?? "default");
await AGENTS[variant].run();
