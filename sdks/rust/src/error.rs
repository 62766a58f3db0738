//! [`AgentError`]: how a handler fails its attempt with a structured `error` event.

use std::fmt;

use crate::cancel::StopSignal;

/// The code of an [`AgentError`] made without one.
pub const DEFAULT_CODE: &str = "agent_error";

/// Codes the SDK itself uses (docs/protocol.md, section 7). An agent should not give them
/// another meaning.
pub mod codes {
    /// The default code of an agent's error.
    pub const AGENT_ERROR: &str = "agent_error";
    /// The handler failed with something other than an [`AgentError`](super::AgentError)
    /// (another error type converted by `?`, or a panic).
    pub const UNEXPECTED_ERROR: &str = "unexpected_error";
    /// Stopped by SIGTERM/SIGINT.
    pub const CANCELLED: &str = "cancelled";
    /// Stdin held no valid input envelope (exit status 2).
    pub const INVALID_ENVELOPE: &str = "invalid_envelope";
    /// A required input pin was not given.
    pub const MISSING_INPUT: &str = "missing_input";
    /// An input value does not have its declared pin's JSON type (or the handler's type).
    pub const INVALID_INPUT: &str = "invalid_input";
    /// A param does not have the type the agent asked for.
    pub const INVALID_PARAM: &str = "invalid_param";
    /// An undeclared output pin, a value of the wrong declared type, or a value that is not JSON.
    pub const INVALID_OUTPUT: &str = "invalid_output";
}

/// An error that fails the attempt with an `error` event carrying its code, message and
/// retryability (exit status 1).
///
/// Return it from a handler (`Err(AgentError::new("…"))`, or `?`). The engine retries the
/// node, when its manifest allows retries, unless the error is not retryable.
///
/// Any other error type converts into an `AgentError` with `?`: code `unexpected_error`,
/// retryable, the message naming the type (`std::io::error::Error: No such file or
/// directory`), as the other SDKs report an unexpected exception. That blanket conversion is
/// why `AgentError` does not itself implement [`std::error::Error`] (as `anyhow::Error` does
/// not).
///
/// ```
/// use mentatlab_sdk::AgentError;
///
/// let busy = AgentError::new("the provider said 429").with_code("rate_limited");
/// assert!(busy.retryable());
/// let bad = AgentError::fatal("no such model").with_code("bad_config");
/// assert!(!bad.retryable());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AgentError {
    code: String,
    message: String,
    retryable: bool,
    details: Option<String>,
}

impl AgentError {
    /// A retryable error with code `agent_error`.
    pub fn new(message: impl Into<String>) -> Self {
        AgentError {
            code: DEFAULT_CODE.to_owned(),
            message: message.into(),
            retryable: true,
            details: None,
        }
    }

    /// A non-retryable error with code `agent_error` (bad input, bad configuration: retrying
    /// cannot help).
    pub fn fatal(message: impl Into<String>) -> Self {
        AgentError::new(message).with_retryable(false)
    }

    /// An unexpected failure: code `unexpected_error`, retryable.
    pub fn unexpected(message: impl Into<String>) -> Self {
        AgentError::new(message).with_code(codes::UNEXPECTED_ERROR)
    }

    /// The error the SDK reports when the agent was stopped by `signal`: code `cancelled`,
    /// message `stopped by SIGTERM`, retryable. Returning it (or anything else) after a stop
    /// ends the attempt as cancelled.
    pub fn cancelled(signal: StopSignal) -> Self {
        AgentError::new(format!("stopped by {}", signal.name())).with_code(codes::CANCELLED)
    }

    /// The same error with another code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = code.into();
        self
    }

    /// The same error, retryable or not.
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The same error with details written to stderr (not to the event) when it fails the
    /// attempt: a source chain, a backtrace.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// The machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether a retry may succeed.
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    /// Details for stderr, if any.
    pub fn details(&self) -> Option<&str> {
        self.details.as_deref()
    }

    /// Whether this is the SDK's cancellation error (code `cancelled`).
    pub fn is_cancelled(&self) -> bool {
        self.code == codes::CANCELLED
    }
}

impl fmt::Debug for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("retryable", &self.retryable)
            .finish()
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.code)?;
        f.write_str(if self.retryable {
            ", retryable)"
        } else {
            ", not retryable)"
        })
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for AgentError {
    /// An unexpected error: code `unexpected_error`, retryable, message `TYPE: DISPLAY`; the
    /// error's source chain goes to stderr.
    fn from(error: E) -> Self {
        let mut details = format!("{error:?}");
        let mut source = error.source();
        while let Some(cause) = source {
            details.push_str(&format!("\ncaused by: {cause}"));
            source = cause.source();
        }
        AgentError::unexpected(format!("{}: {error}", std::any::type_name::<E>())).with_details(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Result<(), AgentError> {
        std::fs::read("/nonexistent/mentatlab")?;
        Ok(())
    }

    #[test]
    fn other_errors_are_unexpected_and_named() {
        let error = open().unwrap_err();
        assert_eq!(error.code(), "unexpected_error");
        assert!(error.retryable());
        assert!(
            error.message().starts_with("std::io::error::Error: "),
            "{}",
            error.message()
        );
        assert!(error.details().is_some());
    }

    #[test]
    fn builders() {
        let error = AgentError::new("m");
        assert_eq!((error.code(), error.retryable()), ("agent_error", true));
        let error = AgentError::fatal("m").with_code("x");
        assert_eq!((error.code(), error.retryable()), ("x", false));
        let error = AgentError::new("m").with_retryable(false);
        assert_eq!(error.to_string(), "m (agent_error, not retryable)");
        let cancelled = AgentError::cancelled(StopSignal::Interrupt);
        assert_eq!(cancelled.message(), "stopped by SIGINT");
        assert!(cancelled.is_cancelled() && cancelled.retryable());
    }
}
