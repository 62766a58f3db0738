"""Test environment for the Kubernetes driver: the local control plane plus a fake kubelet.

Needs the control plane of ``hack/k8s`` (``make k8s-up; eval "$(make -s k8s-env)"``): these
tests talk to a real kube-apiserver, scheduler and controller-manager through ``KUBECONFIG``.
Each scenario gets a fresh namespace, a ConfigMap standing in for the FlowRun (a real object,
so the garbage collector keeps the pods it owns), a :class:`FakeKubelet` and a driver whose
pods land on the fake kubelet's Node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_kubelet import FakeKubelet
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Namespace, ServiceAccount

from mentatlab.engine.drivers.base import AttemptResult, AttemptSpec, ExecutionLimits
from mentatlab.engine.drivers.kubernetes import (
    KubernetesDriver,
    Owner,
    PodOptions,
    Timeouts,
    attempt_name,
    cluster_client,
)
from mentatlab.model.manifest import AgentManifest
from mentatlab.model.protocol import AgentEvent

FAST = Timeouts(
    request_seconds=10,
    watch_seconds=5,
    api_outage_seconds=20,
    start_seconds=60,
    unschedulable_seconds=5,
    image_pull_seconds=2,
    config_error_seconds=2,
    drain_seconds=5,
    deletion_seconds=15,
)


def client() -> AsyncClient:
    path = os.environ.get("KUBECONFIG")
    if not path:
        raise RuntimeError(
            "KUBECONFIG is not set: start the control plane with `make k8s-up` and "
            '`eval "$(make -s k8s-env)"` before running tests/k8s'
        )
    # Connections close even when a request is cancelled mid-handshake (see connections.py).
    return cluster_client(KubeConfig.from_file(path))


def cogpak(directory: Path, source: str) -> Path:
    """A Cog-Pak directory whose agent is ``python agent.py`` with ``source``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agent.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return directory


@dataclass
class Cluster:
    client: AsyncClient
    namespace: str
    owner: Owner
    kubelet: FakeKubelet
    manifests: dict[tuple[str, str], AgentManifest] = field(default_factory=dict)

    def options(self, **changes: Any) -> PodOptions:
        return PodOptions(
            owner=self.owner,
            flowrun="fr-test",
            node_selector=self.kubelet.node_selector,
            tolerations=self.kubelet.tolerations,
            agents=lambda agent, version: self.manifests.get((agent, version)),
            **changes,
        )

    def driver(self, **changes: Any) -> KubernetesDriver:
        return KubernetesDriver(
            self.client, namespace=self.namespace, options=self.options(**changes), timeouts=FAST
        )

    def pod_name(self, spec: AttemptSpec) -> str:
        return attempt_name(self.options(), spec.node_id, spec.attempt)

    def spec(self, image: str, **changes: Any) -> AttemptSpec:
        fields: dict[str, Any] = {
            "run_id": "r-1",
            "node_id": "work[0]",
            "attempt": 1,
            "agent_id": "test.agent",
            "agent_version": "1.0.0",
            "command": ("python", "agent.py"),
            "workdir": Path("/nonexistent"),  # Kubernetes runs the image, not a directory
            "image": image,
            "limits": ExecutionLimits(timeout_seconds=60, kill_grace_seconds=2),
        }
        fields.update(changes)
        return AttemptSpec(**fields)

    def manifest(self, **data: Any) -> None:
        body = {"id": "test.agent", "version": "1.0.0", "description": "test", **data}
        self.manifests["test.agent", "1.0.0"] = AgentManifest.model_validate(body)


@contextlib.asynccontextmanager
async def cluster(images: Mapping[str, Path]) -> AsyncIterator[Cluster]:
    kube = client()
    namespace = f"k8s-driver-{uuid.uuid4().hex[:8]}"
    try:
        await kube.create(Namespace.from_dict({"metadata": {"name": namespace}}))
        async with asyncio.timeout(60):  # pods need the namespace's default ServiceAccount
            while True:
                try:
                    await kube.get(ServiceAccount, "default", namespace=namespace)
                    break
                except ApiError:
                    await asyncio.sleep(0.3)
        stand_in = await kube.create(
            ConfigMap.from_dict({"metadata": {"name": "fr-test", "namespace": namespace}})
        )
        assert stand_in.metadata is not None and stand_in.metadata.uid is not None
        owner = Owner(api_version="v1", kind="ConfigMap", name="fr-test", uid=stand_in.metadata.uid)
        async with FakeKubelet(kube, images=images) as kubelet:
            yield Cluster(kube, namespace, owner, kubelet)
    finally:
        with contextlib.suppress(ApiError):
            await kube.delete(Namespace, namespace)
        await kube.close()


@dataclass
class Outcome:
    result: AttemptResult
    events: list[AgentEvent]


async def run(
    driver: KubernetesDriver,
    spec: AttemptSpec,
    *,
    cancel: asyncio.Event | None = None,
    on_event: Any = None,
) -> Outcome:
    events: list[AgentEvent] = []

    async def collect(event: AgentEvent) -> None:
        events.append(event)
        if on_event is not None:
            await on_event(event)

    async with asyncio.timeout(120):  # a broken driver fails the test instead of hanging it
        result = await driver.run_attempt(spec, on_event=collect, cancel=cancel or asyncio.Event())
    return Outcome(result, events)
