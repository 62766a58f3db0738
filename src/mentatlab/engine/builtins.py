"""Built-in node semantics that need no agent process: routing and fan-out decisions."""

from __future__ import annotations

import json
from typing import Any

from mentatlab.model.flow import ConditionalConfig

__all__ = ["BuiltinError", "collection_items", "iteration_result", "route"]


class BuiltinError(Exception):
    """A built-in node cannot do its job with the data it was given."""


def route(config: ConditionalConfig, value: Any) -> tuple[tuple[str, ...], str]:
    """Targets a conditional selects for ``value``, and a note saying why.

    ``switch`` compares the value with each branch key; non-string values are compared
    in their compact JSON spelling (``1``, ``true``, ``null``). ``if`` takes ``then`` when
    the value is truthy, ``else`` (or nothing) otherwise.
    """
    if config.type == "switch":
        key = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        branches = config.branches or {}
        if key in branches:
            return branches[key].targets, f"branch {key!r}"
        return config.default_targets(), f"default (no branch for {_preview(key)})"
    if value:
        return (config.then.targets if config.then else ()), "then (expression is truthy)"
    return (config.else_.targets if config.else_ else ()), "else (expression is falsy)"


def collection_items(value: Any) -> list[Any]:
    """The items a for_each iterates: a list as is, an object as ``{"key", "value"}`` pairs."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    raise BuiltinError(f"collection must be a list or an object, got {_preview(value)}")


def iteration_result(exit_outputs: dict[str, dict[str, Any] | None]) -> Any:
    """One entry of a for_each's ``output`` list, from the outputs of the body's exit nodes.

    One exit node with one output pin gives that value; one exit node with several pins
    gives its outputs object; several exit nodes give ``{node: outputs}``.
    """
    if len(exit_outputs) != 1:
        return exit_outputs
    (outputs,) = exit_outputs.values()
    if outputs is not None and len(outputs) == 1:
        return next(iter(outputs.values()))
    return outputs


def _preview(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
