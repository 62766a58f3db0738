"""Pins declared in code: derived from a handler's signature, checked against input values.

Type checking is deliberately light: values arrive as JSON, so only JSON-shaped annotations
(``str``, ``int``, ``float``, ``bool``, ``None``, ``list[...]``, ``dict[str, ...]``, unions,
``Literal``, ``Any``/``object`` and ``TypedDict``) are allowed, and a value is checked for its
shape, never converted.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["InputPin", "OutputPin", "describe_value", "type_label"]

_EMPTY: Final = inspect.Parameter.empty

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class InputPin:
    """An input pin declared by a handler parameter.

    .. versionadded:: 0.1
    """

    name: str
    annotation: Any
    """The resolved type hint (``typing.Any`` when the parameter has none)."""
    required: bool
    """True when the parameter has no default value."""
    default: Any = None
    check: Check | None = None
    """Whether a value fits ``annotation``; ``None`` accepts anything."""

    @property
    def pin_type(self) -> str:
        """The manifest pin type that best describes ``annotation`` (``json`` if no better)."""
        return manifest_type(self.annotation)


@dataclass(frozen=True)
class OutputPin:
    """An output pin declared in code (``outputs=`` or a ``TypedDict`` return annotation).

    .. versionadded:: 0.1
    """

    name: str
    annotation: Any = Any
    check: Check | None = None

    @property
    def pin_type(self) -> str:
        return manifest_type(self.annotation)


def manifest_type(annotation: Any) -> str:
    """Map a Python annotation to the manifest pin type it corresponds to."""
    scalar = {str: "string", bool: "boolean", int: "number", float: "number"}
    options = [a for a in _union_args(annotation) if a is not type(None)]
    kinds = {scalar.get(a, "json") if isinstance(a, type) else "json" for a in options}
    return kinds.pop() if len(kinds) == 1 else "json"


def type_label(annotation: Any) -> str:
    """A short, readable name of an annotation for error messages."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def describe_value(value: Any, limit: int = 60) -> str:
    """``int 42`` style description of a received value, truncated for messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(value).__name__} {text}"


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def compile_check(annotation: Any) -> Check | None:
    """A predicate for ``annotation``; ``None`` if anything goes; ``TypeError`` if unsupported."""
    if annotation in (Any, object):
        return None
    if annotation is None or annotation is type(None):
        return lambda v: v is None
    if annotation is bool:
        return lambda v: isinstance(v, bool)
    if annotation is int:
        # JSON has one number type; bool is an int subclass in Python but not a number in JSON.
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    if annotation is float:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if annotation in (str, list, dict):
        return lambda v: isinstance(v, annotation)
    if typing.is_typeddict(annotation):
        return lambda v: isinstance(v, dict)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return compile_check(args[0])
    if origin is typing.Literal:
        return lambda v: any(v == a and type(v) is type(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        checks = [compile_check(a) for a in args]
        if any(c is None for c in checks):
            return None
        return lambda v: any(c(v) for c in checks if c is not None)
    if origin in (list, collections.abc.Sequence):
        item = compile_check(args[0]) if args else None
        return lambda v: isinstance(v, list) and (item is None or all(item(x) for x in v))
    if origin in (dict, collections.abc.Mapping):
        value = compile_check(args[1]) if len(args) == 2 else None
        return lambda v: (
            isinstance(v, dict) and (value is None or all(value(x) for x in v.values()))
        )
    raise TypeError(
        f"unsupported pin annotation {type_label(annotation)}: pins carry JSON values, so use "
        "str, int, float, bool, None, list[...], dict[str, ...], Literal, a union, a TypedDict, "
        "Any or object"
    )


def input_pins(handler: Callable[..., Any], *, skip: int) -> tuple[tuple[InputPin, ...], bool]:
    """Input pins of ``handler`` (the parameters after the first ``skip`` ones).

    Returns the pins and whether the handler takes ``**kwargs`` (which receives the inputs
    that no parameter names).
    """
    signature = inspect.signature(handler)
    hints = _hints(handler)
    params = list(signature.parameters.values())
    if len(params) < skip:
        raise TypeError(f"{handler.__qualname__} must take the Context as its first parameter")
    pins: list[InputPin] = []
    var_keyword = False
    for param in params[skip:]:
        if param.kind is param.VAR_KEYWORD:
            var_keyword = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise TypeError(
                f"{handler.__qualname__}: parameter {param.name!r} cannot be bound by name; "
                "input pins are bound to parameters by name"
            )
        annotation = hints.get(param.name, Any)
        required = param.default is _EMPTY
        pins.append(
            InputPin(
                name=param.name,
                annotation=annotation,
                required=required,
                default=None if required else param.default,
                check=compile_check(annotation),
            )
        )
    return tuple(pins), var_keyword


def output_pins(
    handler: Callable[..., Any], names: collections.abc.Iterable[str] | None
) -> tuple[OutputPin, ...] | None:
    """Declared outputs: ``names`` if given, else the keys of a ``TypedDict`` return type."""
    if names is not None:
        return tuple(OutputPin(name=n) for n in names)
    returns = _hints(handler).get("return")
    if not typing.is_typeddict(returns):
        return None
    fields = typing.get_type_hints(returns)
    return tuple(OutputPin(n, a, compile_check(a)) for n, a in fields.items())


def _hints(handler: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(handler)
    except (NameError, TypeError) as exc:
        raise TypeError(f"cannot resolve the annotations of {handler.__qualname__}: {exc}") from exc
