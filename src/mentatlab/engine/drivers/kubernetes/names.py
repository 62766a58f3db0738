"""Text made valid as a Kubernetes label value or object name, changed only where it must be.

Encoded values keep a readable head and end in a hash of the original, so two different
texts never collide after encoding.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

__all__ = ["hashed", "label_value", "trim"]

_MAX_LABEL: Final = 63
_HASH_LENGTH: Final = 8
_LABEL_VALUE: Final = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def label_value(text: str) -> str:
    """``text`` as a label value, encoded only if it must be."""
    if len(text) <= _MAX_LABEL and _LABEL_VALUE.match(text):
        return text
    return hashed(re.sub(r"[^A-Za-z0-9._-]+", "-", text), text, _MAX_LABEL)


def hashed(base: str, original: str, limit: int) -> str:
    """``base`` cut to fit ``limit`` together with a hash of ``original``."""
    digest = hashlib.sha256(original.encode()).hexdigest()[:_HASH_LENGTH]
    head = trim(base, limit - _HASH_LENGTH - 1)
    return f"{head}-{digest}" if head else digest


def trim(text: str, limit: int) -> str:
    # Names and label values start and end alphanumeric; cutting may leave a '-', '.' or '_'.
    return text.lstrip("-._")[:limit].rstrip("-._")
