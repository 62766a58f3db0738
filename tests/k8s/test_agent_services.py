"""Long-running agents on the real control plane: AgentDeployments become a Deployment, a
Service and an autoscaler the operator keeps in shape; agents' maxConcurrent holds across
FlowRuns."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lightkube import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import Service
from lightkube.types import PatchType
from operator_harness import Operated, flow_of, make_agent, operated

from mentatlab.k8s.naming import agent_object_name
from mentatlab.operator.resources import AgentDeploymentResource, as_dict

T = TypeVar("T")

SERVER = "import time\ntime.sleep(3600)\n"


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 60) -> T:
    """The first truthy result of ``probe``, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await probe()
        except ApiError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{probe} never held")
        await asyncio.sleep(0.2)


async def deploy(env: Operated, name: str, spec: dict[str, Any]) -> None:
    obj: dict[str, Any] = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "AgentDeployment",
        "metadata": {"name": name, "namespace": env.namespace},
        "spec": spec,
    }
    await env.cluster.client.create(AgentDeploymentResource(obj))


async def status_of(env: Operated, name: str) -> dict[str, Any]:
    obj = await env.cluster.client.get(AgentDeploymentResource, name, namespace=env.namespace)
    return as_dict(obj).get("status") or {}


def test_an_agent_deployment_is_kept_as_deployment_service_and_autoscaler(
    tmp_path: Path,
) -> None:
    _, cogpak = make_agent(
        tmp_path / "server",
        "t.server",
        SERVER,
        longRunning=True,
        scaling={"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
        resources={"limits": {"cpu": "500m", "memory": "256Mi"}},
        env=["MODE=serve"],
    )
    agent = agent_object_name("t.server", "1.0.0")

    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            kube, ns = env.cluster.client, env.namespace
            await env.register(cogpak)
            await deploy(env, "server", {"agentRef": agent})

            async def ready() -> dict[str, Any] | None:
                status = await status_of(env, "server")
                conditions = {c["type"]: c for c in status.get("conditions", [])}
                return status if conditions.get("Ready", {}).get("status") == "True" else None

            status = await eventually(ready)
            assert status["readyReplicas"] == 2 and status["serviceName"] == "server"

            deployment = await kube.get(Deployment, "server", namespace=ns)
            assert deployment.metadata is not None and deployment.spec is not None
            owner = deployment.metadata.ownerReferences[0]  # type: ignore[index]
            assert (owner.kind, owner.name, owner.controller) == ("AgentDeployment", "server", True)
            pod_spec = deployment.spec.template.spec
            assert pod_spec is not None and pod_spec.securityContext is not None
            assert pod_spec.securityContext.runAsNonRoot is True
            assert pod_spec.automountServiceAccountToken is False
            container = pod_spec.containers[0]
            assert container.image == "test.local/t.server:1.0.0"
            assert container.command == ["python", "agent.py"]
            assert container.securityContext is not None
            assert container.securityContext.readOnlyRootFilesystem is True
            assert container.securityContext.capabilities.drop == ["ALL"]  # type: ignore[union-attr]
            assert container.resources is not None
            assert container.resources.limits == {"cpu": "500m", "memory": "256Mi"}
            env_vars = {var.name: var.value for var in container.env or []}
            assert env_vars["MODE"] == "serve" and env_vars["MENTAT_PORT"] == "8080"
            assert container.ports[0].containerPort == 8080  # type: ignore[index]

            service = await kube.get(Service, "server", namespace=ns)
            assert service.spec is not None and service.spec.ports is not None
            assert service.spec.selector == deployment.spec.selector.matchLabels
            assert (service.spec.ports[0].port, service.spec.ports[0].targetPort) == (80, "http")

            hpa = await kube.get(HorizontalPodAutoscaler, "server", namespace=ns)
            assert hpa.spec is not None and hpa.spec.metrics is not None
            assert (hpa.spec.minReplicas, hpa.spec.maxReplicas) == (2, 5)
            target = hpa.spec.metrics[0].resource.target  # type: ignore[union-attr]
            assert target.averageUtilization == 60
            assert hpa.spec.scaleTargetRef.name == "server"

            pods = [p for p in await env.pods() if p.status and p.status.phase == "Running"]
            assert len(pods) == 2

            shown = subprocess.run(
                ["kubectl", "get", "mlad", "-n", ns, "server"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert shown[:4] == ["NAME", "AGENT", "REPLICAS", "READY"]
            assert shown[6:9] == [agent, "2", "2"]

            # A fixed count instead: the autoscaler goes, the Deployment follows.
            await kube.patch(
                AgentDeploymentResource,
                "server",
                {"spec": {"scaling": None, "replicas": 3}},
                namespace=ns,
                patch_type=PatchType.MERGE,
            )

            async def three_ready() -> bool:
                return (await status_of(env, "server")).get("readyReplicas") == 3

            await eventually(three_ready)

            async def autoscaler_gone() -> bool:
                try:
                    await kube.get(HorizontalPodAutoscaler, "server", namespace=ns)
                except ApiError as exc:
                    return exc.status.code == 404
                return False

            await eventually(autoscaler_gone)

            # Deleted by hand: put back by the next reconciliation.
            first_uid = deployment.metadata.uid
            await kube.delete(Deployment, "server", namespace=ns)

            async def recreated() -> bool:
                again = await kube.get(Deployment, "server", namespace=ns)
                return again.metadata is not None and again.metadata.uid != first_uid

            await eventually(recreated)

            # Deleting the AgentDeployment garbage-collects what it owns.
            await kube.delete(AgentDeploymentResource, "server", namespace=ns)

            async def collected() -> bool:
                try:
                    await kube.get(Service, "server", namespace=ns)
                except ApiError as exc:
                    return exc.status.code == 404
                return False

            await eventually(collected, timeout=120)

    asyncio.run(scenario())


def test_an_agent_deployment_of_an_unfit_agent_is_not_ready_and_creates_nothing(
    tmp_path: Path,
) -> None:
    _, cogpak = make_agent(tmp_path / "batch", "t.batch", SERVER)  # not longRunning

    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            await env.register(cogpak)
            await deploy(env, "batch", {"agentRef": agent_object_name("t.batch", "1.0.0")})
            await deploy(env, "ghost", {"agentRef": "no-such-agent"})
            for name, reason in (("batch", "is not longRunning"), ("ghost", "not found")):

                async def refused(name: str = name) -> dict[str, Any] | None:
                    conditions = (await status_of(env, name)).get("conditions") or []
                    return conditions[0] if conditions else None

                ready = await eventually(refused)
                assert (ready["status"], ready["reason"]) == ("False", "Invalid")
                assert reason in ready["message"]
            deployments = [
                d async for d in env.cluster.client.list(Deployment, namespace=env.namespace)
            ]
            assert deployments == []

    asyncio.run(scenario())


NAP = """\
import json, sys, time
json.load(sys.stdin)
time.sleep(0.5)
print(json.dumps({"type": "output", "pin": "result", "value": "ok"}))
"""


def test_max_concurrent_bounds_an_agent_across_flowruns(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "nap", "t.nap", NAP, resources={"maxConcurrent": 2})

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            flow = flow_of([{"id": f"n{i}", "type": "t.nap"} for i in range(3)])
            names = [await env.submit(flow, maxParallel=3) for _ in range(3)]
            peak = 0
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                live = [
                    pod
                    for pod in await env.pods()
                    if pod.status is not None and pod.status.phase in {"Pending", "Running"}
                ]
                peak = max(peak, len(live))
                phases = [
                    ((await env.flowrun(name)).get("status") or {}).get("phase") for name in names
                ]
                if all(phase in {"Succeeded", "Failed"} for phase in phases):
                    break
                await asyncio.sleep(0.05)
            assert phases == ["Succeeded"] * 3
            assert peak == 2  # nine attempts in three FlowRuns, never more than two pods
            assert len(env.cluster.kubelet.started_pods) == 9

    asyncio.run(scenario())
