/** One attempt: read the envelope, run the handler, write the outcome, choose the exit status. */

import { Context } from "./context.js";
import { AgentError, CancelledError, FatalError } from "./errors.js";
import { Heartbeats } from "./heartbeat.js";
import { describeValue, isJsonObject, type JsonObject, type JsonValue } from "./json.js";
import { bindInputs, type Pin } from "./pins.js";
import { EnvelopeError, ExitCode, parseEnvelope, type InputEnvelope } from "./protocol.js";
import type { EventWriter } from "./writer.js";

/** What the runtime needs of an agent (its public face is `Agent`). */
export interface AgentCore {
  readonly inputs: readonly Pin[] | undefined;
  readonly outputs: readonly Pin[] | undefined;
  readonly heartbeatSeconds: number | undefined;
  readonly cancelGraceSeconds: number;
  readonly handler: (ctx: Context, inputs: JsonObject) => unknown;
}

export interface AttemptIO {
  /** The whole of stdin. */
  readInput(): Promise<Uint8Array>;
  writer: EventWriter;
  /** Aborted (with a `CancelledError` reason) when the agent is asked to stop. */
  stop: AbortSignal;
  /** Diagnostics that are not events (stack traces), i.e. stderr. */
  diagnostic(text: string): void;
}

type Settled = { kind: "value"; value: unknown } | { kind: "error"; error: unknown } | { kind: "abandoned" };

/** Run one attempt; resolves to the process exit status. Never rejects. */
export async function runAttempt(agent: AgentCore, io: AttemptIO): Promise<number> {
  const { writer, stop } = io;
  let envelope: InputEnvelope;
  try {
    const raw = await untilStopped(io.readInput(), stop);
    if (raw === undefined) return cancelled(io);
    envelope = parseEnvelope(raw);
  } catch (error) {
    if (!(error instanceof EnvelopeError)) return failed(io, error);
    writer.finish({ type: "error", code: "invalid_envelope", message: error.message, retryable: false });
    return ExitCode.invalidEnvelope;
  }
  if (stop.aborted) return cancelled(io);
  const ctx = new Context(writer, envelope, stop, agent.outputs);
  let heartbeat: Heartbeats | undefined;
  try {
    const inputs = prepareInputs(agent, envelope.inputs, ctx);
    heartbeat = agent.heartbeatSeconds === undefined ? undefined : new Heartbeats(writer, agent.heartbeatSeconds).start();
    const settled = await settle(
      // Inside a promise chain, so that a synchronous throw is a rejection like any other.
      Promise.resolve().then(() => agent.handler(ctx, inputs)),
      stop,
      agent.cancelGraceSeconds,
    );
    heartbeat?.stop();
    // Once asked to stop, the attempt is cancelled whatever the handler did after.
    if (stop.aborted) return cancelled(io);
    if (settled.kind === "error") throw settled.error;
    if (settled.kind === "value") writeOutputs(ctx, settled.value);
  } catch (error) {
    heartbeat?.stop();
    if (stop.aborted) return cancelled(io);
    return failed(io, error);
  }
  writer.finish();
  return ExitCode.succeeded;
}

function prepareInputs(agent: AgentCore, inputs: JsonObject, ctx: Context): JsonObject {
  if (agent.inputs === undefined) return structuredClone(inputs);
  const bound = bindInputs(agent.inputs, inputs);
  if (bound.extra.length > 0) {
    ctx.log(`ignoring inputs that no pin declares: ${bound.extra.join(", ")}`, "warning");
  }
  if (bound.missing.length > 0 || bound.wrong.length > 0) {
    // Same inputs, same failure: retrying cannot help.
    throw new FatalError([...bound.missing, ...bound.wrong].join("; "), {
      code: bound.missing.length > 0 ? "missing_input" : "invalid_input",
    });
  }
  return bound.values;
}

function writeOutputs(ctx: Context, result: unknown): void {
  if (result === undefined || result === null) return;
  if (!isJsonObject(result) || Object.getPrototypeOf(result) !== Object.prototype) {
    throw new FatalError(
      `the handler returned ${Array.isArray(result) ? "an array" : typeof result}; return an object of output pins or nothing`,
      { code: "invalid_output" },
    );
  }
  for (const [pin, value] of Object.entries(result)) {
    // An optional output left undefined is simply not written.
    if (value !== undefined) ctx.output(pin, value as JsonValue);
  }
}

/** Wait for `promise`; after a stop, wait at most `graceSeconds` more for it. */
function settle(promise: Promise<unknown>, stop: AbortSignal, graceSeconds: number): Promise<Settled> {
  return new Promise((resolve) => {
    let grace: NodeJS.Timeout | undefined;
    const onStop = (): void => {
      grace = setTimeout(() => resolve({ kind: "abandoned" }), graceSeconds * 1000);
    };
    const done = (result: Settled): void => {
      if (grace !== undefined) clearTimeout(grace);
      stop.removeEventListener("abort", onStop);
      resolve(result);
    };
    promise.then(
      (value) => done({ kind: "value", value }),
      (error: unknown) => done({ kind: "error", error }),
    );
    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });
  });
}

/** `promise`'s value, or `undefined` as soon as `stop` is aborted. */
function untilStopped<T>(promise: Promise<T>, stop: AbortSignal): Promise<T | undefined> {
  if (stop.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onStop = (): void => resolve(undefined);
    stop.addEventListener("abort", onStop, { once: true });
    promise.then(
      (value) => {
        stop.removeEventListener("abort", onStop);
        resolve(value);
      },
      (error: unknown) => {
        stop.removeEventListener("abort", onStop);
        reject(error);
      },
    );
  });
}

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

function cancelled(io: AttemptIO): number {
  const reason: unknown = io.stop.reason;
  const signal = reason instanceof CancelledError ? reason.signal : "SIGTERM";
  // Retryable: a stop may come from a timeout, and the retry policy decides about those.
  io.writer.finish({ type: "error", code: "cancelled", message: `stopped by ${signal}`, retryable: true });
  return ExitCode.signalBase + SIGNAL_NUMBERS[signal];
}

function failed(io: AttemptIO, error: unknown): number {
  if (error instanceof AgentError) {
    io.writer.finish({ type: "error", code: error.code, message: error.message, retryable: error.retryable });
    return ExitCode.failed;
  }
  io.diagnostic(error instanceof Error ? (error.stack ?? String(error)) : `uncaught value: ${String(error)}`);
  io.writer.finish({ type: "error", code: "unexpected_error", message: describeError(error), retryable: true });
  return ExitCode.failed;
}

/** `TypeError: x is not a function`, as Python's SDK says `KeyError: 'x'`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message ? `${error.name}: ${error.message}` : error.name;
  return `non-Error value thrown: ${typeof error === "string" ? error : describeValue(error)}`;
}
