"""Run secrets in a cluster: read from the namespace's ``mentatlab-secrets`` Secret, given to
agents only inside their envelope Secret volume, and absent from everything the operator
writes (FlowRun status, Events, pod specs, ConfigMaps) and from its run store."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Pod, Secret
from operator_harness import Operated, flow_of, operated

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from secret_harness import AGENTS, TOKEN, leaks, scan_files

from mentatlab.operator.flowruns import DEFAULT_SECRETS_NAME


def _cogpak(tmp_path: Path, name: str) -> tuple[str, Path]:
    """A copy of a test agent with an image the fake kubelet maps back to it."""
    directory = tmp_path / name
    shutil.copytree(AGENTS / name, directory)
    image = f"test.local/sec.{name}:1.0.0"
    manifest = directory / "manifest.yaml"
    manifest.write_text(manifest.read_text() + f"image: {image}\n")
    return image, directory


def _flow(*secrets: str) -> Any:
    return flow_of(
        [
            {"id": "user", "type": "sec.secret-user"},
            {"id": "plain", "type": "sec.no-secrets"},
            {"id": "after", "type": "sec.no-secrets"},
        ],
        [("user.result", "after.text")],
        secrets=list(secrets),
    )


async def _everything_written(env: Operated, name: str) -> str:
    """The FlowRun, every Event, pod and ConfigMap of the namespace, as JSON text."""
    client, namespace = env.cluster.client, env.namespace
    objects: list[Any] = [await env.flowrun(name)]
    for kind in (Event, Pod, ConfigMap):
        objects += [obj.to_dict() async for obj in client.list(kind, namespace=namespace)]
    return json.dumps(objects, ensure_ascii=False, default=str)


def test_secrets_reach_the_agent_and_nothing_the_operator_writes(tmp_path: Path) -> None:
    cogpaks = dict([_cogpak(tmp_path, "secret-user"), _cogpak(tmp_path, "no-secrets")])

    async def scenario() -> None:
        async with operated(tmp_path / "home", cogpaks) as env:
            await env.cluster.client.create(
                Secret(
                    metadata=ObjectMeta(name=DEFAULT_SECRETS_NAME, namespace=env.namespace),
                    data={"API_TOKEN": base64.b64encode(TOKEN.encode()).decode()},
                )
            )
            await env.register(*cogpaks.values())
            name = await env.submit(_flow("API_TOKEN"), podGC="Never")
            obj = await env.wait_for(name, {"Succeeded", "Failed"})
            assert obj["status"]["phase"] == "Succeeded", obj["status"]
            record = env.store.get_run(obj["status"]["runId"])
            # The agent got its secret (ctx.secret raises otherwise), redacted on the way back.
            assert record.nodes["user"].outputs["result"] == "<[REDACTED:API_TOKEN]>"
            assert record.nodes["after"].outputs["text"] == "<[REDACTED:API_TOKEN]>"
            assert record.nodes["plain"].outputs["fields"] == [
                "inputs", "params", "protocol", "resume", "run",
            ]  # fmt: skip

            written = await _everything_written(env, name)
            assert leaks(written.encode()) == []
            pods = await env.pods()
            assert len(pods) == 3
            for pod in pods:
                assert pod.spec is not None
                container = pod.spec.containers[0]
                assert all(var.name != "API_TOKEN" for var in container.env or [])
                if pod.metadata is not None and "user" in (pod.metadata.name or ""):
                    assert container.terminationMessagePolicy == "File"
            # Envelope Secrets (the one place values live) go when their attempt ends.
            secrets = [
                s.metadata.name
                async for s in env.cluster.client.list(Secret, namespace=env.namespace)
                if s.metadata is not None
            ]
            assert secrets == [DEFAULT_SECRETS_NAME]

        home = tmp_path / "home"
        assert scan_files(home / "store.db", home / "store.db-wal", home / "store.db-shm") == {}

    asyncio.run(scenario())


def test_a_secret_missing_from_the_namespace_fails_the_run_before_any_pod(tmp_path: Path) -> None:
    cogpaks = dict([_cogpak(tmp_path, "secret-user"), _cogpak(tmp_path, "no-secrets")])

    async def scenario() -> None:
        async with operated(tmp_path / "home", cogpaks) as env:
            await env.register(*cogpaks.values())
            name = await env.submit(_flow("API_TOKEN"))
            obj = await env.wait_for(name, {"Succeeded", "Failed"})
            status = obj["status"]
            assert status["phase"] == "Failed", status
            expected = (
                f"'API_TOKEN' (looked in key API_TOKEN of Kubernetes Secret "
                f"{env.namespace}/{DEFAULT_SECRETS_NAME}"
            )
            assert expected in status["message"], status
            assert env.cluster.kubelet.started_pods == [] and await env.pods() == []

    asyncio.run(scenario())
