"""The operator enforces the security policy: a FlowRun that breaks it fails before any pod."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lightkube.resources.apps_v1 import Deployment
from operator_harness import flow_of, make_agent, operated

from mentatlab.k8s.naming import agent_object_name
from mentatlab.model.policy import Policy
from mentatlab.operator.resources import AgentDeploymentResource, as_dict

ECHO = """\
import json, sys
json.load(sys.stdin)
print(json.dumps({"type": "output", "pin": "result", "value": "ok"}))
"""


def _refusal(status: dict[str, Any]) -> str:
    assert status["phase"] == "Failed", status
    reasons = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert reasons == {
        "Ready": ("True", "PolicyViolation"),
        "Succeeded": ("False", "PolicyViolation"),
        "Failed": ("True", "PolicyViolation"),
    }
    message: str = status["message"]
    return message


def test_a_flowrun_whose_agent_breaks_the_default_policy_gets_no_pods(tmp_path: Path) -> None:
    image, cogpak = make_agent(
        tmp_path / "greedy",
        "test.greedy",
        ECHO,
        resources={"limits": {"memory": "128Gi"}},  # the default policy allows 64Gi at most
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            name = await env.submit(flow_of([{"id": "g", "type": "test.greedy"}]))
            message = _refusal((await env.wait_for(name, {"Failed"}))["status"])
            assert "policy.resources-maximum" in message and "'default'" in message
            assert "agent 'test.greedy@1.0.0' of node 'g'" in message
            assert "$.resources.limits.memory" in message
            assert env.cluster.kubelet.started_pods == [] and await env.pods() == []
            assert env.store.list_runs() == []  # refused before a run was recorded
            events = await env.events(name, reasons={"PolicyViolation"})
            assert [e.reason for e in events if e.type == "Warning"] == ["PolicyViolation"]

    asyncio.run(scenario())


def test_a_flowrun_option_outside_the_policy_is_refused(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "echo", "test.echo", ECHO)
    policy = Policy.model_validate(
        {
            "apiVersion": "mentatlab.io/v1",
            "kind": "Policy",
            "metadata": {"name": "tight"},
            "podSecurity": {"allowedServiceAccounts": ["agents"]},
        }
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}, policy=policy) as env:
            await env.register(cogpak)
            flow = flow_of([{"id": "e", "type": "test.echo"}])
            name = await env.submit(flow, serviceAccountName="cluster-admin")
            message = _refusal((await env.wait_for(name, {"Failed"}))["status"])
            assert "policy.service-account at $.spec.serviceAccountName" in message
            assert "'cluster-admin'" in message and "node 'e'" in message
            assert env.cluster.kubelet.started_pods == [] and await env.pods() == []
            allowed = await env.submit(flow)  # the namespace's default account is fine
            status = (await env.wait_for(allowed, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status

    asyncio.run(scenario())


def test_a_long_running_agent_breaking_the_policy_gets_no_deployment(tmp_path: Path) -> None:
    _, cogpak = make_agent(
        tmp_path / "server",
        "test.server",
        "import time\ntime.sleep(3600)\n",
        longRunning=True,
        resources={"limits": {"cpu": "64"}},  # the default policy allows 16 CPUs at most
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home") as env:
            kube, namespace = env.cluster.client, env.namespace
            await env.register(cogpak)
            obj = {
                "apiVersion": "mentatlab.io/v1",
                "kind": "AgentDeployment",
                "metadata": {"name": "server", "namespace": namespace},
                "spec": {"agentRef": agent_object_name("test.server", "1.0.0")},
            }
            await kube.create(AgentDeploymentResource(obj))
            for _ in range(300):
                current = await kube.get(AgentDeploymentResource, "server", namespace=namespace)
                conditions = (as_dict(current).get("status") or {}).get("conditions") or []
                if conditions:
                    break
                await asyncio.sleep(0.2)
            [ready] = conditions
            assert (ready["status"], ready["reason"]) == ("False", "PolicyViolation")
            assert "policy.resources-maximum at $.resources.limits.cpu" in ready["message"]
            assert [d async for d in kube.list(Deployment, namespace=namespace)] == []

    asyncio.run(scenario())
