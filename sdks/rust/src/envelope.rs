//! The input envelope on stdin (docs/protocol.md, section 2) and its strict parser.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::{describe_value, JsonObject};

/// The protocol identifier of v1.
pub const PROTOCOL_V1: &str = "mentatlab.agent/v1";

/// Exit statuses of an SDK agent (docs/protocol.md, section 4).
pub mod exit_code {
    /// Succeeded.
    pub const SUCCEEDED: i32 = 0;
    /// Failed: the handler returned an error or panicked, or its inputs or outputs were invalid.
    pub const FAILED: i32 = 1;
    /// Stdin held no valid input envelope.
    pub const INVALID_ENVELOPE: i32 = 2;
    /// Stopped by a signal: 128 + its number (143 for SIGTERM, 130 for SIGINT).
    pub const SIGNAL_BASE: i32 = 128;
}

/// Which run, node and attempt this process is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run id.
    pub id: String,
    /// The node id within the flow.
    pub node: String,
    /// 1, then 2 for the first retry, and so on.
    pub attempt: u64,
}

impl Default for RunInfo {
    /// `run-test`, `node-test`, attempt 1: for tests.
    fn default() -> Self {
        RunInfo {
            id: "run-test".to_owned(),
            node: "node-test".to_owned(),
            attempt: 1,
        }
    }
}

/// The one JSON object an agent reads from stdin, with the defaults of missing fields applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    /// Always [`PROTOCOL_V1`].
    pub protocol: String,
    /// Run identity.
    pub run: RunInfo,
    /// Input pin name → value (`{}` when absent).
    pub inputs: JsonObject,
    /// The node's params (`{}` when absent).
    pub params: JsonObject,
    /// The state of the last checkpoint of an earlier attempt, or `null`.
    pub resume: Value,
}

/// Stdin held no valid input envelope: the agent reports `invalid_envelope` and exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    message: String,
}

impl EnvelopeError {
    /// What is wrong, every problem listed (`invalid input envelope: run.attempt: …`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EnvelopeError {}

fn not_envelope(why: impl fmt::Display) -> EnvelopeError {
    EnvelopeError {
        message: format!("stdin is not a JSON input envelope: {why}"),
    }
}

/// An integer ≥ 1, as JSON Schema counts integers: `2.0` is 2, `"2"` and `1.5` are not.
fn attempt_number(value: &Value) -> Option<u64> {
    let number = value.as_number()?;
    if let Some(n) = number.as_u64() {
        return (n >= 1).then_some(n);
    }
    let float = number.as_f64()?;
    if float >= 1.0 && float.fract() == 0.0 && float <= u64::MAX as f64 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return Some(float as u64);
    }
    None
}

/// Parse stdin's bytes as a protocol v1 envelope: UTF-8, exactly one JSON value (no `NaN`,
/// no trailing data), checked against `schemas/protocol/input.v1.schema.json`. The error
/// lists every problem.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| not_envelope("it is not valid UTF-8"))?;
    let data: Value = serde_json::from_str(text).map_err(not_envelope)?;
    let Value::Object(mut data) = data else {
        return Err(EnvelopeError {
            message: format!(
                "invalid input envelope: envelope: must be an object, got {}",
                describe_value(&data)
            ),
        });
    };
    let mut problems = Vec::new();
    if let Some(protocol) = data.get("protocol") {
        if protocol.as_str() != Some(PROTOCOL_V1) {
            problems.push(format!(
                "protocol: must be '{PROTOCOL_V1}', got {}",
                describe_value(protocol)
            ));
        }
    }
    let mut run_info = None;
    match data.get("run") {
        None => problems.push("run: required".to_owned()),
        Some(Value::Object(run)) => {
            let mut text_field = |key: &str| match run.get(key) {
                None => {
                    problems.push(format!("run.{key}: required"));
                    None
                }
                Some(Value::String(text)) => Some(text.clone()),
                Some(other) => {
                    problems.push(format!("run.{key}: must be a string, got {}", describe_value(other)));
                    None
                }
            };
            let id = text_field("id");
            let node = text_field("node");
            let attempt = match run.get("attempt") {
                None => {
                    problems.push("run.attempt: required".to_owned());
                    None
                }
                Some(value) => {
                    let attempt = attempt_number(value);
                    if attempt.is_none() {
                        problems.push(format!(
                            "run.attempt: must be an integer >= 1, got {}",
                            describe_value(value)
                        ));
                    }
                    attempt
                }
            };
            if let (Some(id), Some(node), Some(attempt)) = (id, node, attempt) {
                run_info = Some(RunInfo { id, node, attempt });
            }
        }
        Some(other) => problems.push(format!("run: must be an object, got {}", describe_value(other))),
    }
    for key in ["inputs", "params"] {
        if let Some(value) = data.get(key) {
            if !value.is_object() {
                problems.push(format!("{key}: must be an object, got {}", describe_value(value)));
            }
        }
    }
    let run = match run_info {
        Some(run) if problems.is_empty() => run,
        _ => {
            return Err(EnvelopeError {
                message: format!("invalid input envelope: {}", problems.join("; ")),
            })
        }
    };
    let mut object = |key: &str| match data.remove(key) {
        Some(Value::Object(map)) => map,
        _ => JsonObject::new(),
    };
    let inputs = object("inputs");
    let params = object("params");
    Ok(Envelope {
        protocol: PROTOCOL_V1.to_owned(),
        run,
        inputs,
        params,
        resume: data.remove("resume").unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(bytes: &[u8]) -> String {
        parse_envelope(bytes).unwrap_err().message().to_owned()
    }

    #[test]
    fn a_full_envelope() {
        let text = r#"{"protocol":"mentatlab.agent/v1","run":{"id":"r","node":"n","attempt":2,"extra":1},"inputs":{"b":1,"a":2},"params":{"p":true},"resume":{"next":3},"later":"ignored"}"#;
        let envelope = parse_envelope(text.as_bytes()).unwrap();
        assert_eq!(
            envelope.run,
            RunInfo {
                id: "r".into(),
                node: "n".into(),
                attempt: 2
            }
        );
        assert_eq!(envelope.inputs.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(envelope.params, json!({"p": true}).as_object().unwrap().clone());
        assert_eq!(envelope.resume, json!({"next": 3}));
    }

    #[test]
    fn defaults_of_missing_fields() {
        let envelope = parse_envelope(b"  {\"run\": {\"id\": \"r\", \"node\": \"n\", \"attempt\": 1.0}}\n\n").unwrap();
        assert_eq!(envelope.run.attempt, 1);
        assert!(envelope.inputs.is_empty() && envelope.params.is_empty());
        assert_eq!(envelope.resume, Value::Null);
    }

    #[test]
    fn not_json() {
        assert!(error(b"").starts_with("stdin is not a JSON input envelope: EOF"));
        assert!(error(b"{\"run\": NaN}").starts_with("stdin is not a JSON input envelope"));
        assert!(error(b"{} {}").contains("trailing characters"));
        assert_eq!(
            error(b"{\"a\": \"\xff\"}"),
            "stdin is not a JSON input envelope: it is not valid UTF-8"
        );
        assert!(error("\u{feff}{}".as_bytes()).starts_with("stdin is not a JSON input envelope"));
    }

    #[test]
    fn every_problem_is_listed() {
        assert_eq!(
            error(b"[1]"),
            "invalid input envelope: envelope: must be an object, got array [1]"
        );
        assert_eq!(error(b"{}"), "invalid input envelope: run: required");
        let message =
            error(br#"{"protocol":"mentatlab.agent/v2","run":{"id":1,"attempt":0},"inputs":[],"params":null}"#);
        assert_eq!(
            message,
            "invalid input envelope: protocol: must be 'mentatlab.agent/v1', got string \"mentatlab.agent/v2\"; \
             run.id: must be a string, got number 1; run.node: required; \
             run.attempt: must be an integer >= 1, got number 0; inputs: must be an object, got array []; \
             params: must be an object, got null"
        );
        for attempt in ["\"1\"", "1.5", "-1", "true"] {
            let text = format!(r#"{{"run":{{"id":"r","node":"n","attempt":{attempt}}}}}"#);
            assert!(
                error(text.as_bytes()).contains("run.attempt: must be an integer >= 1"),
                "{attempt}"
            );
        }
    }
}
