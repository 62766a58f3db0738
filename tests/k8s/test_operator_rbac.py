"""The operator needs nothing beyond the RBAC that deploy/ grants it.

It runs as its own process (``mentatctl operator run``) with a kubeconfig holding only its
ServiceAccount's token, and still runs a FlowRun to the end.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from k8s_cluster import cluster
from lightkube import AsyncClient
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from operator_harness import REPO, Operated, example, images, on_fake_kubelet, operator_process

from mentatlab.k8s.objects import agent_to_cr, flowrun_cr
from mentatlab.model.manifest import AgentManifest
from mentatlab.operator.resources import (
    AgentDeploymentResource,
    AgentResource,
    FlowRunResource,
    as_dict,
)
from mentatlab.store import open_store


def _kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=True
    ).stdout


def _service_account_kubeconfig(directory: Path) -> Path:
    _kubectl("apply", "--server-side", "-f", str(REPO / "deploy" / "operator" / "namespace.yaml"))
    for name in ("serviceaccount", "clusterrole", "clusterrolebinding"):
        _kubectl("apply", "--server-side", "-f", str(REPO / "deploy" / "operator" / f"{name}.yaml"))
    token = _kubectl(
        "create", "token", "mentatlab-operator", "-n", "mentatlab-system", "--duration", "1h"
    ).strip()
    admin = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    cluster_entry = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [
            {"name": "operator", "context": {"cluster": cluster_entry["name"], "user": "operator"}}
        ],
        "current-context": "operator",
    }
    path = directory / "operator.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def _deploy_a_service(client: AsyncClient, namespace: str) -> None:
    """An AgentDeployment: Deployment, Service and autoscaler need their own grants."""
    manifest = AgentManifest.model_validate(
        {
            "id": "t.server",
            "version": "1.0.0",
            "image": "registry.example/server:1.0.0",
            "description": "a long-running agent",
            "longRunning": True,
            "scaling": {"minReplicas": 1, "maxReplicas": 2},
        }
    )
    agent = agent_to_cr(manifest, namespace=namespace)
    await client.create(AgentResource(agent))
    deployment: dict[str, Any] = {
        "apiVersion": "mentatlab.io/v1",
        "kind": "AgentDeployment",
        "metadata": {"name": "server", "namespace": namespace},
        "spec": {"agentRef": agent["metadata"]["name"]},
    }
    await client.create(AgentDeploymentResource(deployment))
    async with asyncio.timeout(60):
        while True:
            obj = await client.get(AgentDeploymentResource, "server", namespace=namespace)
            conditions = as_dict(obj).get("status", {}).get("conditions") or [{}]
            if conditions[0].get("status") == "True":
                break
            await asyncio.sleep(0.2)
    await client.get(HorizontalPodAutoscaler, "server", namespace=namespace)


def test_operator_with_only_its_own_rbac_runs_flowruns_and_services(
    tmp_path: Path,
) -> None:
    kubeconfig = _service_account_kubeconfig(tmp_path)

    async def scenario() -> None:
        async with cluster(images()) as env:
            operator = await operator_process(kubeconfig, env.namespace, tmp_path / "home")
            try:
                with open_store(tmp_path / "admin-view") as store:
                    harness = Operated(env, store, tmp_path, asyncio.Event())
                    await harness.register(
                        *(REPO / "agents" / n for n in ("keywords", "summarize", "sentiment"))
                    )
                    obj = on_fake_kubelet(
                        flowrun_cr(example("hello.flow.yaml"), namespace=env.namespace)
                    )
                    created = await env.client.create(FlowRunResource(obj))
                    assert created.metadata is not None and created.metadata.name is not None
                    done = await harness.wait_for(
                        created.metadata.name, {"Succeeded", "Failed"}, timeout=180
                    )
                    assert done["status"]["phase"] == "Succeeded", done["status"]
                    await _deploy_a_service(env.client, env.namespace)
            finally:
                operator.terminate()
                _, err = await operator.communicate()
            assert b"Forbidden" not in err, err.decode()[-2000:]

    asyncio.run(scenario())
