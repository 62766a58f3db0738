/** The `Context` a handler receives: run identity, params, resume state, event helpers. */

import { FatalError } from "./errors.js";
import { Heartbeats } from "./heartbeat.js";
import { describeValue, isJsonObject, jsonProblem, type JsonObject, type JsonValue } from "./json.js";
import { pinProblem, type Pin } from "./pins.js";
import { LOG_LEVELS, type InputEnvelope, type LogLevel } from "./protocol.js";
import type { EventWriter } from "./writer.js";

type Widen<T> = T extends string ? string : T extends number ? number : T extends boolean ? boolean : T;

/**
 * What a handler knows about its attempt and how it reports what it does. Every helper writes
 * one protocol event at once.
 */
export class Context {
  /** The run this attempt belongs to. */
  readonly runId: string;
  /** The flow node being executed. */
  readonly nodeId: string;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  readonly attempt: number;
  /** Every input value as received (frozen). */
  readonly inputs: Readonly<JsonObject>;
  /** The node's params from the flow (frozen). */
  readonly params: Readonly<JsonObject>;
  /** The `state` of the last checkpoint of an earlier attempt of this node, or `null`. */
  readonly resume: JsonValue;
  /**
   * Aborted when the agent is asked to stop (SIGTERM/SIGINT); its `reason` is a
   * `CancelledError`. Pass it to `fetch`, `setTimeout` from `node:timers/promises`, etc.
   */
  readonly signal: AbortSignal;

  private readonly outputPins: ReadonlyMap<string, Pin> | undefined;

  /** @internal Created by the SDK for each attempt. */
  constructor(
    private readonly writer: EventWriter,
    envelope: InputEnvelope,
    signal: AbortSignal,
    outputs: readonly Pin[] | undefined,
  ) {
    this.runId = envelope.run.id;
    this.nodeId = envelope.run.node;
    this.attempt = envelope.run.attempt;
    this.inputs = deepFreeze(structuredClone(envelope.inputs));
    this.params = deepFreeze(structuredClone(envelope.params));
    this.resume = envelope.resume;
    this.signal = signal;
    this.outputPins = outputs && new Map(outputs.map((pin) => [pin.name, pin]));
  }

  /** True once the agent has been asked to stop. */
  get cancelled(): boolean {
    return this.signal.aborted;
  }

  /**
   * `params[name]`, or `defaultValue` when absent. The value must have the default's JSON
   * type (a `null` default accepts anything), else the attempt fails with `invalid_param`,
   * not retryable: the same params would fail again.
   */
  param<T extends JsonValue>(name: string, defaultValue: T): Widen<T> {
    if (!Object.hasOwn(this.params, name)) return defaultValue as Widen<T>;
    const value = this.params[name] as JsonValue;
    if (defaultValue !== null && jsonKind(value) !== jsonKind(defaultValue)) {
      throw new FatalError(`param '${name}' must be ${jsonKind(defaultValue)}, got ${describeValue(value)}`, {
        code: "invalid_param",
      });
    }
    return value as Widen<T>;
  }

  /** A `log` event. */
  log(message: string, level: LogLevel = "info"): void {
    if (!LOG_LEVELS.includes(level)) {
      throw new RangeError(`log level must be one of ${LOG_LEVELS.join(", ")}, got ${describeValue(level)}`);
    }
    this.writer.emit({ type: "log", level, message: String(message) });
  }

  /** A `progress` event; `percent` from 0 to 100. */
  progress(percent: number, message?: string): void {
    if (typeof percent !== "number" || Number.isNaN(percent)) {
      throw new TypeError(`progress percent must be a number, got ${describeValue(percent)}`);
    }
    if (percent < 0 || percent > 100) {
      throw new RangeError(`progress percent must be between 0 and 100, got ${percent}`);
    }
    this.writer.emit(
      message === undefined ? { type: "progress", percent } : { type: "progress", percent, message: String(message) },
    );
  }

  /**
   * An `output` event: `value` on pin `pin` (the last value written to a pin wins). Fails the
   * attempt with `invalid_output` for an undeclared pin (when the agent declares outputs), a
   * value of the wrong declared type, or a value that is not JSON (`NaN`, `undefined`, a Date…).
   */
  output(pin: string, value: JsonValue): void {
    if (typeof pin !== "string" || pin === "") {
      throw new FatalError(`output pin names must be non-empty strings, got ${describeValue(pin)}`, {
        code: "invalid_output",
      });
    }
    const problem = jsonProblem(value, `output '${pin}'`);
    if (problem) throw new FatalError(`${problem}`, { code: "invalid_output" });
    if (this.outputPins) {
      const declared = this.outputPins.get(pin);
      if (!declared) {
        const names = [...this.outputPins.keys()].join(", ");
        throw new FatalError(`unknown output pin '${pin}'; declared outputs: ${names}`, { code: "invalid_output" });
      }
      const wrong = pinProblem(declared, value);
      if (wrong) throw new FatalError(`output '${pin}' ${wrong}`, { code: "invalid_output" });
    }
    this.writer.emit({ type: "output", pin, value });
  }

  /** A `metric` event, e.g. `ctx.metric("tokens", 812, "count")`. */
  metric(name: string, value: number, unit?: string): void {
    if (typeof name !== "string" || name === "") throw new RangeError("metric name must be a non-empty string");
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new TypeError(`metric value must be a finite number, got ${describeValue(value)}`);
    }
    this.writer.emit(unit === undefined ? { type: "metric", name, value } : { type: "metric", name, value, unit });
  }

  /** A `checkpoint` event: a retry of this node receives `state` as `ctx.resume`. */
  checkpoint(state: JsonValue): void {
    const problem = jsonProblem(state, "checkpoint state");
    if (problem) throw new TypeError(problem);
    this.writer.emit({ type: "checkpoint", state });
  }

  /** One `heartbeat` event: "still alive", for agents with a heartbeat timeout. */
  heartbeat(): void {
    this.writer.emit({ type: "heartbeat" });
  }

  /** Start heartbeats every `everySeconds`; call `stop()` on the result when the work is done. */
  heartbeats(everySeconds: number): Heartbeats {
    return new Heartbeats(this.writer, everySeconds).start();
  }

  /** Run `work` with heartbeats every `everySeconds`, stopping them however it ends. */
  async withHeartbeats<T>(everySeconds: number, work: () => Promise<T> | T): Promise<T> {
    const beats = this.heartbeats(everySeconds);
    try {
      return await work();
    } finally {
      beats.stop();
    }
  }
}

function jsonKind(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return isJsonObject(value) ? "object" : typeof value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
