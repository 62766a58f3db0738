"""Semantic Version 2.0 precedence, to pick the highest version of an agent."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["semver_key"]

_SEMVER: Final = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?"
)

# A sort key: release numbers, then a flag (1 = release, which outranks any pre-release), then
# the pre-release identifiers (numeric ones sort numerically and before alphanumeric ones).
SemverKey = tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]


def semver_key(version: str) -> SemverKey:
    """Sort key of ``version``; text that is not semver sorts below every real version."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        return (-1, -1, -1), 0, ()
    major, minor, patch, pre = match.groups()
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in (pre or "").split(".")
    )
    return (int(major), int(minor), int(patch)), 0 if pre else 1, identifiers if pre else ()
