"""``mentatctl run`` with agents written for the original MentatLab contract, unchanged."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from cli_harness import REPO, Cli

LEGACY = REPO / "tests" / "engine" / "legacy_agents"


def test_original_style_agents_run_in_an_original_flow(cli: Cli) -> None:
    result = cli("run", str(LEGACY / "pipeline.json"), "--agents", "agents", "--output", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded"
    assert record["nodes"]["psyche"]["outputs"]["result"] == {
        "ego": "world | legacy | hello | says: | v1",
        "words": 5,
    }
    assert record["outputs"]["console"]["report"]["context"]["tokens_input"] == 5


def test_a_legacy_agent_without_a_result_fails_its_node_clearly(cli: Cli, tmp_path: Path) -> None:
    agent = tmp_path / "agents" / "mute"
    agent.mkdir(parents=True)
    (agent / "main.py").write_text('print("finished, but forgot the result")\n')
    (agent / "manifest.yaml").write_text(
        textwrap.dedent(
            """\
            id: legacy.mute
            version: 0.1.0
            image: example.org/mute:0.1.0
            description: Prints no result.
            command: ["python", "main.py"]
            inputs: []
            outputs: [{name: result, type: string}]
            """
        )
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        textwrap.dedent(
            """\
            apiVersion: mentatlab.io/v1
            kind: Flow
            meta: {id: mute, name: mute}
            graph:
              nodes: [{id: mute, type: legacy.mute}]
              edges: []
            """
        )
    )
    result = cli("run", str(flow))
    assert result.returncode == 1
    assert (
        "node 'mute' failed (attempt 1 of 1): the agent (protocol: legacy) wrote no result on "
        "stdout" in result.stdout + result.stderr
    ), result.stdout + result.stderr
