//! The events an agent writes to stdout (docs/protocol.md, section 3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::serialize_number;

/// The level of a `log` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`, the default.
    #[default]
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
}

impl LogLevel {
    /// Every level, from the least severe.
    pub const ALL: [LogLevel; 4] = [LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error];

    /// The level's name on the wire: `debug`, `info`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a log level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogLevel(pub String);

impl fmt::Display for UnknownLogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown log level {:?}: expected debug, info, warning or error",
            self.0
        )
    }
}

impl std::error::Error for UnknownLogLevel {}

impl FromStr for LogLevel {
    type Err = UnknownLogLevel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == text)
            .ok_or_else(|| UnknownLogLevel(text.to_owned()))
    }
}

fn default_code() -> String {
    crate::error::DEFAULT_CODE.to_owned()
}

fn default_true() -> bool {
    true
}

/// One protocol v1 event. Serialized, it is the event's line (with [`crate::json::encode_line`]);
/// deserializing fills in the schema defaults (`level` info, `code` agent_error, `retryable`
/// true).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A value for an output pin; the last value written to a pin wins.
    Output {
        /// The pin's name (non-empty).
        pin: String,
        /// Any JSON value, `null` included.
        value: Value,
    },
    /// A log line.
    Log {
        /// The level (`info` when absent on the wire).
        #[serde(default)]
        level: LogLevel,
        /// The message.
        message: String,
    },
    /// How far the agent has got.
    Progress {
        /// 0 to 100.
        #[serde(serialize_with = "serialize_number")]
        percent: f64,
        /// What it is doing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Proof of life.
    Heartbeat,
    /// A measurement.
    Metric {
        /// Its name (non-empty).
        name: String,
        /// Its value (finite).
        #[serde(serialize_with = "serialize_number")]
        value: f64,
        /// Its unit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
    },
    /// State a retry can resume from.
    Checkpoint {
        /// Any JSON value.
        state: Value,
    },
    /// The agent failed.
    Error {
        /// Machine-readable code (`agent_error` when absent on the wire).
        #[serde(default = "default_code")]
        code: String,
        /// What went wrong.
        message: String,
        /// Whether a retry may succeed (`true` when absent on the wire).
        #[serde(default = "default_true")]
        retryable: bool,
    },
}

impl Event {
    /// The event's `type`: `output`, `log`, `progress`, `heartbeat`, `metric`, `checkpoint` or
    /// `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Output { .. } => "output",
            Event::Log { .. } => "log",
            Event::Progress { .. } => "progress",
            Event::Heartbeat => "heartbeat",
            Event::Metric { .. } => "metric",
            Event::Checkpoint { .. } => "checkpoint",
            Event::Error { .. } => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::encode_line;
    use serde_json::json;

    #[test]
    fn lines_are_compact_with_integral_numbers() {
        let progress = Event::Progress {
            percent: 50.0,
            message: None,
        };
        assert_eq!(encode_line(&progress).unwrap(), r#"{"type":"progress","percent":50}"#);
        let metric = Event::Metric {
            name: "t".into(),
            value: 0.25,
            unit: Some("s".into()),
        };
        assert_eq!(
            encode_line(&metric).unwrap(),
            r#"{"type":"metric","name":"t","value":0.25,"unit":"s"}"#
        );
        assert_eq!(encode_line(&Event::Heartbeat).unwrap(), r#"{"type":"heartbeat"}"#);
        let log = Event::Log {
            level: LogLevel::Info,
            message: "hi".into(),
        };
        assert_eq!(
            encode_line(&log).unwrap(),
            r#"{"type":"log","level":"info","message":"hi"}"#
        );
    }

    #[test]
    fn parsing_fills_in_defaults() {
        let event: Event = serde_json::from_value(json!({"type": "error", "message": "x"})).unwrap();
        assert_eq!(
            event,
            Event::Error {
                code: "agent_error".into(),
                message: "x".into(),
                retryable: true
            }
        );
        let event: Event = serde_json::from_value(json!({"type": "log", "message": "m"})).unwrap();
        assert_eq!(
            event,
            Event::Log {
                level: LogLevel::Info,
                message: "m".into()
            }
        );
        assert_eq!(event.kind(), "log");
    }

    #[test]
    fn log_levels_parse() {
        assert_eq!("warning".parse::<LogLevel>(), Ok(LogLevel::Warning));
        assert!("loud".parse::<LogLevel>().is_err());
    }
}
