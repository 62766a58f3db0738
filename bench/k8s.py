"""Kubernetes: FlowRuns per minute, pods per second and a fan-out FlowRun, on one operator.

Runs against the local control plane (``hack/k8s``: real kube-apiserver, etcd, scheduler,
controller-manager): the one ``KUBECONFIG`` points at, or else one this section starts and
stops (after the other sections, so that an idle control plane does not take CPU from the
local engine's figures). The operator is ``mentatctl operator run`` as
a process of its own with its default settings (its Kubernetes client, lightkube, has no
client-side request rate limit); pods go to a
:class:`~mentatlab.testing.fake_kubelet.FakeKubelet` node, which runs the benchmark agent
as a real process, so every FlowRun computes real outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, ServiceAccount

from bench.common import AGENT_DIR, REPO, Section, Sizes
from bench.flows import chain, fanout
from mentatlab.engine.drivers.kubernetes import cluster_client
from mentatlab.k8s.objects import agent_to_cr, flowrun_cr
from mentatlab.k8s.status import FlowRunPhase
from mentatlab.model.flow import Flow
from mentatlab.model.kubernetes import DEFAULT_MAX_PARALLEL_PODS
from mentatlab.operator.resources import AgentResource, FlowRunResource, as_dict
from mentatlab.testing.fake_kubelet import FakeKubelet
from mentatlab.testing.operator_process import operator_argv
from mentatlab.validation import load_manifest

__all__ = ["run"]

_FINAL = {FlowRunPhase.SUCCEEDED.value, FlowRunPhase.FAILED.value, FlowRunPhase.CANCELLED.value}
_POLL_SECONDS = 0.25
_CRDS = [
    "crd/agents.mentatlab.io",
    "crd/flows.mentatlab.io",
    "crd/flowruns.mentatlab.io",
    "crd/agentdeployments.mentatlab.io",
]


def run(sizes: Sizes, workdir: Path) -> Section:
    section = Section("k8s")
    with _control_plane() as kubeconfig:
        started = "started for this section" if kubeconfig.started else "already running"
        section.details["control_plane"] = started
        _install_crds()
        workdir.mkdir(parents=True, exist_ok=True)
        asyncio.run(_measure(section, sizes, kubeconfig.path, workdir))
    return section


@dataclass(frozen=True)
class _KubeConfig:
    path: Path
    started: bool
    """Whether this section started the control plane (and stops it)."""


@contextlib.contextmanager
def _control_plane() -> Iterator[_KubeConfig]:
    """The control plane of ``KUBECONFIG``, or the local one (``hack/k8s``), started if it is
    not running and then stopped; its ``kubectl`` goes first on ``PATH`` meanwhile."""
    if os.environ.get("KUBECONFIG"):
        yield _KubeConfig(Path(os.environ["KUBECONFIG"]), started=False)
        return
    up = subprocess.run(
        [str(REPO / "hack" / "k8s" / "up.sh")], check=True, capture_output=True, text=True
    )
    started = "already up" not in up.stdout + up.stderr
    exports = subprocess.run(
        ["bash", "-c", 'eval "$(hack/k8s/env.sh)"; printf "%s\\n%s" "$KUBECONFIG" "$PATH"'],  # noqa: S607
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kubeconfig, path = exports.split("\n", 1)
    saved_path = os.environ["PATH"]
    os.environ["KUBECONFIG"], os.environ["PATH"] = kubeconfig, path
    try:
        yield _KubeConfig(Path(kubeconfig), started=started)
    finally:
        del os.environ["KUBECONFIG"]
        os.environ["PATH"] = saved_path
        if started:
            subprocess.run(
                [str(REPO / "hack" / "k8s" / "down.sh")], check=False, capture_output=True
            )


def _install_crds() -> None:
    subprocess.run(
        ["kubectl", "apply", "--server-side", "-f", str(REPO / "deploy" / "crds")],  # noqa: S607
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["kubectl", "wait", "--for=condition=Established", "--timeout=60s", *_CRDS],  # noqa: S607
        check=True,
        capture_output=True,
    )


async def _measure(section: Section, sizes: Sizes, kubeconfig: Path, workdir: Path) -> None:
    client = cluster_client(KubeConfig.from_file(kubeconfig))
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    manifest, findings = load_manifest(AGENT_DIR)
    if manifest is None or manifest.image is None:
        raise RuntimeError(f"the benchmark agent's manifest is invalid: {findings}")
    try:
        await client.create(cast(Namespace, Namespace.from_dict({"metadata": {"name": namespace}})))
        await _wait_for_service_account(client, namespace)
        await _api_write_rate(section, client, namespace, sizes.write_probe)
        await client.create(AgentResource.from_dict(agent_to_cr(manifest, namespace=namespace)))
        async with (
            FakeKubelet(client, images={manifest.image: AGENT_DIR}) as kubelet,
            _operator(kubeconfig, namespace, workdir) as operator_pid,
        ):
            section.details["operator_pid"] = operator_pid
            runs = _FlowRuns(client, namespace, kubelet)
            try:
                # The operator's start-up is not part of any figure: one FlowRun warms it up.
                warmup = time.perf_counter()
                await runs.finish(await runs.submit([chain(1).flow()]))
                section.details["warmup_seconds"] = round(time.perf_counter() - warmup, 3)
                await _flowruns_per_minute(section, runs, sizes.k8s_flowruns)
                await _fanout(section, runs, sizes.k8s_fanout)
            finally:
                # While the operator still runs: it removes the FlowRuns' finalizers, without
                # which the namespace would never finish terminating.
                await runs.delete_all()
    finally:
        with contextlib.suppress(ApiError):
            await client.delete(Namespace, namespace)
        await client.close()


async def _api_write_rate(
    section: Section, client: AsyncClient, namespace: str, count: int
) -> None:
    """ConfigMaps created by one client, as many at once as the operator creates pods: what
    the API server and etcd write per second here, the ceiling of every Kubernetes figure."""
    at_once = asyncio.Semaphore(DEFAULT_MAX_PARALLEL_PODS)

    async def create(index: int) -> None:
        config_map = {
            "metadata": {"name": f"write-probe-{index}", "namespace": namespace},
            "data": {"i": str(index)},
        }
        async with at_once:
            await client.create(cast(ConfigMap, ConfigMap.from_dict(config_map)))

    start = time.perf_counter()
    await asyncio.gather(*(create(index) for index in range(count)))
    section.figures["k8s_api_writes_per_second"] = round(
        count / (time.perf_counter() - start), 1
    )  # left for the namespace's deletion to remove


async def _wait_for_service_account(client: AsyncClient, namespace: str) -> None:
    async with asyncio.timeout(60):  # pods need the namespace's default ServiceAccount
        while True:
            try:
                await client.get(ServiceAccount, "default", namespace=namespace)
                return
            except ApiError:
                await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def _operator(kubeconfig: Path, namespace: str, workdir: Path) -> Any:
    """``mentatctl operator run`` watching ``namespace``, with its own run store."""
    log = (workdir / "operator.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        *operator_argv(kubeconfig, namespace, workdir / "operator-home"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    try:
        yield process.pid
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


class _FlowRuns:
    def __init__(self, client: AsyncClient, namespace: str, kubelet: FakeKubelet) -> None:
        self.client = client
        self.namespace = namespace
        self._kubelet = kubelet

    async def submit(self, flows: list[dict[str, Any]]) -> list[str]:
        async def one(document: dict[str, Any]) -> str:
            obj = flowrun_cr(Flow.model_validate(document), namespace=self.namespace)
            # Its pods go to the fake kubelet's node, which runs the agent for real.
            obj["spec"]["nodeSelector"] = dict(self._kubelet.node_selector)
            obj["spec"]["tolerations"] = [t.to_dict() for t in self._kubelet.tolerations]
            created = await self.client.create(FlowRunResource.from_dict(obj))
            assert created.metadata is not None and created.metadata.name is not None
            return str(created.metadata.name)

        return list(await asyncio.gather(*(one(document) for document in flows)))

    async def delete_all(self, timeout: float = 120) -> None:
        await self.client.deletecollection(FlowRunResource, namespace=self.namespace)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while [
                    obj async for obj in self.client.list(FlowRunResource, namespace=self.namespace)
                ]:
                    await asyncio.sleep(_POLL_SECONDS)

    async def finish(self, names: list[str], timeout: float = 3600) -> dict[str, tuple[str, float]]:
        """Wait until every FlowRun in ``names`` has a final phase: (phase, when seen)."""
        done: dict[str, tuple[str, float]] = {}
        async with asyncio.timeout(timeout):
            while len(done) < len(names):
                async for obj in self.client.list(FlowRunResource, namespace=self.namespace):
                    data = as_dict(obj)
                    name = data["metadata"]["name"]
                    phase = (data.get("status") or {}).get("phase")
                    if name in names and name not in done and phase in _FINAL:
                        done[name] = (phase, time.perf_counter())
                await asyncio.sleep(_POLL_SECONDS)
        return done


async def _flowruns_per_minute(section: Section, runs: _FlowRuns, count: int) -> None:
    pods: dict[str, float] = {}
    watcher = asyncio.create_task(_watch_pods(runs, pods))
    try:
        start = time.perf_counter()
        names = await runs.submit([chain(1).flow() for _ in range(count)])
        done = await runs.finish(names)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    seconds = max(when for _, when in done.values()) - start
    failed = sorted(name for name, (phase, _) in done.items() if phase != "Succeeded")
    section.figures["k8s_flowruns"] = count
    section.details["k8s_flowruns_seconds"] = round(seconds, 3)
    section.samples["k8s_flowrun_seconds"] = sorted(
        round(when - start, 3) for _, when in done.values()
    )
    if failed:
        section.missing("k8s_flowruns_per_minute", f"{len(failed)} FlowRuns did not succeed")
    else:
        section.figures["k8s_flowruns_per_minute"] = round(count / seconds * 60, 1)
    created = sorted(pods.values())
    if len(created) >= 2 and created[-1] > created[0]:
        section.figures["k8s_pods_per_second"] = round(
            (len(created) - 1) / (created[-1] - created[0]), 2
        )
    else:
        section.missing("k8s_pods_per_second", f"{len(created)} pods seen: too few for a rate")


async def _watch_pods(runs: _FlowRuns, seen: dict[str, float]) -> None:
    """When each pod of the namespace first appeared (the operator created it)."""
    while True:
        with contextlib.suppress(ApiError, TimeoutError):
            async with asyncio.timeout(70):
                async for kind, pod in runs.client.watch(
                    Pod, namespace=runs.namespace, server_timeout=60
                ):
                    name = pod.metadata.name if pod.metadata else None
                    if kind == "ADDED" and name is not None:
                        seen.setdefault(name, time.perf_counter())


async def _fanout(section: Section, runs: _FlowRuns, width: int) -> None:
    start = time.perf_counter()
    names = await runs.submit([fanout(width).flow()])
    done = await runs.finish(names)
    phase, when = done[names[0]]
    section.figures["k8s_fanout_nodes"] = width
    if phase != "Succeeded":
        section.missing("k8s_fanout_seconds", f"the fan-out FlowRun ended {phase}")
    else:
        section.figures["k8s_fanout_seconds"] = round(when - start, 3)
        section.figures["k8s_fanout_nodes_per_second"] = round((width + 2) / (when - start), 2)
