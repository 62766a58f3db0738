//! What the agent process needs of the operating system (Unix): its stdout captured, and
//! SIGTERM/SIGINT turned into a cancellation. Everything here goes through safe wrappers
//! (`std`, `rustix`, `signal-hook`); the crate has no `unsafe` code.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::thread;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cancel::StopSignal;
use crate::writer::Writer;

/// A printed line longer than this is cut into several log events (MentatLab's own line
/// limit is 8 MiB).
const MAX_PRINTED_LINE: usize = 1 << 20;
/// At most this many reads per drain, so that a busy printer cannot hold the writer.
const MAX_READS_PER_DRAIN: usize = 64;

const NO_WAIT: Timespec = Timespec { tv_sec: 0, tv_nsec: 0 };

/// The read end of the pipe that file descriptor 1 now is, and the printed bytes not yet
/// ended by a newline.
pub(crate) struct Capture {
    reader: Arc<File>,
    pending: Vec<u8>,
}

/// Keep the real stdout for events and make file descriptor 1 a pipe the SDK reads.
/// Returns the events' stdout and the capture.
pub(crate) fn capture_stdout() -> io::Result<(File, Capture)> {
    let _ = io::stdout().flush();
    // Close-on-exec: children write to the pipe, never to the event stream.
    let events = io::stdout().as_fd().try_clone_to_owned()?;
    let (reader, writer) = io::pipe()?;
    rustix::stdio::dup2_stdout(&writer)?;
    drop(writer);
    let reader = Arc::new(File::from(OwnedFd::from(reader)));
    Ok((
        File::from(events),
        Capture {
            reader,
            pending: Vec::new(),
        },
    ))
}

impl Capture {
    pub(crate) fn reader(&self) -> Arc<File> {
        Arc::clone(&self.reader)
    }

    /// Read what is in the pipe now, without waiting; returns the complete lines and whether
    /// the pipe is still open.
    pub(crate) fn drain(&mut self) -> (Vec<String>, bool) {
        let mut lines = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        for _ in 0..MAX_READS_PER_DRAIN {
            if !readable(&self.reader, Some(&NO_WAIT)) {
                break;
            }
            match (&*self.reader).read(&mut buffer) {
                Ok(0) | Err(_) => {
                    self.split(&mut lines);
                    lines.extend(self.take_partial());
                    return (lines, false);
                }
                Ok(n) => self.pending.extend_from_slice(&buffer[..n]),
            }
            self.split(&mut lines);
        }
        (lines, true)
    }

    fn split(&mut self, lines: &mut Vec<String>) {
        while let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        if self.pending.len() >= MAX_PRINTED_LINE {
            lines.extend(self.take_partial());
        }
    }

    /// The printed text not ended by a newline, if any.
    pub(crate) fn take_partial(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.pending);
        Some(String::from_utf8_lossy(&rest).into_owned())
    }
}

/// Whether the pipe has data (or is closed), waiting at most `timeout` (`None`: forever).
/// False on a poll error too: the caller then stops reading.
fn readable(reader: &File, timeout: Option<&Timespec>) -> bool {
    loop {
        let mut fds = [PollFd::new(reader, PollFlags::IN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return false,
            Ok(_) => return fds[0].revents().intersects(PollFlags::IN | PollFlags::HUP),
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// A thread turning printed lines into log events while nothing else is written.
pub(crate) fn spawn_pump(writer: Arc<Writer>, reader: Arc<File>) -> io::Result<()> {
    thread::Builder::new().name("mentatlab-stdout".into()).spawn(move || {
        while readable(&reader, None) {
            if !writer.pump_prints() {
                return;
            }
        }
    })?;
    Ok(())
}

/// Call `on_signal` (on a thread of its own) at the first SIGTERM or SIGINT; later ones are
/// swallowed, so they cannot kill the agent while it reports the first.
pub(crate) fn watch_signals(on_signal: impl FnOnce(StopSignal) + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    thread::Builder::new().name("mentatlab-signals".into()).spawn(move || {
        let mut pending = signals.forever();
        if let Some(number) = pending.next() {
            on_signal(if number == SIGINT {
                StopSignal::Interrupt
            } else {
                StopSignal::Terminate
            });
        }
        for _ in pending {}
    })?;
    Ok(())
}
