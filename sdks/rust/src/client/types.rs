//! Bodies of the MentatLab HTTP API (`/api/v1`), mirroring `mentatlab.model.run` and
//! `mentatlab.model.api` (schemas/run-record.v1.schema.json, schemas/run-event.v1.schema.json).
//! Timestamps are ISO 8601 strings. Every type ignores fields it does not know, and keeps
//! statuses it does not know (a newer server) as `Other`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::JsonObject;

/// The status of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Executing.
    Running,
    /// Finished: every node succeeded (or was skipped).
    Succeeded,
    /// Finished: a node failed.
    Failed,
    /// Finished: cancelled.
    Cancelled,
    /// A status this client does not know.
    #[serde(untagged)]
    Other(String),
}

impl RunStatus {
    /// Whether the run has finished (succeeded, failed or cancelled).
    pub fn is_terminal(&self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }

    /// The status on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Other(other) => other,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a node of a run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Not started.
    Pending,
    /// Executing.
    Running,
    /// Finished with its outputs.
    Succeeded,
    /// Finished without.
    Failed,
    /// Not run (an upstream node failed or a condition was false).
    Skipped,
    /// Cancelled with its run.
    Cancelled,
    /// A status this client does not know.
    #[serde(untagged)]
    Other(String),
}

/// Why a node (or a run) failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeError {
    /// What happened.
    pub message: String,
    /// `exit_code`, `signal`, `timeout`, `heartbeat_timeout`, `output_limit`, `agent_error`,
    /// `start_failed`, …
    pub reason: String,
    /// The node, for a run's error.
    #[serde(default)]
    pub node: Option<String>,
    /// The attempt that failed.
    #[serde(default)]
    pub attempt: Option<u64>,
    /// The agent's exit status.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The signal that killed the agent.
    #[serde(default)]
    pub signal: Option<i64>,
    /// The agent's own error code, if it sent one.
    #[serde(default)]
    pub code: Option<String>,
    /// Whether the agent said a retry may succeed.
    #[serde(default)]
    pub retryable: Option<bool>,
}

/// One node of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Its status.
    pub status: NodeStatus,
    /// Attempts so far.
    #[serde(default)]
    pub attempts: u64,
    /// Output pin → value.
    #[serde(default)]
    pub outputs: JsonObject,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<NodeError>,
    /// The last progress percent.
    #[serde(default)]
    pub progress: Option<f64>,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// A run, as `GET /runs/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// Its status.
    pub status: RunStatus,
    /// The flow's `meta.id`.
    #[serde(default)]
    pub flow_id: Option<String>,
    /// The flow's `meta.name`.
    #[serde(default)]
    pub flow_name: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Its inputs, by `NODE.PIN`.
    #[serde(default)]
    pub inputs: JsonObject,
    /// Its nodes, by id.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeRecord>,
    /// Outputs of the flow's terminal nodes, by node then pin.
    #[serde(default)]
    pub outputs: BTreeMap<String, JsonObject>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<NodeError>,
}

/// One entry of a run's event log; `seq` starts at 1 and has no gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// The run.
    pub run_id: String,
    /// Its position in the log.
    pub seq: u64,
    /// When it was recorded.
    pub ts: String,
    /// `run.status`, `node.status`, or a relayed agent event (`log`, `progress`, `output`,
    /// `metric`, `checkpoint`, `error`); later servers may add types.
    #[serde(rename = "type")]
    pub kind: String,
    /// The node, for node and agent events.
    #[serde(default)]
    pub node: Option<String>,
    /// The attempt, for agent events.
    #[serde(default)]
    pub attempt: Option<u64>,
    /// The event's fields.
    #[serde(default)]
    pub data: JsonObject,
}

impl RunEvent {
    /// Whether this is the run's final event: a `run.status` with a terminal status.
    pub fn is_final(&self) -> bool {
        self.kind == "run.status"
            && self
                .data
                .get("status")
                .and_then(Value::as_str)
                .is_some_and(|status| matches!(status, "succeeded" | "failed" | "cancelled"))
    }
}

/// A run just created (or asked to cancel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// The run id.
    pub id: String,
    /// Its status.
    pub status: RunStatus,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// The runs.
    pub items: Vec<RunRecord>,
    /// Pass as `cursor` for the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// An RFC 9457 problem document: every error response of the server is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:mentatlab:problem:<slug>` for MentatLab's own kinds of error.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What went wrong.
    pub title: String,
    /// The HTTP status.
    #[serde(default)]
    pub status: u16,
    /// For this request.
    #[serde(default)]
    pub detail: String,
    /// The path of the request that failed.
    #[serde(default)]
    pub instance: Option<String>,
    /// Other members (e.g. the validation `report` of an invalid flow).
    #[serde(flatten)]
    pub extra: JsonObject,
}
