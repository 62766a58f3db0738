/** `defineAgent`: a handler with declared pins, runnable as an agent process or in memory. */

import type { Context } from "./context.js";
import { CancelledError } from "./errors.js";
import type { JsonObject, JsonValue } from "./json.js";
import { normalizePins, type InputsOf, type OutputsOf, type Pin, type PinSpecs } from "./pins.js";
import { PROTOCOL_V1, type AgentEvent, type ErrorEvent, type RunIdentity } from "./protocol.js";
import { describeError, runAttempt, type AgentCore } from "./runtime.js";
import { EventWriter, fdSink, MemorySink } from "./writer.js";

/** The handler's inputs: typed by the declared input pins, or every input when undeclared. */
export type HandlerInputs<I extends PinSpecs | undefined> = I extends PinSpecs ? InputsOf<I> : JsonObject;

/** What a handler may return: its output pins (typed when declared), or nothing. */
export type HandlerOutputs<O extends PinSpecs | undefined> = O extends PinSpecs ? OutputsOf<O> : JsonObject;

export type Handler<I extends PinSpecs | undefined, O extends PinSpecs | undefined> = (
  ctx: Context,
  inputs: HandlerInputs<I>,
) => HandlerOutputs<O> | void | Promise<HandlerOutputs<O> | void>;

export interface AgentDefinition<I extends PinSpecs | undefined, O extends PinSpecs | undefined> {
  /**
   * Input pins, e.g. `{ text: "string", times: { type: "number", default: 1 } }`. Missing
   * required inputs and values of the wrong JSON type fail the attempt (`missing_input`,
   * `invalid_input`, not retryable) before the handler runs; undeclared inputs are ignored with
   * a warning. Without `inputs`, the handler gets every input unchecked.
   */
  inputs?: I;
  /**
   * Output pins. Writing an undeclared pin or a value of the wrong type fails the attempt
   * (`invalid_output`). Without `outputs`, any pin may be written.
   */
  outputs?: O;
  /** Emit a `heartbeat` event every so many seconds while the handler runs. */
  heartbeatSeconds?: number;
  /**
   * After SIGTERM/SIGINT, how long to wait for the handler to settle before reporting the
   * cancellation anyway (default 2 s; MentatLab's kill grace is 5 s).
   */
  cancelGraceSeconds?: number;
  handler: Handler<I, O>;
}

/** Options of {@link Agent.invoke}: the envelope fields (all optional) and a stop signal. */
export interface InvokeOptions {
  inputs?: JsonObject;
  params?: JsonObject;
  resume?: JsonValue;
  run?: Partial<RunIdentity>;
  /** Aborting it stops the attempt as SIGTERM would. */
  signal?: AbortSignal;
}

export interface InvokeResult {
  status: "succeeded" | "failed" | "cancelled";
  /** What the process would exit with. */
  exitCode: number;
  /** Every event, in order, as written. */
  events: AgentEvent[];
  /** The last value written to each pin (empty unless succeeded). */
  outputs: JsonObject;
  /** The `error` event, when the attempt failed or was cancelled. */
  error: ErrorEvent | undefined;
  /** What would have gone to stderr (stack traces of unexpected errors). */
  stderr: string;
}

/** An agent: its pins and handler. Call {@link Agent.run} from the agent's main module. */
export class Agent<I extends PinSpecs | undefined = undefined, O extends PinSpecs | undefined = undefined> {
  /** Declared input pins, or `undefined` when the handler takes any input. */
  readonly inputs: readonly Pin[] | undefined;
  /** Declared output pins, or `undefined` when undeclared. */
  readonly outputs: readonly Pin[] | undefined;
  readonly heartbeatSeconds: number | undefined;
  readonly cancelGraceSeconds: number;
  readonly handler: Handler<I, O>;

  constructor(definition: AgentDefinition<I, O>) {
    if (typeof definition.handler !== "function") throw new TypeError("defineAgent: handler must be a function");
    this.inputs = definition.inputs && normalizePins(definition.inputs, "input");
    this.outputs = definition.outputs && normalizePins(definition.outputs, "output");
    const beat = definition.heartbeatSeconds;
    if (beat !== undefined && !(beat > 0 && Number.isFinite(beat))) {
      throw new RangeError(`heartbeatSeconds must be a positive number, got ${beat}`);
    }
    this.heartbeatSeconds = beat;
    const grace = definition.cancelGraceSeconds ?? 2;
    if (!(grace >= 0 && Number.isFinite(grace))) {
      throw new RangeError(`cancelGraceSeconds must be a non-negative number, got ${grace}`);
    }
    this.cancelGraceSeconds = grace;
    this.handler = definition.handler;
  }

  /** The handler's inputs as the runtime sees them (untyped). */
  private get core(): AgentCore {
    return this as unknown as AgentCore;
  }

  /**
   * Run one attempt as this process: envelope on stdin, events on stdout, then exit 0
   * (succeeded), 1 (failed), 2 (invalid envelope) or 128 + signal number (stopped: 143 for
   * SIGTERM, 130 for SIGINT). Never returns.
   */
  async run(): Promise<never> {
    const writer = new EventWriter(fdSink(1));
    const stopper = new AbortController();
    const onSignal = (signal: "SIGTERM" | "SIGINT"): void => {
      if (!stopper.signal.aborted) stopper.abort(new CancelledError(signal));
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
    const crash = (error: unknown): void => {
      // A stray rejection or exception outside the handler's await chain: Node would die
      // without an event; report it as the handler's failure instead.
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      if (!writer.finished) {
        writer.finish({ type: "error", code: "unexpected_error", message: describeError(error), retryable: true });
      }
      process.exit(1);
    };
    process.on("uncaughtException", crash);
    process.on("unhandledRejection", crash);
    capturePrints(writer);
    // The handler may await something that holds no handle (a promise resolved by the abort
    // signal); without this, Node would exit mid-attempt with status 0.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const code = await runAttempt(this.core, {
      readInput: readStdin,
      writer,
      stop: stopper.signal,
      diagnostic: (text) => process.stderr.write(`${text}\n`),
    });
    clearInterval(keepAlive);
    process.exit(code);
  }

  /**
   * Run one attempt in this process with events kept in memory: for unit tests. Resolves to
   * the outcome; prints and signals are not intercepted.
   */
  async invoke(options: InvokeOptions = {}): Promise<InvokeResult> {
    const sink = new MemorySink();
    const writer = new EventWriter(sink);
    const stopper = new AbortController();
    const external = options.signal;
    const forward = (): void => stopper.abort(new CancelledError("SIGTERM"));
    if (external?.aborted) forward();
    else external?.addEventListener("abort", forward, { once: true });
    const envelope = {
      protocol: PROTOCOL_V1,
      run: { id: "run-test", node: "node-test", attempt: 1, ...options.run },
      inputs: options.inputs ?? {},
      params: options.params ?? {},
      resume: options.resume ?? null,
    };
    let diagnostics = "";
    const exitCode = await runAttempt(this.core, {
      readInput: () => Promise.resolve(new TextEncoder().encode(JSON.stringify(envelope))),
      writer,
      stop: stopper.signal,
      diagnostic: (text) => {
        diagnostics += `${text}\n`;
      },
    });
    external?.removeEventListener("abort", forward);
    const events = sink.lines.map((line) => JSON.parse(line) as AgentEvent);
    const error = events.findLast((event): event is ErrorEvent => event.type === "error");
    const status = exitCode === 0 ? "succeeded" : error?.code === "cancelled" ? "cancelled" : "failed";
    const outputs: JsonObject = {};
    if (status === "succeeded") {
      for (const event of events) if (event.type === "output") outputs[event.pin] = event.value;
    }
    return { status, exitCode, events, outputs, error, stderr: diagnostics };
  }
}

/**
 * Define an agent. The handler's `inputs` are typed from `inputs` (optional pins without a
 * default may be `undefined`) and its return value from `outputs`.
 *
 * ```ts
 * const agent = defineAgent({
 *   inputs: { text: "string", times: { type: "number", default: 1 } },
 *   outputs: { result: "string" },
 *   handler(ctx, { text, times }) {
 *     ctx.progress(50, "shouting");
 *     return { result: Array(times).fill(text.toUpperCase()).join(" ") };
 *   },
 * });
 * await agent.run();
 * ```
 */
export function defineAgent<
  const I extends PinSpecs | undefined = undefined,
  const O extends PinSpecs | undefined = undefined,
>(definition: AgentDefinition<I, O>): Agent<I, O> {
  return new Agent(definition);
}

async function readStdin(): Promise<Uint8Array> {
  const stdin = process.stdin;
  if (stdin.isTTY) process.stderr.write("waiting for the input envelope (JSON) on stdin, then EOF\n");
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Stdout belongs to the event stream: text written through `process.stdout` (`console.log`,
 * `console.info`, `console.debug`, `process.stdout.write`) becomes one `info` log event per
 * line. A child process that inherits file descriptor 1 bypasses this: give it `stdio: "pipe"`.
 */
function capturePrints(writer: EventWriter): void {
  const decoder = new TextDecoder();
  let pending = "";
  const flush = (all: boolean): void => {
    const lines = pending.split("\n");
    pending = all ? "" : (lines.pop() ?? "");
    if (all && lines.at(-1) === "") lines.pop();
    for (const line of lines) writer.emit({ type: "log", level: "info", message: line });
  };
  const write = (chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof chunk === "string") pending += chunk;
    else if (chunk instanceof Uint8Array) pending += decoder.decode(chunk, { stream: true });
    flush(false);
    if (typeof done === "function") queueMicrotask(() => (done as () => void)());
    return true;
  };
  process.stdout.write = write as typeof process.stdout.write;
  writer.onBeforeFinal(() => flush(true));
}
