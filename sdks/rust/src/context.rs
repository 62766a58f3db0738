//! The [`Context`] a handler receives: run identity, params, resume state, event helpers.

use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::cancel::CancelToken;
use crate::envelope::{Envelope, RunInfo};
use crate::error::{codes, AgentError};
use crate::event::{Event, LogLevel};
use crate::json::{to_json, JsonObject};
use crate::pins::Pin;
use crate::writer::Writer;

/// What a handler knows about its attempt, and how it reports what it does. Every helper
/// writes one protocol event at once (flushed); all of them may be called from any thread
/// (`Context` is `Sync`: share it with scoped threads).
pub struct Context {
    writer: Arc<Writer>,
    run: RunInfo,
    inputs: JsonObject,
    params: JsonObject,
    resume: Value,
    token: CancelToken,
    outputs: Option<Arc<[Pin]>>,
    failure: Mutex<Option<AgentError>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("run", &self.run)
            .field("params", &self.params)
            .field("resume", &self.resume)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(
        writer: Arc<Writer>,
        envelope: Envelope,
        token: CancelToken,
        outputs: Option<Arc<[Pin]>>,
    ) -> Self {
        Context {
            writer,
            run: envelope.run,
            inputs: envelope.inputs,
            params: envelope.params,
            resume: envelope.resume,
            token,
            outputs,
            failure: Mutex::new(None),
        }
    }

    /// The run this attempt belongs to.
    pub fn run_id(&self) -> &str {
        &self.run.id
    }

    /// The flow node being executed.
    pub fn node_id(&self) -> &str {
        &self.run.node
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u64 {
        self.run.attempt
    }

    /// Run id, node id and attempt together.
    pub fn run(&self) -> &RunInfo {
        &self.run
    }

    /// Every input value as received (the handler's typed inputs are built from these).
    pub fn inputs(&self) -> &JsonObject {
        &self.inputs
    }

    /// The node's params from the flow.
    pub fn params(&self) -> &JsonObject {
        &self.params
    }

    /// `params[name]` as a `T`, or `None` when absent. A value that does not deserialize as
    /// `T` fails with `invalid_param`, not retryable (the same params would fail again).
    pub fn param<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AgentError> {
        let Some(value) = self.params.get(name) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|error| AgentError::fatal(format!("param '{name}': {error}")).with_code(codes::INVALID_PARAM))
    }

    /// `params[name]` as a `T`, or `default` when absent; see [`Context::param`].
    pub fn param_or<T: DeserializeOwned>(&self, name: &str, default: T) -> Result<T, AgentError> {
        Ok(self.param(name)?.unwrap_or(default))
    }

    /// The `state` of the last checkpoint of an earlier attempt of this node, or `null`.
    pub fn resume(&self) -> &Value {
        &self.resume
    }

    /// The resume state as a `T`, or `None` when there is none. An error (a state written by
    /// another version of the agent) fails with `unexpected_error` when returned with `?`.
    pub fn resume_as<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        if self.resume.is_null() {
            return Ok(None);
        }
        T::deserialize(&self.resume).map(Some)
    }

    /// Whether the agent has been asked to stop (SIGTERM/SIGINT).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The cancellation token: poll it, wait on it, hand clones to worker threads.
    pub fn cancel_token(&self) -> &CancelToken {
        &self.token
    }

    /// `Err(cancelled)` once the agent has been asked to stop: `ctx.check_cancelled()?` in a
    /// loop ends the handler promptly.
    pub fn check_cancelled(&self) -> Result<(), AgentError> {
        match self.token.signal() {
            Some(signal) => Err(AgentError::cancelled(signal)),
            None => Ok(()),
        }
    }

    /// Sleep for `duration`, or less if the agent is asked to stop (then `Err(cancelled)`).
    pub fn sleep(&self, duration: Duration) -> Result<(), AgentError> {
        match self.token.wait_timeout(duration) {
            Some(signal) => Err(AgentError::cancelled(signal)),
            None => Ok(()),
        }
    }

    /// A `log` event at `info`.
    pub fn log(&self, message: impl Into<String>) {
        self.log_at(LogLevel::Info, message);
    }

    /// A `log` event at `level`.
    pub fn log_at(&self, level: LogLevel, message: impl Into<String>) {
        self.writer.emit(&Event::Log {
            level,
            message: message.into(),
        });
    }

    /// A `progress` event without a message.
    ///
    /// # Panics
    ///
    /// When `percent` is not a number from 0 to 100 (a programming error: the attempt fails
    /// with `unexpected_error`).
    pub fn progress(&self, percent: impl Into<f64>) {
        self.emit_progress(percent.into(), None);
    }

    /// A `progress` event with a message.
    ///
    /// # Panics
    ///
    /// As [`Context::progress`].
    pub fn progress_with(&self, percent: impl Into<f64>, message: impl Into<String>) {
        self.emit_progress(percent.into(), Some(message.into()));
    }

    fn emit_progress(&self, percent: f64, message: Option<String>) {
        assert!(
            (0.0..=100.0).contains(&percent),
            "progress percent must be between 0 and 100, got {percent}"
        );
        self.writer.emit(&Event::Progress { percent, message });
    }

    /// A `metric` event, e.g. `ctx.metric("latency", 0.25)`.
    ///
    /// # Panics
    ///
    /// When `name` is empty or `value` is not finite (a programming error).
    pub fn metric(&self, name: impl Into<String>, value: impl Into<f64>) {
        self.emit_metric(name.into(), value.into(), None);
    }

    /// A `metric` event with a unit, e.g. `ctx.metric_with_unit("tokens", 812, "tokens")`.
    ///
    /// # Panics
    ///
    /// As [`Context::metric`].
    pub fn metric_with_unit(&self, name: impl Into<String>, value: impl Into<f64>, unit: impl Into<String>) {
        self.emit_metric(name.into(), value.into(), Some(unit.into()));
    }

    fn emit_metric(&self, name: String, value: f64, unit: Option<String>) {
        assert!(!name.is_empty(), "metric name must be a non-empty string");
        assert!(value.is_finite(), "metric value must be a finite number, got {value}");
        self.writer.emit(&Event::Metric { name, value, unit });
    }

    /// An `output` event: `value` on pin `pin` (the last value written to a pin wins).
    ///
    /// Fails with `invalid_output` (not retryable) for an empty or undeclared pin (when the
    /// agent declares outputs), a value of the wrong declared type, or a value that is not
    /// JSON (`f64::NAN`, a map with non-string keys). Such a failure fails the attempt even
    /// if the handler ignores the returned error.
    pub fn output<T: Serialize + ?Sized>(&self, pin: &str, value: &T) -> Result<(), AgentError> {
        let value = to_json(value).map_err(|e| self.fail_output(e.describe(&format!("output '{pin}'"))))?;
        self.output_value(pin, value)
    }

    pub(crate) fn output_value(&self, pin: &str, value: Value) -> Result<(), AgentError> {
        if pin.is_empty() {
            return Err(self.fail_output("output pin names must be non-empty strings".to_owned()));
        }
        if let Some(pins) = &self.outputs {
            let Some(declared) = pins.iter().find(|declared| declared.name() == pin) else {
                let names: Vec<&str> = pins.iter().map(Pin::name).collect();
                return Err(self.fail_output(format!(
                    "unknown output pin '{pin}'; declared outputs: {}",
                    names.join(", ")
                )));
            };
            if let Some(problem) = declared.pin_type().problem(&value) {
                return Err(self.fail_output(format!("output '{pin}' {problem}")));
            }
        }
        self.writer.emit(&Event::Output {
            pin: pin.to_owned(),
            value,
        });
        Ok(())
    }

    fn fail_output(&self, message: String) -> AgentError {
        let error = AgentError::fatal(message).with_code(codes::INVALID_OUTPUT);
        let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert_with(|| error.clone());
        error
    }

    /// The first output failure, which fails the attempt whatever the handler returns.
    pub(crate) fn take_failure(&self) -> Option<AgentError> {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// A `checkpoint` event: a retry of this node receives `state` as [`Context::resume`].
    /// A state that is not JSON fails with `unexpected_error`.
    pub fn checkpoint<T: Serialize + ?Sized>(&self, state: &T) -> Result<(), AgentError> {
        let state = to_json(state).map_err(|e| AgentError::unexpected(e.describe("checkpoint state")))?;
        self.writer.emit(&Event::Checkpoint { state });
        Ok(())
    }

    /// One `heartbeat` event: "still alive", for agents with a heartbeat timeout.
    pub fn heartbeat(&self) {
        self.writer.emit(&Event::Heartbeat);
    }

    /// Heartbeats every `every` from a background thread until the returned guard is dropped
    /// (or the agent is asked to stop). No heartbeat is written after the guard is dropped.
    ///
    /// # Panics
    ///
    /// When `every` is zero.
    pub fn heartbeats(&self, every: Duration) -> Heartbeats {
        Heartbeats::start(Arc::clone(&self.writer), self.token.clone(), every)
    }

    /// Run `work` with heartbeats every `every`, stopping them however it ends.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn train() {}
    /// # fn handler(ctx: &mentatlab_sdk::Context) {
    /// let model = ctx.with_heartbeats(Duration::from_secs(10), || train());
    /// # }
    /// ```
    pub fn with_heartbeats<R>(&self, every: Duration, work: impl FnOnce() -> R) -> R {
        let _beats = self.heartbeats(every);
        work()
    }
}

/// Automatic heartbeats; they stop when this is dropped (see [`Context::heartbeats`]).
#[derive(Debug)]
#[must_use = "heartbeats stop when this guard is dropped"]
pub struct Heartbeats {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Heartbeats {
    pub(crate) fn start(writer: Arc<Writer>, token: CancelToken, every: Duration) -> Self {
        assert!(!every.is_zero(), "the heartbeat interval must be positive");
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("mentatlab-heartbeat".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if token.is_cancelled() {
                        return;
                    }
                    writer.emit(&Event::Heartbeat);
                }
            })
            .ok();
        Heartbeats {
            stop: Some(stop),
            thread,
        }
    }

    /// Stop the heartbeats now (the same as dropping the guard).
    pub fn stop(self) {}
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
