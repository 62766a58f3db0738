/**
 * Agent protocol v1 (docs/protocol.md): the input envelope and the events, as TypeScript types,
 * and the strict envelope parser.
 */

import { describeValue, isJsonObject, type JsonObject, type JsonValue } from "./json.js";

export const PROTOCOL_V1 = "mentatlab.agent/v1";

/** Exit statuses of an SDK agent (docs/protocol.md, section 4). */
export const ExitCode = {
  succeeded: 0,
  failed: 1,
  invalidEnvelope: 2,
  /** 128 + the signal number: 143 for SIGTERM, 130 for SIGINT. */
  signalBase: 128,
} as const;

export type LogLevel = "debug" | "info" | "warning" | "error";
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];

/** Which run, node and attempt this process is. */
export interface RunIdentity {
  id: string;
  node: string;
  /** 1, then 2 for the first retry, and so on. */
  attempt: number;
}

/** The one JSON object an agent reads from stdin, with the defaults of missing fields applied. */
export interface InputEnvelope {
  protocol: typeof PROTOCOL_V1;
  run: RunIdentity;
  inputs: JsonObject;
  params: JsonObject;
  /** The state of the last checkpoint of an earlier attempt, or `null`. */
  resume: JsonValue;
}

export interface OutputEvent {
  type: "output";
  pin: string;
  value: JsonValue;
}
export interface LogEvent {
  type: "log";
  level?: LogLevel;
  message: string;
}
export interface ProgressEvent {
  type: "progress";
  percent: number;
  message?: string | null;
}
export interface HeartbeatEvent {
  type: "heartbeat";
}
export interface MetricEvent {
  type: "metric";
  name: string;
  value: number;
  unit?: string | null;
}
export interface CheckpointEvent {
  type: "checkpoint";
  state: JsonValue;
}
export interface ErrorEvent {
  type: "error";
  code?: string;
  message: string;
  retryable?: boolean;
}

/** Every event type of protocol v1. */
export type AgentEvent =
  | OutputEvent
  | LogEvent
  | ProgressEvent
  | HeartbeatEvent
  | MetricEvent
  | CheckpointEvent
  | ErrorEvent;

/** Stdin held no valid input envelope: the agent reports `invalid_envelope` and exits 2. */
export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";
}

// fatal: invalid UTF-8 is an error, not U+FFFD. ignoreBOM: a BOM stays and JSON.parse
// rejects it, as the other SDKs do (MentatLab never sends one).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parse stdin's bytes as a v1 envelope; throws {@link EnvelopeError} listing every problem. */
export function parseEnvelope(bytes: Uint8Array): InputEnvelope {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new EnvelopeError("stdin is not a JSON input envelope: it is not valid UTF-8");
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new EnvelopeError(`stdin is not a JSON input envelope: ${(error as Error).message}`);
  }
  if (!isJsonObject(data)) {
    throw new EnvelopeError(`invalid input envelope: envelope: must be an object, got ${describeValue(data)}`);
  }
  const problems: string[] = [];
  if ("protocol" in data && data.protocol !== PROTOCOL_V1) {
    problems.push(`protocol: must be '${PROTOCOL_V1}', got ${describeValue(data.protocol)}`);
  }
  const run = data.run;
  if (run === undefined) {
    problems.push("run: required");
  } else if (!isJsonObject(run)) {
    problems.push(`run: must be an object, got ${describeValue(run)}`);
  } else {
    for (const key of ["id", "node"] as const) {
      if (!(key in run)) problems.push(`run.${key}: required`);
      else if (typeof run[key] !== "string") {
        problems.push(`run.${key}: must be a string, got ${describeValue(run[key])}`);
      }
    }
    const attempt = run.attempt;
    if (attempt === undefined) problems.push("run.attempt: required");
    // JSON Schema's integer includes 2.0, which JSON.parse already makes 2.
    else if (typeof attempt !== "number" || !Number.isInteger(attempt) || attempt < 1) {
      problems.push(`run.attempt: must be an integer >= 1, got ${describeValue(attempt)}`);
    }
  }
  for (const key of ["inputs", "params"] as const) {
    if (key in data && !isJsonObject(data[key])) {
      problems.push(`${key}: must be an object, got ${describeValue(data[key])}`);
    }
  }
  if (problems.length > 0) throw new EnvelopeError(`invalid input envelope: ${problems.join("; ")}`);
  const runObject = run as JsonObject;
  return {
    protocol: PROTOCOL_V1,
    run: { id: runObject.id as string, node: runObject.node as string, attempt: runObject.attempt as number },
    inputs: (data.inputs as JsonObject | undefined) ?? {},
    params: (data.params as JsonObject | undefined) ?? {},
    resume: data.resume ?? null,
  };
}
