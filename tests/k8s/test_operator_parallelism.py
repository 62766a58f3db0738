"""How many pods of one FlowRun run at once when neither the FlowRun nor its flow says."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from operator_harness import SLEEPY, flow_of, make_agent, operated

from mentatlab.model.kubernetes import DEFAULT_MAX_PARALLEL_PODS


def test_pods_are_not_bounded_by_the_operators_cpu_count(tmp_path: Path) -> None:
    # Pods run on the cluster's nodes: the operator's own CPU count must not bound them.
    wide = (os.cpu_count() or 1) + 2
    assert wide <= DEFAULT_MAX_PARALLEL_PODS
    image, cogpak = make_agent(tmp_path / "sleepy", "t.sleepy", SLEEPY)

    async def scenario() -> None:
        async with operated(tmp_path / "home", {image: cogpak}) as env:
            await env.register(cogpak)
            nodes = [{"id": f"n{i}", "type": "t.sleepy"} for i in range(wide)]
            name = await env.submit(flow_of(nodes))
            for i in range(wide):  # every node's pod runs at the same time
                await env.wait_for_node(name, f"n{i}", "Running")
            (cogpak / "release").touch()
            status = (await env.wait_for(name, {"Succeeded", "Failed"}))["status"]
            assert status["phase"] == "Succeeded", status

    asyncio.run(scenario())
