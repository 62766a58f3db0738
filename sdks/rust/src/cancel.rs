//! Cancellation: a token set when the agent is asked to stop (SIGTERM/SIGINT).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What asked the agent to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopSignal {
    /// `SIGTERM`: a cancelled run, a timeout (exit status 143).
    Terminate,
    /// `SIGINT`: Ctrl-C (exit status 130).
    Interrupt,
}

impl StopSignal {
    /// `SIGTERM` or `SIGINT`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Interrupt => "SIGINT",
        }
    }

    /// The signal number: 15 or 2.
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Terminate => 15,
            StopSignal::Interrupt => 2,
        }
    }

    /// The exit status of an agent stopped by it: 128 + its number (143, 130).
    pub fn exit_code(self) -> i32 {
        crate::envelope::exit_code::SIGNAL_BASE + self.number()
    }
}

#[derive(Debug, Default)]
struct State {
    signal: Mutex<Option<StopSignal>>,
    changed: Condvar,
}

/// Set once the agent is asked to stop; cheap to clone and to poll, and waitable.
///
/// The handler gets it as [`Context::cancel_token`](crate::Context::cancel_token) (and
/// [`Context::is_cancelled`](crate::Context::is_cancelled)); pass clones to threads doing
/// the work. In tests, create one, give it to
/// [`Invocation::cancel`](crate::Invocation::cancel) and call [`CancelToken::cancel`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    state: Arc<State>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    fn lock(&self) -> MutexGuard<'_, Option<StopSignal>> {
        self.state.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ask to stop, as `signal` would. Only the first call counts; returns whether it was it.
    pub fn cancel(&self, signal: StopSignal) -> bool {
        let mut current = self.lock();
        if current.is_some() {
            return false;
        }
        *current = Some(signal);
        self.state.changed.notify_all();
        true
    }

    /// Whether the agent has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.lock().is_some()
    }

    /// The signal that asked the agent to stop, if any.
    pub fn signal(&self) -> Option<StopSignal> {
        *self.lock()
    }

    /// Block until the agent is asked to stop; returns the signal.
    pub fn wait(&self) -> StopSignal {
        let mut current = self.lock();
        loop {
            if let Some(signal) = *current {
                return signal;
            }
            current = self.state.changed.wait(current).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Block until the agent is asked to stop or `timeout` has passed; returns the signal if
    /// it was asked to stop. An interruptible sleep:
    /// `if token.wait_timeout(Duration::from_secs(5)).is_some() { /* stop */ }`.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<StopSignal> {
        let deadline = Instant::now().checked_add(timeout);
        let mut current = self.lock();
        loop {
            if let Some(signal) = *current {
                return Some(signal);
            }
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600), // practically forever: wait again
            };
            if left.is_zero() {
                return None;
            }
            current = self
                .state
                .changed
                .wait_timeout(current, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn first_cancel_wins_and_wakes_waiters() {
        let token = CancelToken::new();
        assert!(!token.is_cancelled());
        assert_eq!(token.wait_timeout(Duration::from_millis(10)), None);
        let waiter = {
            let token = token.clone();
            thread::spawn(move || token.wait())
        };
        thread::sleep(Duration::from_millis(20));
        assert!(token.cancel(StopSignal::Interrupt));
        assert!(!token.cancel(StopSignal::Terminate));
        assert_eq!(waiter.join().unwrap(), StopSignal::Interrupt);
        assert_eq!(token.signal(), Some(StopSignal::Interrupt));
        assert_eq!(token.wait_timeout(Duration::from_secs(10)), Some(StopSignal::Interrupt));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
    }
}
