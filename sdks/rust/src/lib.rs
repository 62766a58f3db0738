//! # mentatlab-sdk
//!
//! Write [MentatLab](https://github.com/mentatlab) agents in Rust. An agent is a process
//! speaking agent protocol v1 (`docs/protocol.md`): one JSON input envelope on stdin, one
//! JSON event per line on stdout, an exit status. This crate does the protocol for you:
//!
//! - [`Agent`]: declare input and output [`Pin`]s and a handler taking the [`Context`] and
//!   typed inputs (any [`serde::Deserialize`] type); [`Agent::run`] reads and checks the
//!   envelope, runs the handler, writes its outputs and exits with the right status.
//! - [`Context`]: `log`, `progress`, `output`, `metric`, `checkpoint`, `heartbeat` and
//!   automatic [`Heartbeats`]; `params`, the resume state of an earlier attempt, and the
//!   [`CancelToken`] set by SIGTERM/SIGINT.
//! - [`AgentError`]: fail with a code, retryable or not; any other error converts with `?`
//!   into `unexpected_error`, and a panic is reported the same way.
//! - [`Agent::invoke`]: run an attempt in memory, for unit tests.
//! - With the `client` feature, [`client`]: an async client of the HTTP API (create runs,
//!   read them, follow their events over Server-Sent Events with resume).
//!
//! ```no_run
//! use mentatlab_sdk::{Agent, AgentError, Context, Pin};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Inputs {
//!     text: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Outputs {
//!     result: String,
//! }
//!
//! fn main() {
//!     Agent::new(|ctx: &Context, inputs: Inputs| -> Result<Outputs, AgentError> {
//!         ctx.progress_with(50, "shouting");
//!         Ok(Outputs { result: inputs.text.to_uppercase() })
//!     })
//!     .input(Pin::string("text"))
//!     .output(Pin::string("result"))
//!     .run()
//! }
//! ```
//!
//! The default build depends on `serde` and `serde_json` (and, on Unix, `rustix` and
//! `signal-hook` for stdout capture and signals): agents are small processes.

mod agent;
mod cancel;
mod context;
mod envelope;
mod error;
mod event;
pub mod json;
mod pins;
#[cfg(unix)]
mod sys;
mod writer;

#[cfg(feature = "client")]
pub mod client;

pub use agent::{Agent, FnAgent, Invocation, InvokeResult, Status, DEFAULT_CANCEL_GRACE};
pub use cancel::{CancelToken, StopSignal};
pub use context::{Context, Heartbeats};
pub use envelope::{exit_code, parse_envelope, Envelope, EnvelopeError, RunInfo, PROTOCOL_V1};
pub use error::{codes, AgentError, DEFAULT_CODE};
pub use event::{Event, LogLevel, UnknownLogLevel};
pub use json::JsonObject;
pub use pins::{Pin, PinType};
/// The `serde_json` this crate uses ([`JsonObject`] is its `Map`), for `json!` and `Value`.
pub use serde_json;
