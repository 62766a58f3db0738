"""Timeouts through the operator: a node's timeout becomes the pod's activeDeadlineSeconds,
enforced by the (fake) kubelet, and the FlowRun reports it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from operator_harness import flow_of, make_agent, operated

HANG = """\
import json, sys, time
json.load(sys.stdin)
time.sleep(600)
"""


def test_a_node_past_its_timeout_fails_with_reason_timeout(tmp_path: Path) -> None:
    image, cogpak = make_agent(
        tmp_path / "hang",
        "t.hang",
        HANG,
        retries={"limit": 1, "backoff": {"initialSeconds": 0.1}},
    )

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            flow = flow_of([{"id": "stuck", "type": "t.hang", "timeoutSeconds": 2}])
            name = await env.submit(flow)
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Failed"
            node = status["nodes"]["stuck"]
            assert (node["phase"], node["exitReason"], node["attempts"]) == ("Failed", "timeout", 2)
            assert "activeDeadlineSeconds" in node["message"]
            prefix = name.replace(".", "-")  # pod names are DNS labels
            pods = [pod for pod in env.cluster.kubelet.started_pods if pod.startswith(prefix)]
            assert len(pods) == 2  # a timed-out attempt is retried as a new pod
            attempts = env.store.get_attempts(status["runId"], "stuck")
            assert [a.error_reason for a in attempts] == ["timeout", "timeout"]
            failed = {c["type"]: c for c in status["conditions"]}["Failed"]
            assert (failed["status"], failed["reason"]) == ("True", "Timeout")

    asyncio.run(scenario())
