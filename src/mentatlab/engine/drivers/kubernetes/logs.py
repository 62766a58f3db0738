"""Where the Kubernetes driver reads an agent's output: the pod's log, as raw bytes.

The default source is the API server's ``pods/log`` endpoint (which proxies the kubelet).
It is read as bytes, not through lightkube's line iterator, so the driver's
:class:`~mentatlab.engine.agent_io.LineSplitter` enforces the line limit (a line without a
newline cannot exhaust the operator's memory) and only ``\\n`` ends a line, as protocol v1
says (``str.splitlines`` would also split inside an event at U+2028 and friends).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

import httpx2
from lightkube import AsyncClient
from lightkube.config.client_adapter import AsyncClient as adapter_client
from lightkube.config.client_adapter import ConnectionParams

from mentatlab.engine.drivers.kubernetes.connections import cluster_transport

__all__ = ["LogSource", "LogStreamError", "PodLogApi"]

_ERROR_BODY_BYTES = 2000


class LogStreamError(Exception):
    """The log could not be read (not yet available, or the connection failed)."""


class LogSource(Protocol):
    def stream(self, *, namespace: str, pod: str, container: str) -> AsyncGenerator[bytes, None]:
        """The container's output from its start, following it until the container ends.

        Raises :class:`LogStreamError` when the log cannot be read. The reader closes the
        generator (``aclose``) as soon as it stops reading, so a source can release its
        connection at once.
        """
        ...


class PodLogApi:
    """Follows ``GET /api/v1/namespaces/NS/pods/NAME/log?follow=true`` of the cluster of
    ``client``, over a connection of its own per stream (a followed log holds one open)."""

    def __init__(self, client: AsyncClient, *, connect_seconds: float = 30.0) -> None:
        self._config = client.config
        # The read timeout is off: an agent may legitimately be silent for a long time.
        self._timeout = httpx2.Timeout(connect_seconds, read=None)

    async def stream(
        self, *, namespace: str, pod: str, container: str
    ) -> AsyncGenerator[bytes, None]:
        url = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        params = {"container": container, "follow": "true"}
        try:
            # Each stream connects anew, so a stream stopped early is often stopped mid-TLS
            # handshake: cluster_transport closes such a connection at once.
            connection = ConnectionParams(
                timeout=self._timeout,
                transport=cluster_transport(self._config),  # type: ignore[arg-type]
            )
            async with (
                adapter_client(self._config, connection) as http,
                http.stream("GET", url, params=params) as response,
            ):
                if response.is_error:
                    body = (await response.aread())[:_ERROR_BODY_BYTES]
                    raise LogStreamError(
                        f"HTTP {response.status_code}: {body.decode('utf-8', 'replace')}"
                    )
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx2.HTTPError as exc:
            raise LogStreamError(f"{type(exc).__name__}: {exc}") from exc
