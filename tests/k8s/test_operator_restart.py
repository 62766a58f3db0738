"""Restarting the operator mid-run: the run resumes, no pod is created twice, no status is lost.

Each operator is a process of its own (``mentatctl operator run``), killed with SIGKILL in the
middle of a run, as a crashed or rescheduled operator pod would be.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from k8s_cluster import cluster
from operator_harness import (
    SLEEPY,
    Operated,
    flow_of,
    make_agent,
    on_fake_kubelet,
    operator_process,
)

from mentatlab.k8s.objects import flowrun_cr
from mentatlab.operator.resources import FlowRunResource
from mentatlab.store import open_store


def test_operator_killed_mid_run_resumes_without_duplicate_pods(tmp_path: Path) -> None:
    image, cogpak = make_agent(tmp_path / "sleepy", "t.sleepy", SLEEPY)
    kubeconfig = Path(os.environ["KUBECONFIG"])
    home = tmp_path / "operator-home"

    async def scenario() -> None:
        async with cluster({image: cogpak}) as env:
            with open_store(tmp_path / "unused") as store:
                harness = Operated(env, store, tmp_path, asyncio.Event())
                await harness.register(cogpak)
                flow = flow_of(
                    [{"id": "nap", "type": "t.sleepy"}, {"id": "after", "type": "ui.console"}],
                    [("nap.result", "after.result")],
                )
                obj = on_fake_kubelet(flowrun_cr(flow, namespace=env.namespace))
                created = await env.client.create(FlowRunResource(obj))
                assert created.metadata is not None and created.metadata.name is not None
                name = created.metadata.name
                first = await operator_process(kubeconfig, env.namespace, home)
                try:
                    await harness.wait_for_node(name, "nap", "Running")
                finally:
                    first.send_signal(signal.SIGKILL)
                    await first.communicate()
                running = (await harness.flowrun(name))["status"]
                assert running["phase"] == "Running"
                second = await operator_process(kubeconfig, env.namespace, home)
                try:
                    await asyncio.sleep(2)  # the new operator re-attaches to the running pod
                    (cogpak / "release").touch()
                    status = (await harness.wait_for(name, {"Succeeded", "Failed"}))["status"]
                finally:
                    second.terminate()
                    await second.communicate()
                assert status["phase"] == "Succeeded", status
                assert status["runId"] == running["runId"]  # the same run, resumed
                assert env.kubelet.started_pods == [running["nodes"]["nap"]["podName"]]
                assert status["nodes"]["nap"]["attempts"] == 1
            with open_store(home) as operator_store:
                record = operator_store.get_run(status["runId"])
                seqs = [e.seq for e in operator_store.read_events(record.id)]
                assert seqs == list(range(1, len(seqs) + 1))
                assert record.outputs["after"] == {"result": "rested"}

    asyncio.run(scenario())
