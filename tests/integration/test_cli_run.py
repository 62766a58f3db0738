"""``mentatctl run``: the demo, the original flows as they are, bad input, JSON records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import COMPAT, REPO, Cli


def _record(result: object) -> dict:  # type: ignore[type-arg]
    return json.loads(result.stdout)  # type: ignore[attr-defined,no-any-return]


def test_demo_flow_runs_and_prints_outputs(cli: Cli) -> None:
    result = cli("run", "examples/hello.flow.yaml")
    assert result.returncode == 0, result.stderr
    assert "report.sentiment = positive" in result.stdout
    assert "mood succeeded (attempt 1)" in result.stdout  # plain lines when not on a terminal


def test_json_output_is_the_final_run_record(cli: Cli) -> None:
    result = cli("run", "examples/hello.flow.yaml", "--output", "json")
    assert result.returncode == 0, result.stderr
    record = _record(result)
    assert record["status"] == "succeeded"
    assert set(record["nodes"]) == {"text", "keywords", "summary", "mood", "report"}
    assert record["nodes"]["mood"]["attempts"] == 1
    assert record["nodes"]["mood"]["outputs"]["label"] == "positive"
    assert record["outputs"]["report"]["sentiment"] == "positive"
    assert len(record["outputs"]["report"]["keywords"]) == 5


def test_original_data_pipeline_runs_as_is_with_fan_in(cli: Cli) -> None:
    result = cli(
        "run",
        str(COMPAT / "flows" / "data_pipeline.json"),
        "--agents",
        "agents",
        "-i",
        "ingest.text=raw rows",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    nodes = _record(result)["nodes"]
    assert nodes["ingest"]["outputs"]["result"] == "Ingest raw data: raw rows"
    # two edges into transform.text (a json pin) arrive as a list in edge order
    assert nodes["transform"]["outputs"]["result"].startswith(
        'Transform and merge validated + enriched data: ["Validate schema and clean data: '
    )


def test_original_conditional_routing_runs_one_branch(cli: Cli) -> None:
    result = cli(
        "run",
        str(COMPAT / "flows" / "conditional_routing.json"),
        "--agents",
        "agents",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    nodes = _record(result)["nodes"]
    assert nodes["tech_agent"]["status"] == "succeeded"  # the default branch
    assert nodes["creative_agent"]["status"] == "skipped"


def test_original_foreach_batch_collects_one_entry_per_item(cli: Cli) -> None:
    result = cli(
        "run",
        str(COMPAT / "flows" / "foreach_batch.json"),
        "--agents",
        "agents",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    record = _record(result)
    loop = record["nodes"]["loop"]["outputs"]["output"]
    assert loop == [f"Process document doc-{i}: doc-{i}" for i in range(1, 5)]
    assert {f"process[{i}]" for i in range(4)} <= set(record["nodes"])
    assert record["nodes"]["aggregate"]["status"] == "succeeded"


def test_flow_referencing_a_missing_agent_is_refused_with_its_location(cli: Cli) -> None:
    result = cli("run", str(COMPAT / "flows" / "hello_chat.json"), "--agents", "agents")
    assert result.returncode == 1
    assert "flow.agent-ref" in result.stderr
    assert "hello_chat.json:22" in result.stderr
    assert "flexinfer.ollama.chat" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "examples/nope.flow.yaml"], 2, "nope.flow.yaml"),
        (["run", "examples/hello.flow.yaml", "-i", "novalue"], 2, "NODE.PIN=VALUE"),
        (["run", "examples/hello.flow.yaml", "--input-file", "missing.json"], 2, "no such file"),
        (["run", "examples/hello.flow.yaml", "-i", "ghost.text=x"], 1, "ghost"),
        (["run", "examples/hello.flow.yaml", "--max-parallel", "0"], 2, "max-parallel"),
    ],
)
def test_bad_invocations_give_clear_errors(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    result = cli(*args)
    assert result.returncode == code
    assert message in result.stderr


def test_broken_flow_file_is_reported_with_its_line(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.flow.yaml"
    broken.write_text("apiVersion: v1\nkind: Flow\nmeta: {id: x, name: y\ngraph: []\n")
    result = cli("run", str(broken))
    assert result.returncode == 1
    assert "load.syntax" in result.stderr and "broken.flow.yaml:" in result.stderr


def test_branching_example_routes_by_length(cli: Cli) -> None:
    result = cli(
        "run",
        "examples/branching.flow.yaml",
        "-i",
        "text.text=a short note about cats",
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    nodes = _record(result)["nodes"]
    assert nodes["keywords"]["status"] == "succeeded"
    assert nodes["summary"]["status"] == "skipped"


def test_fanout_example_rates_every_review_in_order(cli: Cli) -> None:
    result = cli("run", "examples/fanout.flow.yaml", "--output", "json")
    assert result.returncode == 0, result.stderr
    ratings = _record(result)["outputs"]["results"]["ratings"]
    assert [entry["label"] for entry in ratings] == [
        "positive",
        "negative",
        "neutral",
        "positive",
        "negative",
    ]


def test_input_file_provides_typed_inputs(cli: Cli, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("ingest.text: from a file\n")
    result = cli(
        "run",
        str(COMPAT / "flows" / "data_pipeline.json"),
        "--agents",
        str(REPO / "agents"),
        "--input-file",
        str(inputs),
        "--output",
        "json",
    )
    assert result.returncode == 0, result.stderr
    assert _record(result)["nodes"]["ingest"]["outputs"]["result"] == "Ingest raw data: from a file"


def test_permissive_mode_still_refuses_to_run_a_missing_agent(cli: Cli) -> None:
    result = cli(
        "run",
        str(COMPAT / "flows" / "hello_chat.json"),
        "--agents",
        "agents",
        "--mode",
        "permissive",
    )
    assert result.returncode == 1
    assert "flexinfer.ollama.chat" in result.stderr and "not run" in result.stderr
