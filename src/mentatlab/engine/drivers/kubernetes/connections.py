"""HTTP connections to the API server that a cancelled request cannot leave open.

httpcore (under httpx and lightkube) closes a new connection's TCP stream when its TLS
handshake fails with an ``Exception``, but not when the handshake is *cancelled*
(``asyncio.CancelledError`` is a ``BaseException``): the socket then belongs to nobody and
stays open until the garbage collector finds it ("ResourceWarning: unclosed transport").
The driver cancels requests all the time (timeouts, a log stream stopped as its attempt ends,
an operator shutting down), so its clients use :func:`cluster_transport`, whose connections
close their socket however the handshake ends.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SingleConfig

__all__ = ["cluster_client", "cluster_transport"]

_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's defaults


def cluster_transport(config: SingleConfig) -> httpx2.AsyncHTTPTransport:
    """An httpx transport to the API server of ``config`` (its CA and client certificate)."""
    if config.user is None:
        raise ValueError("the kubeconfig context names no user")
    context = verify_cluster(config.cluster, config.user, config.abs_file, trust_env=True)
    transport = httpx2.AsyncHTTPTransport(verify=context, limits=_LIMITS)
    # httpx has no parameter for the network backend; the pool it builds is replaced by the
    # same pool on a backend whose streams close themselves when a handshake is cancelled.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=context,
        max_connections=_LIMITS.max_connections,
        max_keepalive_connections=_LIMITS.max_keepalive_connections,
        keepalive_expiry=_LIMITS.keepalive_expiry,
        network_backend=_ClosingBackend(),
    )
    return transport


def cluster_client(config: KubeConfig | SingleConfig | None = None) -> AsyncClient:
    """A lightkube client (``config`` as lightkube reads it) on :func:`cluster_transport`."""
    if config is None:
        config = KubeConfig.from_env()
    single = config.get() if isinstance(config, KubeConfig) else config
    if single is None:
        raise ValueError("the kubeconfig has no current context")
    return AsyncClient(single, transport=cluster_transport(single))


class _ClosingBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _ClosingStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _ClosingStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class _ClosingStream(httpcore2.AsyncNetworkStream):
    """A plain stream whose ``start_tls`` closes it on any way out but success."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            return await self._stream.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            # Closing the socket happens before aclose's first suspension, so even a second
            # cancellation arriving there cannot leave it open.
            await self._stream.aclose()
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
