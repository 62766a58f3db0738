"""The :func:`agent` decorator and the :class:`Agent` it returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, overload

from mentatlab.sdk.pins import InputPin, OutputPin, input_pins, output_pins

__all__ = ["Agent", "agent"]


class Agent:
    """A handler plus its declared pins: what ``main.py`` runs with :meth:`run`.

    ``target`` is either a function ``(ctx, **inputs)`` (sync or ``async``) or a class with a
    ``handle(self, ctx, **inputs)`` method and optional ``setup(self, ctx)`` and
    ``teardown(self, ctx)`` methods, instantiated once per attempt without arguments.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        target: Callable[..., Any],
        *,
        outputs: Iterable[str] | None = None,
        heartbeat: float | None = None,
    ) -> None:
        if heartbeat is not None and not heartbeat > 0:
            raise ValueError(f"heartbeat interval must be positive, got {heartbeat!r}")
        self.target = target
        """The decorated function or class, unchanged (call it directly in unit tests)."""
        self.is_class = inspect.isclass(target)
        handle: Any = getattr(target, "handle", None) if self.is_class else target
        if not callable(handle):
            raise TypeError(f"agent class {target.__qualname__} must define handle(self, ctx, ...)")
        self.is_async = inspect.iscoroutinefunction(handle)
        if self.is_class and not self.is_async:
            for hook in ("setup", "teardown"):
                if inspect.iscoroutinefunction(getattr(target, hook, None)):
                    raise TypeError(f"{target.__qualname__}.{hook} is async but handle is not")
        # A class's handle is read unbound, so its first parameter is self, then ctx.
        pins, self.accepts_extra_inputs = input_pins(handle, skip=2 if self.is_class else 1)
        self.inputs: tuple[InputPin, ...] = pins
        """Input pins, one per parameter after ``ctx``, in declaration order."""
        self.outputs: tuple[OutputPin, ...] | None = output_pins(handle, outputs)
        """Declared output pins, or ``None`` when the agent does not declare them."""
        self.heartbeat = heartbeat
        """Seconds between automatic heartbeats while the handler runs, or ``None``."""

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the input pins, e.g. to compare with ``manifest.yaml`` in a test."""
        return tuple(pin.name for pin in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...] | None:
        """Names of the declared output pins, or ``None`` when undeclared."""
        return None if self.outputs is None else tuple(pin.name for pin in self.outputs)

    def run(self) -> NoReturn:
        """Run one attempt as the agent process: envelope on stdin, events on stdout, exit.

        Call it from ``if __name__ == "__main__":`` in ``main.py``. Exits 0 on success, 1 on
        failure, and 128 + the signal number when stopped by SIGTERM (143) or SIGINT (130).
        """
        from mentatlab.sdk._runtime import run_process

        raise SystemExit(run_process(self))

    def __repr__(self) -> str:
        return f"Agent({self.target.__qualname__}, inputs={self.input_names})"


@overload
def agent(target: Callable[..., Any], /) -> Agent: ...


@overload
def agent(
    *, outputs: Iterable[str] | None = None, heartbeat: float | None = None
) -> Callable[[Callable[..., Any]], Agent]: ...


def agent(
    target: Callable[..., Any] | None = None,
    /,
    *,
    outputs: Iterable[str] | None = None,
    heartbeat: float | None = None,
) -> Agent | Callable[[Callable[..., Any]], Agent]:
    """Turn a handler function (or class) into an :class:`Agent`.

    Use bare (``@agent``) or with options (``@agent(outputs=["summary"], heartbeat=10)``):

    - ``outputs``: names of the output pins; returning or writing any other pin then fails
      the attempt. Without it, a ``TypedDict`` return annotation declares them.
    - ``heartbeat``: emit a ``heartbeat`` event every so many seconds while the handler runs.

    For a class, write ``main = agent(MyAgent)`` so type checkers see an :class:`Agent`.

    .. versionadded:: 0.1
    """
    if target is not None:
        return Agent(target, outputs=outputs, heartbeat=heartbeat)

    def decorate(fn: Callable[..., Any]) -> Agent:
        return Agent(fn, outputs=outputs, heartbeat=heartbeat)

    return decorate
