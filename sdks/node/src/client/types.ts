/**
 * Bodies of the MentatLab HTTP API (`/api/v1`), mirroring `mentatlab.model.run` and
 * `mentatlab.model.api` (schemas/run-record.v1.schema.json, schemas/run-event.v1.schema.json).
 * Timestamps are ISO 8601 strings.
 */

import type { JsonObject, JsonValue } from "../json.js";

export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type NodeStatus = "pending" | "running" | "succeeded" | "failed" | "skipped" | "cancelled";

export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "cancelled"]);

/** Why a node (or a run) failed. */
export interface NodeError {
  message: string;
  /** exit_code, signal, timeout, heartbeat_timeout, output_limit, agent_error, start_failed, … */
  reason: string;
  node?: string | null;
  attempt?: number | null;
  exit_code?: number | null;
  signal?: number | null;
  /** The agent's own error code, if it sent one. */
  code?: string | null;
  retryable?: boolean | null;
}

export interface NodeRecord {
  status: NodeStatus;
  attempts: number;
  outputs: JsonObject;
  error: NodeError | null;
  progress: number | null;
  started_at: string | null;
  finished_at: string | null;
}

/** A run, as `GET /runs/{id}` returns it. */
export interface RunRecord {
  id: string;
  status: RunStatus;
  flow_id: string | null;
  flow_name: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  inputs: JsonObject;
  nodes: Record<string, NodeRecord>;
  /** Outputs of the flow's terminal nodes, by node then pin. */
  outputs: Record<string, JsonObject>;
  error: NodeError | null;
}

/** Engine entries (`run.status`, `node.status`) and relayed agent events (`log`, `output`, …). */
export type RunEventType =
  | "run.status"
  | "node.status"
  | "log"
  | "progress"
  | "output"
  | "metric"
  | "checkpoint"
  | "error"
  // Later servers may add types; followers must not break on them.
  | (string & {});

/** One entry of a run's event log; `seq` starts at 1 and has no gaps. */
export interface RunEvent {
  run_id: string;
  seq: number;
  ts: string;
  type: RunEventType;
  node: string | null;
  attempt: number | null;
  data: { [key: string]: JsonValue };
}

export interface RunRef {
  id: string;
  status: RunStatus;
}

export interface RunPage {
  items: RunRecord[];
  next_cursor: string | null;
}

export interface RunCreate {
  /** A flow document (schemas/flow.v1.schema.json). */
  flow: JsonObject;
  /** Run inputs by `NODE.PIN`, as `mentatctl run -i`. */
  inputs?: JsonObject;
}

/** An RFC 9457 problem document: every error response of the server is one. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extra: string]: JsonValue | undefined;
}
