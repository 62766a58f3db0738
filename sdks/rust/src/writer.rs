//! Writing events: one compact JSON object per line, in order, flushed at once; nothing after
//! the attempt's outcome.
//!
//! As a process, the agent's real stdout is kept for events (a duplicate of file descriptor
//! 1), and file descriptor 1 becomes a pipe read by the SDK: what the handler (or a child
//! process) prints with `println!` turns into `info` log events, one per line, in order with
//! the events written through the [`Context`](crate::Context).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::event::{Event, LogLevel};
use crate::json::encode_line;

/// Where event lines go.
pub(crate) enum Sink {
    /// The process's real stdout.
    Stream { out: Box<dyn Write + Send>, broken: bool },
    /// Memory, for [`Agent::invoke`](crate::Agent::invoke).
    Memory { lines: Vec<String>, stderr: String },
}

struct State {
    sink: Sink,
    /// The exit status decided; nothing is written after it.
    outcome: Option<i32>,
    #[cfg(unix)]
    capture: Option<crate::sys::Capture>,
}

pub(crate) struct Writer {
    state: Mutex<State>,
    /// Whether prints are captured (so concluding first flushes Rust's stdout buffer).
    capturing: bool,
    /// Whether the handler is running (a stop then gives it the cancel grace).
    running: AtomicBool,
}

impl Writer {
    pub(crate) fn memory() -> Self {
        Writer {
            state: Mutex::new(State {
                sink: Sink::Memory {
                    lines: Vec::new(),
                    stderr: String::new(),
                },
                outcome: None,
                #[cfg(unix)]
                capture: None,
            }),
            capturing: false,
            running: AtomicBool::new(false),
        }
    }

    pub(crate) fn stream(out: Box<dyn Write + Send>) -> Self {
        Writer {
            state: Mutex::new(State {
                sink: Sink::Stream { out, broken: false },
                outcome: None,
                #[cfg(unix)]
                capture: None,
            }),
            capturing: false,
            running: AtomicBool::new(false),
        }
    }

    #[cfg(unix)]
    pub(crate) fn capturing(out: Box<dyn Write + Send>, capture: crate::sys::Capture) -> Self {
        Writer {
            state: Mutex::new(State {
                sink: Sink::Stream { out, broken: false },
                outcome: None,
                capture: Some(capture),
            }),
            capturing: true,
            running: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Push what `print!` left in Rust's stdout buffer (a line not ended yet) into the pipe.
    /// Complete lines are there already (stdout is line-buffered). Not while the handler
    /// runs (it is being abandoned): it may hold the stdout lock.
    fn flush_prints(&self) {
        if self.capturing && !self.running() {
            // Outside the lock: the reader of the pipe needs it to make room.
            let _ = io::stdout().flush();
        }
    }

    /// Write one event, unless the outcome was written already. Encoding errors (a
    /// non-finite number: callers check first) drop the event.
    pub(crate) fn emit(&self, event: &Event) {
        let Ok(line) = encode_line(event) else { return };
        let mut state = self.lock();
        state.drain_prints();
        if state.outcome.is_none() {
            state.write_line(line);
        }
    }

    /// Write the outcome: `event` (if any) as the last event, then nothing more. Returns
    /// `Some(exit_code)` when this call decided the outcome, `None` when it had been decided.
    pub(crate) fn conclude(&self, event: Option<&Event>, exit_code: i32) -> Option<i32> {
        let line = event.and_then(|event| encode_line(event).ok());
        self.flush_prints();
        let mut state = self.lock();
        if state.outcome.is_some() {
            return None;
        }
        state.drain_prints();
        state.flush_partial_print();
        if let Some(line) = line {
            state.write_line(line);
        }
        state.outcome = Some(exit_code);
        Some(exit_code)
    }

    /// Record whether the handler is running.
    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    /// Whether the handler is running.
    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    /// Whether the outcome was written.
    pub(crate) fn concluded(&self) -> bool {
        self.lock().outcome.is_some()
    }

    /// Read what was printed so far (the pipe reader thread's job).
    #[cfg(unix)]
    pub(crate) fn pump_prints(&self) -> bool {
        let mut state = self.lock();
        state.drain_prints();
        state.capture.is_some()
    }

    /// Diagnostics that are not events (details of unexpected errors): stderr.
    pub(crate) fn diagnostic(&self, text: &str) {
        let mut state = self.lock();
        match &mut state.sink {
            Sink::Memory { stderr, .. } => {
                stderr.push_str(text);
                stderr.push('\n');
            }
            Sink::Stream { .. } => {
                drop(state);
                let _ = writeln!(io::stderr(), "{text}");
            }
        }
    }

    /// The lines and stderr written to a memory sink.
    pub(crate) fn take_memory(&self) -> (Vec<String>, String) {
        match &mut self.lock().sink {
            Sink::Memory { lines, stderr } => (std::mem::take(lines), std::mem::take(stderr)),
            Sink::Stream { .. } => (Vec::new(), String::new()),
        }
    }
}

impl State {
    fn write_line(&mut self, mut line: String) {
        match &mut self.sink {
            Sink::Memory { lines, .. } => lines.push(line),
            Sink::Stream { out, broken } => {
                if *broken {
                    return;
                }
                line.push('\n');
                // One write per line, flushed at once. When the reader is gone (EPIPE),
                // nobody can see further events: stop writing them.
                if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
                    *broken = true;
                }
            }
        }
    }

    fn print_line(&mut self, message: String) {
        if self.outcome.is_none() {
            if let Ok(line) = encode_line(&Event::Log {
                level: LogLevel::Info,
                message,
            }) {
                self.write_line(line);
            }
        }
    }

    #[cfg(unix)]
    fn drain_prints(&mut self) {
        let Some(capture) = self.capture.as_mut() else { return };
        let (lines, open) = capture.drain();
        if !open {
            self.capture = None;
        }
        for line in lines {
            self.print_line(line);
        }
    }

    #[cfg(not(unix))]
    fn drain_prints(&mut self) {}

    #[cfg(unix)]
    fn flush_partial_print(&mut self) {
        if let Some(rest) = self.capture.as_mut().and_then(crate::sys::Capture::take_partial) {
            self.print_line(rest);
        }
    }

    #[cfg(not(unix))]
    fn flush_partial_print(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_after_the_outcome() {
        let writer = Writer::memory();
        writer.emit(&Event::Heartbeat);
        let error = Event::Error {
            code: "x".into(),
            message: "m".into(),
            retryable: true,
        };
        assert_eq!(writer.conclude(Some(&error), 1), Some(1));
        assert_eq!(writer.conclude(None, 0), None);
        writer.emit(&Event::Heartbeat);
        assert!(writer.concluded());
        let (lines, _) = writer.take_memory();
        assert_eq!(
            lines,
            [
                r#"{"type":"heartbeat"}"#,
                r#"{"type":"error","code":"x","message":"m","retryable":true}"#
            ]
        );
    }
}
