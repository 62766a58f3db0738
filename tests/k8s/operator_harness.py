"""An operator running in the test's event loop against the real control plane.

Pods land on the fake kubelet's node, which runs the agents of the repository's Cog-Paks as
real processes (``images`` maps each image to its Cog-Pak), so flows compute real outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_kubelet import FAKE_KUBELET_LABEL, FAKE_KUBELET_VALUE
from k8s_cluster import FAST, Cluster, cluster
from lightkube import ApiError
from lightkube.resources.core_v1 import Event, Pod
from lightkube.types import PatchType

from mentatlab.k8s.objects import agent_to_cr, flowrun_cr
from mentatlab.model.flow import Flow
from mentatlab.model.policy import Policy
from mentatlab.operator.app import OperatorOptions, run_operator
from mentatlab.operator.flowruns import OperatorContext
from mentatlab.operator.resources import AgentResource, FlowRunResource, as_dict
from mentatlab.store import SqlRunStore, open_store
from mentatlab.testing.operator_process import operator_argv
from mentatlab.validation import default_policy, load_flow, load_manifest
from mentatlab.validation.catalog import AgentCatalog

REPO = Path(__file__).resolve().parents[2]

FLAKY = """\
import json, os, sys
json.load(sys.stdin)
if os.environ["MENTAT_ATTEMPT"] == "1":
    sys.exit(3)
print(json.dumps({"type": "output", "pin": "result", "value": "ok"}))
"""
"""An agent whose first attempt exits with code 3 and whose next ones succeed."""

SLEEPY = """\
import json, os, sys, time
json.load(sys.stdin)
deadline = time.time() + 60
while time.time() < deadline and not os.path.exists("release"):  # the test releases it
    time.sleep(0.1)
print(json.dumps({"type": "output", "pin": "result", "value": "rested"}))
"""
"""An agent that runs until the file ``release`` appears in its Cog-Pak (at most 60 s)."""


@dataclass
class Operated:
    """A namespace with agents registered and an operator watching it."""

    cluster: Cluster
    store: SqlRunStore
    home: Path
    _stop: asyncio.Event
    _task: asyncio.Task[None] | None = None
    policy: Policy = field(default_factory=default_policy)

    @property
    def namespace(self) -> str:
        return self.cluster.namespace

    def start(self) -> None:
        self._stop = asyncio.Event()
        context = OperatorContext(
            client=self.cluster.client,
            store=self.store,
            timeouts=FAST,
            node_selector=self.cluster.kubelet.node_selector,
            tolerations=self.cluster.kubelet.tolerations,
            status_interval_seconds=0.2,
            resync_seconds=1.0,
            policy=self.policy,
        )
        options = OperatorOptions(namespaces=(self.namespace,), context=context)
        self._task = asyncio.create_task(run_operator(options, stop=self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            async with asyncio.timeout(60):
                await self._task
            self._task = None

    async def register(self, *cogpaks: Path) -> None:
        for directory in cogpaks:
            manifest, findings = load_manifest(directory)
            assert manifest is not None, findings
            obj = agent_to_cr(manifest, namespace=self.namespace)
            await self.cluster.client.create(AgentResource(obj))

    async def submit(self, flow: Flow, inputs: Mapping[str, Any] | None = None, **spec: Any) -> str:
        obj = flowrun_cr(flow, inputs, namespace=self.namespace)
        obj["spec"].update(spec)
        created = await self.cluster.client.create(FlowRunResource(obj))
        assert created.metadata is not None and created.metadata.name is not None
        return created.metadata.name

    async def flowrun(self, name: str) -> dict[str, Any]:
        obj = await self.cluster.client.get(FlowRunResource, name, namespace=self.namespace)
        return as_dict(obj)

    async def wait_for(self, name: str, phases: set[str], timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = await self.flowrun(name)
            if (obj.get("status") or {}).get("phase") in phases:
                return obj
            await asyncio.sleep(0.2)
        raise AssertionError(f"FlowRun {name} never reached {phases}: {obj.get('status')}")

    async def wait_for_node(self, name: str, node: str, phase: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = (await self.flowrun(name)).get("status") or {}
            if (status.get("nodes") or {}).get(node, {}).get("phase") == phase:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"node {node} of {name} never reached {phase}")

    async def wait_for_attempt(
        self, name: str, node: str, attempt: int, timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = (await self.flowrun(name)).get("status") or {}
            entry = (status.get("nodes") or {}).get(node, {})
            if entry.get("attempts") == attempt and entry.get("phase") == "Running":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"node {node} of {name} never ran attempt {attempt}")

    async def patch_spec(self, name: str, changes: Mapping[str, Any]) -> None:
        await self.cluster.client.patch(
            FlowRunResource,
            name,
            {"spec": dict(changes)},
            namespace=self.namespace,
            patch_type=PatchType.MERGE,
        )

    async def pods(self) -> list[Pod]:
        return [pod async for pod in self.cluster.client.list(Pod, namespace=self.namespace)]

    async def pod_phases(self) -> dict[str, str | None]:
        """Name -> phase of every pod in the namespace."""
        return {
            pod.metadata.name: pod.status.phase if pod.status else None
            for pod in await self.pods()
            if pod.metadata is not None and pod.metadata.name is not None
        }

    async def wait_for_pods(self, expected: Mapping[str, str | None], timeout: float = 30) -> None:
        """Until the namespace holds exactly the pods ``expected`` (name -> phase)."""
        deadline = time.monotonic() + timeout
        while (phases := await self.pod_phases()) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"pods are {phases}, not {dict(expected)}")
            await asyncio.sleep(0.2)

    async def events(self, name: str, *, reasons: set[str], timeout: float = 30) -> list[Event]:
        """The Kubernetes Events about ``name``, once they include every one of ``reasons``
        (the operator posts Events in the background, a moment after the status)."""
        fields: dict[str, Any] = {"involvedObject.name": name}
        deadline = time.monotonic() + timeout
        while True:
            events = [
                event
                async for event in self.cluster.client.list(
                    Event, namespace=self.namespace, fields=fields
                )
            ]
            seen = {event.reason for event in events}
            if reasons <= seen:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"events of {name} are {sorted(seen)}, not {reasons}")
            await asyncio.sleep(0.2)


def images() -> dict[str, Path]:
    """Image -> Cog-Pak for every agent of the repository."""
    catalog = AgentCatalog([REPO / "agents"])
    return {
        agent.manifest.image: agent.directory
        for agent in catalog.agents
        if agent.manifest.image is not None
    }


def example(name: str) -> Flow:
    flow, findings = load_flow(REPO / "examples" / name, AgentCatalog([REPO / "agents"]))
    assert flow is not None, findings
    return flow


@contextlib.asynccontextmanager
async def operated(
    home: Path, extra_images: Mapping[str, Path] | None = None, *, policy: Policy | None = None
) -> AsyncIterator[Operated]:
    async with cluster({**images(), **(extra_images or {})}) as env:
        with open_store(home) as store:
            harness = Operated(env, store, home, asyncio.Event(), policy=policy or default_policy())
            harness.start()
            try:
                yield harness
            finally:
                with contextlib.suppress(ApiError):
                    await harness.stop()


def make_agent(directory: Path, agent_id: str, source: str, **manifest: Any) -> tuple[str, Path]:
    """A one-file Python Cog-Pak; returns its image (for the fake kubelet) and directory."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agent.py").write_text(source, encoding="utf-8")
    image = f"test.local/{agent_id}:1.0.0"
    document = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Agent",
        "id": agent_id,
        "version": "1.0.0",
        "image": image,
        "description": "test agent",
        "command": ["python", "agent.py"],
        "inputs": [{"name": "text", "type": "json", "required": False}],
        "outputs": [{"name": "result", "type": "string"}],
        **manifest,
    }
    (directory / "manifest.yaml").write_text(json.dumps(document), encoding="utf-8")
    return image, directory


def flow_of(
    nodes: list[dict[str, Any]],
    edges: list[tuple[str, str]] = (),  # type: ignore[assignment]
    **run_config: Any,
) -> Flow:
    return Flow.model_validate(
        {
            "apiVersion": "mentatlab.io/v1",
            "kind": "Flow",
            "meta": {"id": "test.flow", "name": "test"},
            "graph": {"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]},
            "runConfig": run_config,
        }
    )


async def operator_process(kubeconfig: Path, namespace: str, home: Path) -> Process:
    """``mentatctl operator run`` as a process of its own, as it runs in a cluster."""
    return await asyncio.create_subprocess_exec(
        *operator_argv(kubeconfig, namespace, home),
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def on_fake_kubelet(flowrun: dict[str, Any]) -> dict[str, Any]:
    """A FlowRun object whose pods go to the fake kubelet's node (which runs real agents)."""
    flowrun["spec"]["nodeSelector"] = {FAKE_KUBELET_LABEL: FAKE_KUBELET_VALUE}
    flowrun["spec"]["tolerations"] = [
        {
            "key": FAKE_KUBELET_LABEL,
            "operator": "Equal",
            "value": FAKE_KUBELET_VALUE,
            "effect": "NoSchedule",
        }
    ]
    return flowrun
