"""Following one pod through the API server: get it, watch it, get it again.

Each round reads the pod (a fresh state even after a missed event), then watches it by name
from that resourceVersion for a bounded time; when the watch expires (or fails, or its
version is too old: 410 Gone) the next round starts with a new read. API failures are retried
with backoff until they have lasted ``outage_seconds``.

The follower stops when its ``stop`` event is set, checked between rounds, and not only when
it is cancelled: a cancellation that arrives while one of its own timeouts is unwinding is
skipped by its owner (see :meth:`PodAttempt.run`), and the timeout then ends only the round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod

__all__ = ["PodApiError", "describe_api_error", "follow_pod"]

_SLACK_SECONDS = 5.0
"""Past the server-side watch timeout, how long before the client gives up on the watch."""
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 5.0


class PodApiError(Exception):
    """The API server could not be reached (or kept failing) for too long."""


def describe_api_error(exc: BaseException) -> str:
    """One line for an API failure: the server's status message when there is one."""
    if isinstance(exc, ApiError):
        status = exc.status
        return f"{status.code} {status.reason or ''}: {status.message or ''}".strip()
    if isinstance(exc, TimeoutError):
        return "the request timed out"
    return f"{type(exc).__name__}: {exc}"


async def follow_pod(
    client: AsyncClient,
    *,
    namespace: str,
    name: str,
    on_pod: Callable[[Pod | None], None],
    stop: asyncio.Event,
    request_seconds: float,
    watch_seconds: int,
    outage_seconds: float,
) -> None:
    """Call ``on_pod`` with every state of the pod, and with ``None`` once it is gone; return
    then, or once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    failing_since: float | None = None
    delay = _BACKOFF_FIRST
    while not stop.is_set():
        try:
            async with asyncio.timeout(request_seconds):
                pod = await client.get(Pod, name, namespace=namespace)
            on_pod(pod)
            version = pod.metadata.resourceVersion if pod.metadata else None
            if await _watch(
                client,
                namespace=namespace,
                name=name,
                version=version,
                on_pod=on_pod,
                watch_seconds=watch_seconds,
            ):
                return
            failing_since, delay = None, _BACKOFF_FIRST
            continue
        except ApiError as exc:
            if exc.status.code == 404:
                on_pod(None)
                return
            error: Exception = exc
        except (httpx2.HTTPError, TimeoutError) as exc:
            error = exc
        now = loop.time()
        failing_since = failing_since if failing_since is not None else now
        if now - failing_since >= outage_seconds:
            raise PodApiError(
                f"lost the Kubernetes API for {outage_seconds:g} s while following pod "
                f"{name}: {describe_api_error(error)}"
            ) from error
        await asyncio.sleep(delay)
        delay = min(delay * 2, _BACKOFF_MAX)


async def _watch(
    client: AsyncClient,
    *,
    namespace: str,
    name: str,
    version: str | None,
    on_pod: Callable[[Pod | None], None],
    watch_seconds: int,
) -> bool:
    """One bounded watch; ``True`` if the pod was deleted."""
    events = client.watch(
        Pod,
        namespace=namespace,
        fields={"metadata.name": name},
        resource_version=version,
        server_timeout=watch_seconds,
    )
    iterator = aiter(events)
    try:
        async with asyncio.timeout(watch_seconds + _SLACK_SECONDS):
            async for kind, pod in iterator:
                if kind == "DELETED":
                    on_pod(None)
                    return True
                on_pod(pod)
    except TimeoutError:
        pass  # the watch expired: the caller reads the pod again
    except ApiError as exc:
        if exc.status.code != 410:  # 410 Gone: our version is too old; read again
            raise
    finally:
        if isinstance(iterator, AsyncGenerator):
            with contextlib.suppress(Exception):
                await iterator.aclose()
    return False
