"""Server runs on Kubernetes: a real ``mentatctl serve`` process runs the pods of runs that ask
for it on the real control plane, where the fake kubelet runs their agents as processes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from k8s_cluster import Cluster, cluster
from lightkube.resources.core_v1 import ConfigMap, Pod
from operator_harness import SLEEPY, make_agent

from mentatlab.api.kubernetes import LABEL_RUN_ID, MANAGED_BY, anchor_name
from mentatlab.client import AsyncClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from api_harness import Server, sse_events, ticker_flow, write_agents

SHOUT = """\
import json, sys
envelope = json.load(sys.stdin)
text = envelope["inputs"].get("text", "")
print(json.dumps({"type": "progress", "percent": 50}), flush=True)
print(json.dumps({"type": "output", "pin": "result", "value": text + "!"}), flush=True)
"""
"""An agent that answers its ``text`` input with an exclamation mark added."""

# The engine's own events, whose sequence does not depend on where agents execute.
_LIFECYCLE = {"run.status", "node.status", "progress", "output"}


def _flow(*node_types: str) -> dict[str, Any]:
    """Agent nodes of ``node_types`` in a chain, each feeding ``result`` to the next."""
    ids = [f"n{i}" for i in range(len(node_types))]
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": "t.chain", "name": "chain"},
        "graph": {
            "nodes": [{"id": i, "type": t} for i, t in zip(ids, node_types, strict=True)],
            "edges": [
                {"from": f"{a}.result", "to": f"{b}.text"} for a, b in itertools.pairwise(ids)
            ],
        },
    }


def _on_fake_kubelet(env: Cluster, **options: Any) -> dict[str, Any]:
    """Run options whose pods land on the fake kubelet's node."""
    return {
        "nodeSelector": dict(env.kubelet.node_selector),
        "tolerations": [t.to_dict() for t in env.kubelet.tolerations],
        **options,
    }


async def _server(tmp_path: Path, *options: str) -> Server:
    server = Server(
        home=tmp_path / "home",
        agents=tmp_path / "agents",
        log=tmp_path / "server.log",
        options=list(options),
    )
    await asyncio.to_thread(server.start)
    return server


async def _k8s_server(tmp_path: Path, env: Cluster, *options: str) -> Server:
    """A server whose Kubernetes executor runs pods in the namespace of ``env``."""
    kubeconfig = os.environ["KUBECONFIG"]  # set by conftest's control_plane fixture
    return await _server(
        tmp_path, "--kubeconfig", kubeconfig, "--namespace", env.namespace, *options
    )


@contextlib.asynccontextmanager
async def _served(
    tmp_path: Path, images: dict[str, Path]
) -> AsyncIterator[tuple[Cluster, Server, AsyncClient]]:
    """A namespace with a fake kubelet, a server running pods there, and a client of it."""
    async with cluster(images) as env:
        server = await _k8s_server(tmp_path, env)
        try:
            async with AsyncClient(server.url, api_key=server.admin_key) as client:
                yield env, server, client
        finally:
            await asyncio.to_thread(server.stop)


async def _follow(server: Server, run_id: str) -> list[dict[str, Any]]:
    """The run's events over SSE, from the start until the stream ends with the run."""
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with (
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http,
        http.stream("GET", f"/api/v1/runs/{run_id}/events") as response,
    ):
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines()]
    return [event for event in sse_events(iter(lines)) if "comment" not in event]


def _shape(events: list[dict[str, Any]]) -> list[tuple[str, str | None, Any]]:
    return [
        (e["event"], e["data"]["node"], e["data"]["data"].get("status"))
        for e in events
        if e["event"] in _LIFECYCLE
    ]


async def _until(check: Callable[[], Any], message: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


async def _pods(env: Cluster) -> list[Pod]:
    return [pod async for pod in env.client.list(Pod, namespace=env.namespace)]


async def _anchors(env: Cluster) -> list[ConfigMap]:
    labels: dict[str, Any] = {"app.kubernetes.io/managed-by": MANAGED_BY}
    return [cm async for cm in env.client.list(ConfigMap, namespace=env.namespace, labels=labels)]


def test_a_run_executes_as_pods_and_streams_like_a_local_run(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "agents" / "shout", "t.shout", SHOUT)

    async def scenario() -> None:
        async with _served(tmp_path, {image: cogpak}) as (env, server, client):
            flow = _flow("t.shout", "t.shout")
            inputs = {"n0.text": "hi"}
            options = _on_fake_kubelet(env, podGC="Never")  # keep pods to inspect
            ref = await client.create_run(flow, inputs, kubernetes=options)
            remote = await _follow(server, ref.id)
            record = await client.get_run(ref.id)
            assert record.status.value == "succeeded", record.error
            assert record.executor is not None and record.executor.value == "kubernetes"
            assert record.outputs == {"n1": {"result": "hi!!"}}

            # Each agent node ran as a pod owned by the run's anchor ConfigMap.
            pods = await _pods(env)
            assert len(pods) == 2
            names = [p.metadata.name for p in pods if p.metadata and p.metadata.name]
            assert sorted(env.kubelet.started_pods) == sorted(names)
            anchor = await env.client.get(ConfigMap, anchor_name(ref.id), namespace=env.namespace)
            assert anchor.metadata is not None and anchor.metadata.labels
            assert anchor.metadata.labels[LABEL_RUN_ID] == ref.id
            for pod in pods:
                assert pod.metadata is not None and pod.metadata.ownerReferences
                owner = pod.metadata.ownerReferences[0]
                assert (owner.kind, owner.uid) == ("ConfigMap", anchor.metadata.uid)

            # The same flow on the server's own engine: the same stream.
            local_ref = await client.create_run(flow, inputs)
            local = await _follow(server, local_ref.id)
            local_record = await client.get_run(local_ref.id)
            assert local_record.executor is not None and local_record.executor.value == "local"
            assert local_record.outputs == record.outputs
            assert _shape(remote) == _shape(local)
            assert [int(e["id"]) for e in remote] == list(range(1, len(remote) + 1))

            # Deleting the anchor deletes everything the run left.
            await env.client.delete(ConfigMap, anchor_name(ref.id), namespace=env.namespace)
            await _until(lambda: _no_pods(env), "the pods to be garbage-collected")

    asyncio.run(scenario())


async def _no_pods(env: Cluster) -> bool:
    return not await _pods(env)


def test_cancelling_a_run_stops_its_pod_and_cleans_up(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "agents" / "sleepy", "t.sleepy", SLEEPY)

    async def scenario() -> None:
        async with _served(tmp_path, {image: cogpak}) as (env, _, client):
            options = _on_fake_kubelet(env)  # podGC OnRunCompletion
            ref = await client.create_run(_flow("t.sleepy"), kubernetes=options)

            async def running() -> bool:
                return any(
                    p.status is not None and p.status.phase == "Running" for p in await _pods(env)
                )

            await _until(running, "the agent's pod to run")
            await client.cancel_run(ref.id)

            async def finished() -> Any:
                record = await client.get_run(ref.id)
                return record if record.finished_at else None

            record = await _until(finished, "the run to end")
            assert record.status.value == "cancelled"
            assert record.nodes["n0"].status.value == "cancelled"
            await _until(lambda: _no_pods(env), "the pod to be deleted")

            async def no_anchor() -> bool:
                return not await _anchors(env)

            await _until(no_anchor, "the anchor to be deleted")
            assert len(env.kubelet.started_pods) == 1

    asyncio.run(scenario())


def test_kubernetes_runs_are_refused_with_a_reason(tmp_path: Path) -> None:
    write_agents(tmp_path / "agents")  # t.ticker, whose manifest names no image
    make_agent(tmp_path / "agents" / "shout", "t.shout", SHOUT)  # has an image
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mentatlab.io/v1\nkind: Policy\nmetadata: {name: t}\n"
        "podSecurity: {allowedServiceAccounts: [agents-readonly]}\n"
    )

    async def scenario() -> None:
        async with cluster({}) as env:
            plain = await _server(tmp_path)
            try:
                async with httpx.AsyncClient(
                    base_url=plain.url, headers={"Authorization": f"Bearer {plain.admin_key}"}
                ) as http:
                    body = {"flow": ticker_flow(steps=1, interval=0), "kubernetes": {}}
                    response = await http.post("/api/v1/runs", json=body)
                assert response.status_code == 422
                assert response.json()["type"].endswith(":no-kubernetes-executor")
            finally:
                await asyncio.to_thread(plain.stop)
            server = await _k8s_server(tmp_path, env, "--policy", str(policy))
            try:
                async with httpx.AsyncClient(
                    base_url=server.url, headers={"Authorization": f"Bearer {server.admin_key}"}
                ) as http:
                    body = {"flow": ticker_flow(steps=1, interval=0), "kubernetes": {}}
                    response = await http.post("/api/v1/runs", json=body)
                    assert response.status_code == 422
                    problem = response.json()
                    assert problem["type"].endswith(":not-runnable-on-kubernetes")
                    assert "t.ticker" in problem["detail"] and "no image" in problem["detail"]
                    body["kubernetes"] = {"tolerations": [{"key": 5}]}
                    response = await http.post("/api/v1/runs", json=body)
                    assert response.status_code == 422
                    assert "kubernetes: " in response.json()["detail"]  # the toleration
                    # The policy checks the pods a run would create, as the operator does.
                    body = {
                        "flow": _flow("t.shout"),
                        "inputs": {"n0.text": "hi"},
                        "kubernetes": {"serviceAccountName": "cluster-admin"},
                    }
                    response = await http.post("/api/v1/runs", json=body)
                    assert response.status_code == 422
                    assert "policy.service-account" in response.json()["detail"]
                    body["kubernetes"] = {"serviceAccountName": "agents-readonly"}
                    accepted = await http.post("/api/v1/runs", json=body)
                    assert accepted.status_code == 201, accepted.text
                    await http.post(f"/api/v1/runs/{accepted.json()['id']}/cancel")
                    runs = (await http.get("/api/v1/runs")).json()["items"]
                # nothing was recorded for a refused run
                assert [run["id"] for run in runs] == [accepted.json()["id"]]
            finally:
                await asyncio.to_thread(server.stop)

    asyncio.run(scenario())
