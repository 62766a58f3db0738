"""Kubernetes resource quantities as numbers, to compare requests, limits and policy maxima."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

__all__ = ["RESOURCES", "cpu_cores", "memory_bytes", "resource_amount"]

RESOURCES: Final = ("cpu", "memory", "gpu")

_MEMORY_UNITS: Final = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
_CPU = re.compile(r"([0-9]+)m|([0-9]+(?:\.[0-9]+)?)")


def cpu_cores(quantity: str) -> Decimal | None:
    """``"500m"`` -> 0.5, ``"2"`` -> 2; ``None`` if it is not a CPU quantity."""
    match = _CPU.fullmatch(quantity)
    if match is None:
        return None
    millis, cores = match.groups()
    return Decimal(millis) / 1000 if millis is not None else Decimal(cores)


def memory_bytes(quantity: str) -> Decimal | None:
    """``"128Mi"`` -> 134217728; ``None`` if it is not a memory quantity."""
    match = _MEMORY.fullmatch(quantity)
    if match is None:
        return None
    number, unit = match.groups()
    return Decimal(number) * _MEMORY_UNITS[unit or ""]


def resource_amount(resource: str, quantity: str | int) -> Decimal | None:
    """The amount of ``cpu``, ``memory`` or ``gpu`` (a count) as a number, ``None`` if malformed."""
    text = str(quantity)
    if resource == "cpu":
        return cpu_cores(text)
    if resource == "memory":
        return memory_bytes(text)
    return Decimal(text) if text.isdigit() else None
