"""The :class:`Context` a handler receives: run identity, params, resume state, event helpers."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from mentatlab.model.protocol_base import LogLevel
from mentatlab.sdk._heartbeat import Heartbeat
from mentatlab.sdk._writer import EventWriter
from mentatlab.sdk.errors import FatalError
from mentatlab.sdk.pins import OutputPin, describe_value, type_label

if TYPE_CHECKING:
    # For annotations only: importing the protocol models at run time builds all of them.
    from mentatlab.model.protocol import AgentIdentity

__all__ = ["Context"]

T = TypeVar("T")

_LEVELS = frozenset(get_args(LogLevel))


class Context:
    """What a handler knows about its run and how it reports what it does.

    Every helper writes one protocol event immediately; all are safe to call from any thread.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        writer: EventWriter,
        run_id: str,
        node_id: str,
        attempt: int,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any],
        resume: Any,
        outputs: tuple[OutputPin, ...] | None = None,
        secrets: Mapping[str, str] | None = None,
        identity: AgentIdentity | None = None,
    ) -> None:
        self._writer = writer
        self._secrets = dict(secrets or {})
        self._outputs = None if outputs is None else {pin.name: pin for pin in outputs}
        self._cancelled = threading.Event()
        self.run_id = run_id
        """The run this attempt belongs to."""
        self.node_id = node_id
        """The flow node being executed."""
        self.attempt = attempt
        """1 for the first attempt, 2 for the first retry, and so on."""
        self.inputs: Mapping[str, Any] = MappingProxyType(dict(inputs))
        """All input values as received, including those bound to parameters."""
        self.params: Mapping[str, Any] = MappingProxyType(dict(params))
        """The node's ``params`` from the flow (read-only)."""
        self.resume = resume
        """State of the last ``checkpoint`` of a previous attempt, or ``None``."""
        self.identity = identity
        """This attempt's token for reporting events over HTTP, when a server runs it
        (``docs/protocol.md``); never log it.

        .. versionadded:: 1.0
        """

    @property
    def cancelled(self) -> bool:
        """True once the agent has been asked to stop; long loops may check it cooperatively."""
        return self._cancelled.is_set()

    def param(self, name: str, default: T) -> T:
        """``params[name]`` if given, else ``default``; the value must have ``default``'s type.

        A value of the wrong type raises :class:`FatalError` (code ``invalid_param``), since
        running again with the same params cannot succeed. An ``int`` is accepted where the
        default is a ``float``.
        """
        if name not in self.params:
            return default
        value: Any = self.params[name]
        expected = type(default)
        ok = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if expected is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if default is not None and not ok:
            raise FatalError(
                f"param {name!r} must be {type_label(expected)}, got {describe_value(value)}",
                code="invalid_param",
            )
        return value  # type: ignore[no-any-return]

    def secret(self, name: str) -> str:
        """The value of run secret ``name``, which MentatLab redacts from everything the
        agent reports.

        Raises :class:`FatalError` (code ``secret_unavailable``) when the agent did not
        receive it: the manifest must declare ``capabilities.secrets`` and the flow list the
        name in ``runConfig.secrets``.

        .. versionadded:: 1.0
        """
        try:
            return self._secrets[name]
        except KeyError:
            raise FatalError(
                f"secret {name!r} was not given to this agent (it needs capabilities.secrets "
                "in its manifest and the name in the flow's runConfig.secrets)",
                code="secret_unavailable",
            ) from None

    def log(self, message: str, level: LogLevel = "info") -> None:
        """Emit a ``log`` event (level ``debug``, ``info``, ``warning`` or ``error``)."""
        if level not in _LEVELS:
            raise ValueError(f"log level must be one of {sorted(_LEVELS)}, got {level!r}")
        self._writer.emit("log", level=level, message=str(message))

    def progress(self, percent: float, message: str | None = None) -> None:
        """Emit a ``progress`` event; ``percent`` is between 0 and 100."""
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise TypeError(f"progress percent must be a number, got {describe_value(percent)}")
        if not 0 <= percent <= 100:
            raise ValueError(f"progress percent must be between 0 and 100, got {percent!r}")
        fields: dict[str, Any] = {"percent": percent}
        if message is not None:
            fields["message"] = str(message)
        self._writer.emit("progress", **fields)

    def output(self, pin: str, value: Any) -> None:
        """Emit an ``output`` event: ``value`` on output pin ``pin`` (the last write wins).

        Raises :class:`FatalError` (code ``invalid_output``) for a pin the agent did not
        declare (when it declares outputs), a value of the wrong declared type, or a value that
        is not JSON (``NaN`` included).
        """
        declared = self._outputs
        if declared is not None:
            spec = declared.get(pin)
            if spec is None:
                raise FatalError(
                    f"unknown output pin {pin!r}; declared outputs: {', '.join(declared)}",
                    code="invalid_output",
                )
            if spec.check is not None and not spec.check(value):
                raise FatalError(
                    f"output {pin!r} must be {type_label(spec.annotation)}, "
                    f"got {describe_value(value)}",
                    code="invalid_output",
                )
        try:
            self._writer.emit("output", pin=pin, value=value)
        except (TypeError, ValueError) as exc:
            raise FatalError(
                f"output {pin!r} is not a JSON value: {exc}", code="invalid_output"
            ) from None

    def heartbeat(self) -> None:
        """Emit one ``heartbeat`` event: "still alive" for agents with a heartbeat timeout."""
        self._writer.emit("heartbeat")

    def heartbeats(self, every: float) -> Heartbeat:
        """Emit heartbeats from a background thread while a ``with`` block runs.

        ``with ctx.heartbeats(every=5): model.fit(...)`` keeps a long, silent call from
        tripping the heartbeat timeout.
        """
        return Heartbeat(self._writer, every)

    def metric(self, name: str, value: float, unit: str | None = None) -> None:
        """Emit a ``metric`` event, e.g. ``ctx.metric("tokens", 812, unit="count")``."""
        if not name:
            raise ValueError("metric name must not be empty")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric value must be a number, got {describe_value(value)}")
        fields: dict[str, Any] = {"name": name, "value": value}
        if unit is not None:
            fields["unit"] = unit
        self._writer.emit("metric", **fields)

    def checkpoint(self, state: Any) -> None:
        """Emit a ``checkpoint``: a retry of this node receives ``state`` as ``ctx.resume``."""
        try:
            self._writer.emit("checkpoint", state=state)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"checkpoint state is not a JSON value: {exc}") from None

    def _mark_cancelled(self) -> None:
        self._cancelled.set()
