"""Errors the run store raises: callers catch :class:`StoreError` or one of its subclasses."""

from __future__ import annotations

__all__ = ["InvalidEventError", "RunFinishedError", "RunNotFoundError", "StoreError"]


class StoreError(Exception):
    """Base class for every error the run store raises on purpose."""


class RunNotFoundError(StoreError):
    """No run with this id exists in the store."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class RunFinishedError(StoreError):
    """The run already reached a terminal status, so its state may no longer change."""

    def __init__(self, run_id: str, status: str, event_type: str) -> None:
        super().__init__(
            f"run {run_id!r} already finished ({status}); cannot append a {event_type!r} event"
        )
        self.run_id = run_id
        self.status = status


class InvalidEventError(StoreError, ValueError):
    """An event is malformed: unknown type or node, bad status, or data that is not JSON."""
