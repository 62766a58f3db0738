"""Runtime checks and conversions of pin values against pin types."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mentatlab.model.manifest import PinType

__all__ = ["substitute", "type_error"]

_MEDIA = {PinType.BINARY, PinType.AUDIO, PinType.IMAGE, PinType.VIDEO, PinType.STREAM}


def type_error(pin_type: PinType, value: Any) -> str | None:
    """Why ``value`` cannot travel through a pin of ``pin_type``, or None if it can.

    Media pins carry a string (a URI or base64 data) or an object describing the content.
    """
    match pin_type:
        case PinType.JSON:
            return None
        case PinType.STRING:
            ok = isinstance(value, str)
        case PinType.NUMBER:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        case PinType.BOOLEAN:
            ok = isinstance(value, bool)
        case _ if pin_type in _MEDIA:
            ok = isinstance(value, str | dict)
        case _:
            ok = True
    if ok:
        return None
    return f"expected {pin_type.value}, got {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace ``${name}`` in strings nested anywhere in ``value``.

    A string that is exactly one placeholder becomes the variable's value itself (so a
    list stays a list); inside longer strings non-strings are written as compact JSON.
    Unknown names are left as they are.
    """
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in variables:
            return variables[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: _as_text(variables, m), value)
    if isinstance(value, Mapping):
        return {key: substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    return value


def _as_text(variables: Mapping[str, Any], match: re.Match[str]) -> str:
    name = match.group(1)
    if name not in variables:
        return match.group(0)
    value = variables[name]
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
