"""The agent process: read the envelope, run the handler, report the outcome, pick the exit code."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO

from mentatlab.model.protocol import InputEnvelope
from mentatlab.sdk._heartbeat import Heartbeat
from mentatlab.sdk._invoke import bind_inputs, call_handler, write_outputs
from mentatlab.sdk._stdio import PrintToLog, claim_stdout
from mentatlab.sdk._writer import EventWriter
from mentatlab.sdk.agent import Agent
from mentatlab.sdk.context import Context
from mentatlab.sdk.errors import AgentError, Cancelled, FatalError

if TYPE_CHECKING:
    import asyncio

__all__ = ["read_envelope", "run_process"]

EXIT_FAILED = 1
EXIT_INVALID_ENVELOPE = 2
"""Exit status when stdin holds no valid input envelope (protocol v1, section 2)."""
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_process(agent: Agent) -> int:
    """Run one attempt of ``agent`` in this process and return its exit code."""
    writer = EventWriter(claim_stdout())
    printer = PrintToLog(writer)
    saved_stdout, sys.stdout = sys.stdout, printer
    stop = _StopRequest(writer)
    previous = {sig: signal.signal(sig, stop.on_signal) for sig in _STOP_SIGNALS}
    try:
        return _attempt(agent, writer, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        printer.close()
        sys.stdout = saved_stdout


def _attempt(agent: Agent, writer: EventWriter, stop: _StopRequest) -> int:
    try:
        if sys.stdin.isatty():
            print("waiting for the input envelope (JSON) on stdin, then EOF", file=sys.stderr)
        envelope = read_envelope(sys.stdin.buffer)
        ctx = Context(
            writer=writer,
            run_id=envelope.run.id,
            node_id=envelope.run.node,
            attempt=envelope.run.attempt,
            inputs=envelope.inputs,
            params=envelope.params,
            resume=envelope.resume,
            outputs=agent.outputs,
            secrets=envelope.secrets,
            identity=envelope.identity,
        )
        stop.ctx = ctx
        kwargs = bind_inputs(agent, envelope.inputs, ctx)
        heartbeat = None if agent.heartbeat is None else Heartbeat(writer, agent.heartbeat).start()
        try:
            result = call_handler(agent, ctx, kwargs, stop.watch_task)
        finally:
            stop.task = None
            if heartbeat is not None:
                heartbeat.stop()
        write_outputs(ctx, result)
        if stop.signum is not None:
            # The handler finished anyway, but the engine asked to stop: report what it asked.
            raise Cancelled(stop.signum)
    except Cancelled as exc:
        return _cancelled(writer, stop, exc.signum)
    except _asyncio_cancelled_error():
        if stop.signum is None:
            raise  # cancelled by the handler's own code, not by us: a real bug, not a stop
        return _cancelled(writer, stop, stop.signum)
    except AgentError as exc:
        stop.disarm()
        writer.emit("error", code=exc.code, message=exc.message, retryable=exc.retryable)
        # A distinct status tells "MentatLab and the agent disagree on the protocol" apart
        # from "the agent failed" even where only the exit status is seen.
        return EXIT_INVALID_ENVELOPE if isinstance(exc, _InvalidEnvelope) else EXIT_FAILED
    except Exception as exc:
        stop.disarm()
        traceback.print_exception(exc, file=sys.stderr)
        writer.emit(
            "error",
            code="unexpected_error",
            message=f"{type(exc).__name__}: {exc}",
            retryable=True,
        )
        return EXIT_FAILED
    stop.disarm()
    return 0


def _asyncio_cancelled_error() -> type[BaseException] | tuple[()]:
    """``asyncio.CancelledError`` for an ``except`` clause; ``()``, matching nothing, if asyncio
    was never imported, since then nothing can have raised it.

    Looked up rather than imported: a synchronous handler never needs asyncio, which is slow to
    import.
    """
    asyncio_module = sys.modules.get("asyncio")
    if asyncio_module is None:
        return ()
    error: type[BaseException] = asyncio_module.CancelledError
    return error


def _cancelled(writer: EventWriter, stop: _StopRequest, signum: int) -> int:
    stop.disarm()
    name = signal.Signals(signum).name
    # Retryable: a stop may come from a timeout, and the retry policy decides about those.
    writer.emit("error", code="cancelled", message=f"stopped by {name}", retryable=True)
    return 128 + signum


class _InvalidEnvelope(FatalError):
    """Stdin holds no valid input envelope; the agent exits with status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_envelope")


def _reject_constant(name: str) -> Any:
    # Python's json module accepts NaN and Infinity, but they are not JSON (RFC 8259).
    raise ValueError(f"{name} is not a JSON value")


def read_envelope(stream: BinaryIO) -> InputEnvelope:
    """Parse the input envelope; :class:`FatalError` (``invalid_envelope``) if it is not one."""
    raw = stream.read()
    try:
        # Decoded explicitly: json.loads(bytes) would also guess UTF-16 and UTF-32, and the
        # protocol says UTF-8.
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError as exc:
        raise _InvalidEnvelope(f"stdin is not a JSON input envelope: {exc}") from None
    try:
        return InputEnvelope.model_validate(data)
    except ValueError as exc:
        # pydantic's ValidationError is a ValueError with .errors(); duck-typed so that the
        # SDK imports nothing beyond mentatlab.model.protocol and the standard library.
        errors = getattr(exc, "errors", None)
        problems = (
            [f"{'.'.join(map(str, e['loc'])) or 'envelope'}: {e['msg']}" for e in errors()]
            if callable(errors)
            else [str(exc)]
        )
        raise _InvalidEnvelope("invalid input envelope: " + "; ".join(problems)) from None


class _StopRequest:
    """SIGTERM/SIGINT handling: raise :class:`Cancelled` in the handler, or cancel its task."""

    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._armed = True
        self.signum: int | None = None
        self.ctx: Context | None = None
        self.task: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None

    def watch_task(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.task = (loop, task)

    def disarm(self) -> None:
        """The outcome is being reported: later signals must not interrupt that."""
        self._armed = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self._armed:
            return  # already stopping, or already finished
        self.signum = signum
        if self.ctx is not None:
            self.ctx._mark_cancelled()
        if self.task is not None and not self.task[1].done():
            loop, task = self.task
            loop.call_soon_threadsafe(task.cancel)
            return
        if self._writer.main_writing:
            # Raising now could cut an event line in half; raise right after the write.
            self._writer.after_main_write = self._raise_pending
            return
        raise Cancelled(signum)

    def _raise_pending(self) -> None:
        self._writer.after_main_write = None
        if self._armed and self.signum is not None:
            raise Cancelled(self.signum)
