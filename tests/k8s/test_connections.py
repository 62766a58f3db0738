"""Requests to the API server cancelled while they connect leave no socket behind.

httpcore closes a new connection when its TLS handshake fails, but not when the handshake is
cancelled; the socket is then only closed by the garbage collector ("ResourceWarning: unclosed
transport"). ``cluster_transport`` closes it at once. Each request here is cancelled a little
later than the one before, so some are cancelled while connecting, some mid-handshake, some
after the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import warnings

import httpx2
import pytest
from lightkube import KubeConfig
from lightkube.config.client_adapter import AsyncClient as adapter_client
from lightkube.config.client_adapter import ConnectionParams
from lightkube.config.kubeconfig import SingleConfig
from lightkube.resources.core_v1 import Namespace

from mentatlab.engine.drivers.kubernetes import cluster_client, cluster_transport

STEPS = 80
STEP_SECONDS = 0.0005


async def cancelled_requests(config: SingleConfig, *, safe: bool) -> int:
    """Cancel ``STEPS`` requests at increasing delays; how many completed anyway."""
    completed = 0
    for step in range(STEPS):
        transport = cluster_transport(config) if safe else None
        params = ConnectionParams(timeout=httpx2.Timeout(10), transport=transport)  # type: ignore[arg-type]
        async with adapter_client(config, params) as http:
            request = asyncio.create_task(http.get("/version"))
            await asyncio.sleep(step * STEP_SECONDS)
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                response = await request
                assert response.status_code == 200
                completed += 1
    return completed


def unclosed_transports(*, safe: bool) -> int:
    config = KubeConfig.from_file(os.environ["KUBECONFIG"]).get()
    assert config is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        completed = asyncio.run(cancelled_requests(config, safe=safe))
        gc.collect()
    assert completed < STEPS  # some requests really were cancelled on their way
    return sum("unclosed transport" in str(w.message) for w in caught)


def test_cancelled_handshakes_close_their_sockets() -> None:
    assert unclosed_transports(safe=True) == 0


def test_without_it_httpcore_leaves_them_to_the_garbage_collector() -> None:
    # If this starts failing, httpcore closes cancelled handshakes itself: connections.py can go.
    assert unclosed_transports(safe=False) > 0


@pytest.mark.parametrize("single", [False, True])
def test_cluster_client_authenticates_with_the_kubeconfig(single: bool) -> None:
    config = KubeConfig.from_file(os.environ["KUBECONFIG"])

    async def default_namespace() -> Namespace:
        client = cluster_client(config.get() if single else config)
        try:
            return await client.get(Namespace, "default")
        finally:
            await client.close()

    namespace = asyncio.run(default_namespace())
    assert namespace.metadata is not None and namespace.metadata.name == "default"
