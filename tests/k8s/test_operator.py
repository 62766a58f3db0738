"""The operator on the real control plane: FlowRuns run as pods and report back."""

from __future__ import annotations

import asyncio
from pathlib import Path

from operator_harness import REPO, example, operated

from mentatlab.model.run import RunStatus


def test_flowrun_runs_the_demo_flow_as_pods(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with operated(tmp_path) as env:
            await env.register(
                *(REPO / "agents" / n for n in ("keywords", "summarize", "sentiment"))
            )
            name = await env.submit(example("hello.flow.yaml"))
            obj = await env.wait_for(name, {"Succeeded", "Failed"})
            status = obj["status"]
            assert status["phase"] == "Succeeded", status
            assert status["progress"] == "5/5"
            mood = status["nodes"]["mood"]
            assert mood["outputs"]["label"] == "positive" and mood["outputs"]["score"] > 0.5
            conditions = {c["type"]: c["status"] for c in status["conditions"]}
            assert conditions == {"Ready": "True", "Succeeded": "True", "Failed": "False"}
            record = env.store.get_run(status["runId"])  # the same event log as a local run
            assert record.status is RunStatus.SUCCEEDED
            assert record.outputs["report"]["sentiment"] == "positive"
            started = env.cluster.kubelet.started_pods
            assert len(started) == 3 and mood["podName"] in started  # one pod per agent node
            assert await env.pods() == []  # podGC OnRunCompletion (the default)
            reasons = {event.reason for event in await env.events(name)}
            assert {"Started", "NodeRunning", "NodeSucceeded", "Succeeded"} <= reasons

    asyncio.run(scenario())
