"""Exceptions an agent raises to fail an attempt, and the one the SDK raises to cancel it."""

from __future__ import annotations

__all__ = ["AgentError", "Cancelled", "FatalError"]


class AgentError(Exception):
    """Fail the attempt with an ``error`` event; retried by default.

    Raise it from a handler when the failure is expected and explainable: the engine shows
    ``message`` to the user and retries the node (if its manifest allows retries) unless
    ``retryable`` is false.

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, code: str = "agent_error", retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


class FatalError(AgentError):
    """An :class:`AgentError` that retrying cannot fix (bad input, bad configuration).

    .. versionadded:: 0.1
    """

    def __init__(self, message: str, *, code: str = "agent_error") -> None:
        super().__init__(message, code=code, retryable=False)


class Cancelled(BaseException):
    """Raised inside a running handler when the agent is asked to stop (SIGTERM/SIGINT).

    A ``BaseException`` so that ``except Exception`` in agent code does not swallow it; use
    ``try``/``finally`` for clean-up.

    .. versionadded:: 0.1
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"cancelled by signal {signum}")
        self.signum = signum
