"""Calling a handler: bind inputs to parameters, run it (sync or async), write its outputs."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from mentatlab.sdk.agent import Agent
from mentatlab.sdk.context import Context
from mentatlab.sdk.errors import FatalError
from mentatlab.sdk.pins import describe_value, type_label

if TYPE_CHECKING:
    import asyncio

__all__ = ["bind_inputs", "call_handler", "write_outputs"]

TaskCallback = Callable[["asyncio.AbstractEventLoop", "asyncio.Task[Any]"], None]


def bind_inputs(agent: Agent, inputs: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """Keyword arguments for the handler; :class:`FatalError` lists every bad or missing input."""
    missing: list[str] = []
    wrong: list[str] = []
    kwargs: dict[str, Any] = {}
    for pin in agent.inputs:
        if pin.name not in inputs:
            if pin.required:
                missing.append(f"required input {pin.name!r} was not given")
            continue  # the parameter's default applies
        value = inputs[pin.name]
        if pin.check is not None and not pin.check(value):
            wrong.append(
                f"input {pin.name!r} must be {type_label(pin.annotation)}, "
                f"got {describe_value(value)}"
            )
        kwargs[pin.name] = value
    extra = {name: value for name, value in inputs.items() if name not in agent.input_names}
    if agent.accepts_extra_inputs:
        kwargs.update(extra)
    elif extra:
        ctx.log(f"ignoring inputs with no matching parameter: {', '.join(extra)}", "warning")
    if missing or wrong:
        # Same inputs, same failure: retrying cannot help.
        raise FatalError(
            "; ".join(missing + wrong), code="missing_input" if missing else "invalid_input"
        )
    return kwargs


def call_handler(agent: Agent, ctx: Context, kwargs: dict[str, Any], on_task: TaskCallback) -> Any:
    """Run the handler to completion and return what it returned.

    For ``async`` handlers ``on_task`` receives the loop and the task running the handler, so
    a signal handler can cancel it.
    """
    if not agent.is_async:
        if not agent.is_class:
            return agent.target(ctx, **kwargs)
        instance = agent.target()
        _hook(instance, "setup", ctx)
        try:
            return instance.handle(ctx, **kwargs)
        finally:
            _hook(instance, "teardown", ctx)

    # Imported here: a synchronous handler never needs asyncio, which is slow to import.
    import asyncio

    async def main() -> Any:
        # Always a task here: Runner.run wraps the coroutine in one.
        on_task(asyncio.get_running_loop(), cast("asyncio.Task[Any]", asyncio.current_task()))
        if not agent.is_class:
            return await agent.target(ctx, **kwargs)
        instance = agent.target()
        await _async_hook(instance, "setup", ctx)
        try:
            return await instance.handle(ctx, **kwargs)
        finally:
            await _async_hook(instance, "teardown", ctx)

    with asyncio.Runner() as runner:
        return runner.run(main())


def _hook(instance: object, name: str, ctx: Context) -> None:
    method = getattr(instance, name, None)
    if method is not None:
        method(ctx)


async def _async_hook(instance: object, name: str, ctx: Context) -> None:
    method = getattr(instance, name, None)
    if method is not None:
        result = method(ctx)
        if inspect.isawaitable(result):
            await result


def write_outputs(ctx: Context, result: Any) -> None:
    """Write a handler's returned ``dict`` as ``output`` events (``None`` writes nothing)."""
    if result is None:
        return
    if not isinstance(result, Mapping):
        raise FatalError(
            f"the handler returned {type(result).__name__}; return a dict of output pins or None",
            code="invalid_output",
        )
    for pin, value in result.items():
        ctx.output(str(pin), value)
