/**
 * `@mentatlab/sdk`: write MentatLab agents in TypeScript/JavaScript (agent protocol v1).
 *
 * ```ts
 * import { defineAgent } from "@mentatlab/sdk";
 *
 * await defineAgent({
 *   inputs: { text: "string" },
 *   outputs: { result: "string" },
 *   handler: (ctx, { text }) => ({ result: text.toUpperCase() }),
 * }).run();
 * ```
 *
 * The API client is a separate entry point: `@mentatlab/sdk/client`.
 */

export { Agent, defineAgent } from "./agent.js";
export type {
  AgentDefinition,
  Handler,
  HandlerInputs,
  HandlerOutputs,
  InvokeOptions,
  InvokeResult,
} from "./agent.js";
export { Context } from "./context.js";
export { AgentError, CancelledError, FatalError } from "./errors.js";
export type { AgentErrorOptions } from "./errors.js";
export { Heartbeats } from "./heartbeat.js";
export { encodeJson, isJsonValue, jsonProblem } from "./json.js";
export type { JsonObject, JsonPrimitive, JsonValue } from "./json.js";
export type { InputsOf, OutputsOf, Pin, PinOptions, PinSpec, PinSpecs, PinType, PinValue } from "./pins.js";
export { EnvelopeError, ExitCode, LOG_LEVELS, parseEnvelope, PROTOCOL_V1 } from "./protocol.js";
export type {
  AgentEvent,
  CheckpointEvent,
  ErrorEvent,
  HeartbeatEvent,
  InputEnvelope,
  LogEvent,
  LogLevel,
  MetricEvent,
  OutputEvent,
  ProgressEvent,
  RunIdentity,
} from "./protocol.js";
