//! [`Agent`]: a handler with declared pins, runnable as the agent process or in memory.

use std::io::{self, IsTerminal, Read};
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::cancel::{CancelToken, StopSignal};
use crate::context::{Context, Heartbeats};
use crate::envelope::{exit_code, parse_envelope, RunInfo, PROTOCOL_V1};
use crate::error::{codes, AgentError};
use crate::event::{Event, LogLevel};
use crate::json::{json_kind, to_json, JsonObject};
use crate::pins::{bind_inputs, Pin};
use crate::writer::Writer;

/// How long a handler may go on after SIGTERM/SIGINT before the SDK reports the cancellation
/// anyway (MentatLab's kill grace is 5 s).
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(2);

/// An agent: its pins, its handler and how it runs. Call [`Agent::run`] from `main`.
///
/// The handler gets the [`Context`] and its inputs deserialized as `I` (any
/// [`DeserializeOwned`] type: your own struct, or [`JsonObject`] for every input as is),
/// and returns `Result<O, AgentError>`, `O` being the outputs: a [`Serialize`] struct or map
/// whose fields are output pins (written in field order), or `()` for none.
///
/// ```no_run
/// use mentatlab_sdk::{Agent, AgentError, Context, Pin};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Inputs {
///     text: String,
///     times: usize,
/// }
///
/// #[derive(Serialize)]
/// struct Outputs {
///     result: String,
/// }
///
/// fn shout(ctx: &Context, inputs: Inputs) -> Result<Outputs, AgentError> {
///     ctx.progress_with(50, "shouting");
///     Ok(Outputs { result: vec![inputs.text.to_uppercase(); inputs.times].join(" ") })
/// }
///
/// fn main() {
///     Agent::new(shout)
///         .input(Pin::string("text"))
///         .input(Pin::number("times").with_default(1))
///         .output(Pin::string("result"))
///         .run()
/// }
/// ```
pub struct Agent<F, I, O> {
    handler: F,
    inputs: Option<Vec<Pin>>,
    outputs: Option<Arc<[Pin]>>,
    heartbeat: Option<Duration>,
    cancel_grace: Duration,
    types: PhantomData<fn(I) -> O>,
}

impl<F, I, O> std::fmt::Debug for Agent<F, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("heartbeat", &self.heartbeat)
            .field("cancel_grace", &self.cancel_grace)
            .finish_non_exhaustive()
    }
}

/// An [`Agent`] whose handler is a plain function: a type to name, so that `main` and the
/// tests can share one definition.
///
/// ```
/// use mentatlab_sdk::{Agent, AgentError, Context, FnAgent, JsonObject};
///
/// fn handle(ctx: &Context, inputs: JsonObject) -> Result<JsonObject, AgentError> {
///     ctx.log(format!("{} inputs", inputs.len()));
///     Ok(inputs)
/// }
///
/// fn agent() -> FnAgent<JsonObject, JsonObject> {
///     Agent::new(handle as _)
/// }
/// ```
pub type FnAgent<I, O> = Agent<fn(&Context, I) -> Result<O, AgentError>, I, O>;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit status 0.
    Succeeded,
    /// An `error` event and exit status 1 or 2.
    Failed,
    /// Stopped by a signal (or a cancelled [`CancelToken`]): `cancelled` and 143 or 130.
    Cancelled,
}

/// One attempt for [`Agent::invoke`]: the envelope's fields, and a token to cancel it with.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    run: RunInfo,
    inputs: JsonObject,
    params: JsonObject,
    resume: Value,
    cancel: Option<CancelToken>,
}

impl Invocation {
    /// Run `run-test`, node `node-test`, attempt 1, no inputs, no params, no resume state.
    pub fn new() -> Self {
        Invocation::default()
    }

    /// An input value.
    #[must_use]
    pub fn input(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.inputs.insert(name.into(), value.into());
        self
    }

    /// A param.
    #[must_use]
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// The resume state (the last checkpoint of an earlier attempt).
    #[must_use]
    pub fn resume(mut self, state: impl Into<Value>) -> Self {
        self.resume = state.into();
        self
    }

    /// The run identity.
    #[must_use]
    pub fn run(mut self, run: RunInfo) -> Self {
        self.run = run;
        self
    }

    /// The attempt number.
    #[must_use]
    pub fn attempt(mut self, attempt: u64) -> Self {
        self.run.attempt = attempt;
        self
    }

    /// A token that stops the attempt, as SIGTERM would, when cancelled (the handler must
    /// notice: `invoke` waits for it).
    #[must_use]
    pub fn cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    fn envelope_bytes(&self) -> Vec<u8> {
        let envelope = serde_json::json!({
            "protocol": PROTOCOL_V1,
            "run": self.run,
            "inputs": self.inputs,
            "params": self.params,
            "resume": self.resume,
        });
        envelope.to_string().into_bytes()
    }
}

/// The outcome of [`Agent::invoke`].
#[derive(Debug, Clone)]
pub struct InvokeResult {
    /// How the attempt ended.
    pub status: Status,
    /// What the process would exit with.
    pub exit_code: i32,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Every event as the line written.
    pub lines: Vec<String>,
    /// The last value written to each pin (empty unless succeeded).
    pub outputs: JsonObject,
    /// The `error` event, when the attempt failed or was cancelled.
    pub error: Option<AgentError>,
    /// What would have gone to stderr (details of unexpected errors).
    pub stderr: String,
}

impl InvokeResult {
    /// The messages of the `log` events.
    pub fn log_messages(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Log { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl<F, I, O> Agent<F, I, O>
where
    F: Fn(&Context, I) -> Result<O, AgentError>,
    I: DeserializeOwned,
    O: Serialize,
{
    /// An agent running `handler`, with no declared pins (the handler gets every input; any
    /// output pin may be written) and no automatic heartbeat.
    pub fn new(handler: F) -> Self {
        Agent {
            handler,
            inputs: None,
            outputs: None,
            heartbeat: None,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            types: PhantomData,
        }
    }

    /// Declare an input pin. Once one is declared, a missing required input or a value of the
    /// wrong JSON type fails the attempt before the handler runs (`missing_input`,
    /// `invalid_input`, not retryable, every problem listed), defaults are filled in, and
    /// inputs no pin declares are left out with a `warning` log.
    #[must_use]
    pub fn input(mut self, pin: Pin) -> Self {
        self.inputs.get_or_insert_with(Vec::new).push(pin);
        self
    }

    /// Declare an output pin. Once one is declared, writing an undeclared pin or a value of
    /// the wrong type fails the attempt with `invalid_output`.
    #[must_use]
    pub fn output(mut self, pin: Pin) -> Self {
        let mut pins: Vec<Pin> = self.outputs.as_deref().map(<[Pin]>::to_vec).unwrap_or_default();
        pins.push(pin);
        self.outputs = Some(pins.into());
        self
    }

    /// Write a `heartbeat` event every `every` while the handler runs.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = Some(every);
        self
    }

    /// After SIGTERM/SIGINT, how long to let the handler go on (to clean up and return)
    /// before reporting the cancellation anyway; [`DEFAULT_CANCEL_GRACE`] by default.
    #[must_use]
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// The declared input pins, if any.
    pub fn input_pins(&self) -> Option<&[Pin]> {
        self.inputs.as_deref()
    }

    /// The declared output pins, if any.
    pub fn output_pins(&self) -> Option<&[Pin]> {
        self.outputs.as_deref()
    }

    fn check_declaration(&self) {
        let inputs = self.inputs.iter().flatten().map(|pin| pin.declaration_problem("input"));
        let outputs = self
            .outputs
            .iter()
            .flat_map(|pins| pins.iter())
            .map(|pin| pin.declaration_problem("output"));
        let problems: Vec<String> = inputs.chain(outputs).flatten().collect();
        assert!(
            problems.is_empty(),
            "invalid agent declaration: {}",
            problems.join("; ")
        );
        if let Some(every) = self.heartbeat {
            assert!(
                !every.is_zero(),
                "invalid agent declaration: the heartbeat interval must be positive"
            );
        }
    }

    /// Run one attempt as this process: the envelope on stdin, events on stdout, then exit
    /// 0 (succeeded), 1 (failed), 2 (invalid envelope) or 128 + the signal number (stopped:
    /// 143 for SIGTERM, 130 for SIGINT). Never returns.
    ///
    /// While it runs, what the process prints to stdout (`println!`, child processes) becomes
    /// `info` log events, and SIGTERM/SIGINT cancel the [`CancelToken`]: the handler has
    /// the cancel grace to return, then the SDK writes the `cancelled` error and exits.
    ///
    /// # Panics
    ///
    /// When the declaration is invalid (a pin default of the wrong type, an empty pin name, a
    /// zero heartbeat interval): a programming error, reported before stdin is read.
    pub fn run(&self) -> ! {
        self.check_declaration();
        let writer = process_writer();
        let token = CancelToken::new();
        watch_signals(&writer, &token, self.cancel_grace);
        let decided = match read_stdin() {
            Ok(bytes) => attempt(self, &bytes, &writer, &token),
            Err(error) => {
                let event = Event::Error {
                    code: codes::INVALID_ENVELOPE.to_owned(),
                    message: format!("stdin is not a JSON input envelope: it could not be read: {error}"),
                    retryable: false,
                };
                writer.conclude(Some(&event), exit_code::INVALID_ENVELOPE)
            }
        };
        match decided {
            Some(code) => std::process::exit(code),
            // The signal watchdog decided the outcome and is exiting the process.
            None => loop {
                std::thread::park();
            },
        }
    }

    /// Run one attempt in this process, events kept in memory: for unit tests. Prints and
    /// signals are not intercepted; a cancelled [`Invocation::cancel`] token stops it as
    /// SIGTERM would (but `invoke` waits for the handler to return).
    pub fn invoke(&self, invocation: Invocation) -> InvokeResult {
        let bytes = invocation.envelope_bytes();
        self.invoke_stdin(&bytes, invocation.cancel.unwrap_or_default())
    }

    /// [`Agent::invoke`] with `stdin` as the raw bytes of stdin (to test malformed envelopes).
    pub fn invoke_stdin(&self, stdin: &[u8], token: CancelToken) -> InvokeResult {
        self.check_declaration();
        let writer = Arc::new(Writer::memory());
        let exit_code = attempt(self, stdin, &writer, &token).unwrap_or(exit_code::FAILED);
        let (lines, stderr) = writer.take_memory();
        let events: Vec<Event> = lines
            .iter()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        let error = events.iter().rev().find_map(|event| match event {
            Event::Error {
                code,
                message,
                retryable,
            } => Some(
                AgentError::new(message.clone())
                    .with_code(code.clone())
                    .with_retryable(*retryable),
            ),
            _ => None,
        });
        let status = match (exit_code, &error) {
            (0, _) => Status::Succeeded,
            (code, Some(error)) if code > exit_code::SIGNAL_BASE && error.is_cancelled() => Status::Cancelled,
            _ => Status::Failed,
        };
        let mut outputs = JsonObject::new();
        if status == Status::Succeeded {
            for event in &events {
                if let Event::Output { pin, value } = event {
                    outputs.insert(pin.clone(), value.clone());
                }
            }
        }
        InvokeResult {
            status,
            exit_code,
            events,
            lines,
            outputs,
            error,
            stderr,
        }
    }
}

/// One attempt; returns the exit status if this call decided the outcome.
fn attempt<F, I, O>(agent: &Agent<F, I, O>, stdin: &[u8], writer: &Arc<Writer>, token: &CancelToken) -> Option<i32>
where
    F: Fn(&Context, I) -> Result<O, AgentError>,
    I: DeserializeOwned,
    O: Serialize,
{
    let envelope = match parse_envelope(stdin) {
        Ok(envelope) => envelope,
        Err(error) => {
            let event = Event::Error {
                code: codes::INVALID_ENVELOPE.to_owned(),
                message: error.message().to_owned(),
                retryable: false,
            };
            return writer.conclude(Some(&event), exit_code::INVALID_ENVELOPE);
        }
    };
    if let Some(signal) = token.signal() {
        return cancelled(writer, signal);
    }
    let ctx = Context::new(Arc::clone(writer), envelope, token.clone(), agent.outputs.clone());
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), AgentError> {
        let inputs: I = prepare_inputs(agent.inputs.as_deref(), &ctx)?;
        let result = {
            let _beats = agent
                .heartbeat
                .map(|every| Heartbeats::start(Arc::clone(writer), token.clone(), every));
            let _running = Running::new(writer);
            (agent.handler)(&ctx, inputs)
        };
        if token.is_cancelled() {
            return Ok(()); // cancelled whatever the handler did after the stop
        }
        write_outputs(&ctx, &result?)?;
        ctx.take_failure().map_or(Ok(()), Err)
    }));
    // Once asked to stop, the attempt is cancelled whatever the handler did after.
    if let Some(signal) = token.signal() {
        return cancelled(writer, signal);
    }
    match outcome {
        Ok(Ok(())) => writer.conclude(None, exit_code::SUCCEEDED),
        Ok(Err(error)) => failed(writer, &error),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            // The panic hook has printed the message and location to stderr already.
            failed(writer, &AgentError::unexpected(format!("panic: {text}")))
        }
    }
}

/// Marks the handler as running while it lives (however the handler ends).
struct Running<'a>(&'a Writer);

impl<'a> Running<'a> {
    fn new(writer: &'a Writer) -> Self {
        writer.set_running(true);
        Running(writer)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set_running(false);
    }
}

fn prepare_inputs<I: DeserializeOwned>(pins: Option<&[Pin]>, ctx: &Context) -> Result<I, AgentError> {
    let values = match pins {
        None => ctx.inputs().clone(),
        Some(pins) => {
            let bound = bind_inputs(pins, ctx.inputs());
            if !bound.extra.is_empty() {
                ctx.log_at(
                    LogLevel::Warning,
                    format!("ignoring inputs that no pin declares: {}", bound.extra.join(", ")),
                );
            }
            if !bound.missing.is_empty() || !bound.wrong.is_empty() {
                let code = if bound.missing.is_empty() {
                    codes::INVALID_INPUT
                } else {
                    codes::MISSING_INPUT
                };
                // Same inputs, same failure: retrying cannot help.
                let problems: Vec<String> = bound.missing.into_iter().chain(bound.wrong).collect();
                return Err(AgentError::fatal(problems.join("; ")).with_code(code));
            }
            bound.values
        }
    };
    I::deserialize(Value::Object(values)).map_err(|error| {
        AgentError::fatal(format!("the inputs do not fit the handler's type: {error}")).with_code(codes::INVALID_INPUT)
    })
}

fn write_outputs<O: Serialize>(ctx: &Context, result: &O) -> Result<(), AgentError> {
    let value = to_json(result)
        .map_err(|error| AgentError::fatal(error.describe("the handler's outputs")).with_code(codes::INVALID_OUTPUT))?;
    match value {
        Value::Null => Ok(()),
        Value::Object(outputs) => {
            for (pin, value) in outputs {
                ctx.output_value(&pin, value)?;
            }
            Ok(())
        }
        other => Err(AgentError::fatal(format!(
            "the handler returned {} {other}; return a struct or map of output pins, or ()",
            json_kind(&other)
        ))
        .with_code(codes::INVALID_OUTPUT)),
    }
}

fn cancelled(writer: &Writer, signal: StopSignal) -> Option<i32> {
    // Retryable: a stop may come from a timeout, and the retry policy decides about those.
    let error = AgentError::cancelled(signal);
    let event = Event::Error {
        code: error.code().to_owned(),
        message: error.message().to_owned(),
        retryable: true,
    };
    writer.conclude(Some(&event), signal.exit_code())
}

fn failed(writer: &Writer, error: &AgentError) -> Option<i32> {
    if let Some(details) = error.details() {
        writer.diagnostic(details);
    }
    let event = Event::Error {
        code: error.code().to_owned(),
        message: error.message().to_owned(),
        retryable: error.retryable(),
    };
    writer.conclude(Some(&event), exit_code::FAILED)
}

fn read_stdin() -> io::Result<Vec<u8>> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        eprintln!("waiting for the input envelope (JSON) on stdin, then EOF");
    }
    let mut bytes = Vec::new();
    stdin.lock().read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The event writer of the agent process: on Unix, with stdout captured.
fn process_writer() -> Arc<Writer> {
    #[cfg(unix)]
    match crate::sys::capture_stdout() {
        Ok((events, capture)) => {
            let reader = capture.reader();
            let writer = Arc::new(Writer::capturing(Box::new(events), capture));
            if let Err(error) = crate::sys::spawn_pump(Arc::clone(&writer), reader) {
                eprintln!("mentatlab-sdk: printed lines are read only between events ({error})");
            }
            return writer;
        }
        Err(error) => eprintln!("mentatlab-sdk: stdout is not captured ({error}); prints may corrupt the event stream"),
    }
    Arc::new(Writer::stream(Box::new(io::stdout())))
}

/// On the first SIGTERM/SIGINT: cancel the token, give the handler `grace` to return, then
/// report the cancellation and exit (unless the attempt's outcome was decided meanwhile).
fn watch_signals(writer: &Arc<Writer>, token: &CancelToken, grace: Duration) {
    #[cfg(unix)]
    {
        let writer = Arc::clone(writer);
        let token = token.clone();
        let watched = crate::sys::watch_signals(move |signal| {
            token.cancel(signal);
            // A running handler gets the grace to clean up and return; otherwise (reading
            // stdin, writing outputs) the stop is reported at once.
            let deadline = std::time::Instant::now() + grace;
            while writer.running() && !writer.concluded() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Some(code) = cancelled(&writer, signal) {
                std::process::exit(code);
            }
        });
        if let Err(error) = watched {
            eprintln!("mentatlab-sdk: SIGTERM/SIGINT are not handled ({error})");
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (writer, token, grace);
    }
}
