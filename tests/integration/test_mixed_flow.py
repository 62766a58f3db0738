"""examples/mixed.flow.yaml: Python → Node.js → Rust agents in one flow, built on first run."""

from __future__ import annotations

import json

from cli_harness import Cli
from toolchains import node_and_rust

__all__ = ["node_and_rust"]


def test_mixed_language_flow_runs_end_to_end(cli: Cli, node_and_rust: None) -> None:
    result = cli("run", "examples/mixed.flow.yaml", "--output", "json", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(result.stdout)
    assert record["outputs"]["report"] == {
        "summary": "13 words, 10 distinct; most frequent: the (3)",
        "trail": ["python", "node", "rust"],
    }
    assert record["nodes"]["count"]["outputs"]["counts"]["dog"] == 2
