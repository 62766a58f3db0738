"""Legacy agents (the original MentatLab contract) as real processes: through the local driver
and through the engine, unchanged; broken results give clear errors, never a hang."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mentatlab.engine.drivers.base import AttemptOutcome, FailureReason
from mentatlab.model.protocol import LogEvent, MetricEvent, OutputEvent, ProgressEvent
from mentatlab.testing import run_cogpak, run_flow

LEGACY = Path(__file__).resolve().parent / "legacy_agents"
AGENTS = LEGACY / "agents"
REPO_AGENTS = Path(__file__).resolve().parents[2] / "agents"


def test_original_first_agent_reads_stdin_and_prints_pins() -> None:
    result = run_cogpak(AGENTS / "echo", {"text": "héllo"})
    assert result.attempt.outcome is AttemptOutcome.SUCCEEDED, result.attempt.message
    assert result.outputs == {"text": "héllo"}


def test_spec_context_agent_streams_then_prints_its_result() -> None:
    spec = {"prompt": "one two three", "mode": "stream"}
    result = run_cogpak(AGENTS / "psyche", {"spec": spec, "context": {"user": "u"}})
    assert result.attempt.outcome is AttemptOutcome.SUCCEEDED, result.attempt.message
    assert result.outputs["result"] == {
        "ego": "three | two | one",
        "words": 3,
        "context_received": {"user": "u"},
    }
    assert result.outputs["mentat_meta"]["model"] == "psyche/0.1.0"
    events = result.events
    assert [e.percent for e in events if isinstance(e, ProgressEvent)] == [33, 66, 100]
    logs = [e.message for e in events if isinstance(e, LogEvent)]
    assert '{"type":"text:stream","content":"two","isComplete":false}' in logs
    assert "thinking about 3 words" in logs
    metrics = {e.name: e.value for e in events if isinstance(e, MetricEvent)}
    assert metrics["tokens_input"] == 3
    # The result's outputs come last, after everything the agent streamed.
    assert isinstance(events[-1], OutputEvent)


def test_shell_agent_reads_input_variables_and_original_ids() -> None:
    result = run_cogpak(AGENTS / "env-sh", {"spec": {"q": "why"}})
    assert result.attempt.outcome is AttemptOutcome.SUCCEEDED, result.attempt.message
    assert result.outputs == {"report": {"spec": {"q": "why"}, "context": {}}}
    assert any(
        isinstance(e, LogEvent) and e.level == "warning" and e.message.startswith("node env-sh of")
        for e in result.events
    )


BROKEN = {
    "prints_no_result": (
        'import sys; sys.stdin.read(); print("all done")',
        0,
        "missing_result",
        "the agent (protocol: legacy) wrote no result on stdout: expected a final line with one "
        'JSON object such as {"result": …, "mentat_meta": {…}} or one keyed by output pin '
        "(result)",
    ),
    "truncated_result": (
        'print(\'{"result": "cut\')',
        0,
        "invalid_result",
        "the last line the agent wrote on stdout is not a valid JSON object (Unterminated string "
        'starting at: line 1 column 12 (char 11)): {"result": "cut',
    ),
    "nan_result": (
        'import json; print(json.dumps({"result": float("nan")}))',
        0,
        "invalid_result",
        "the last line the agent wrote on stdout is not a valid JSON object (NaN is not a JSON "
        'value): {"result": NaN}',
    ),
    "wrong_keys": (
        'import json; print(json.dumps({"answer": 42}))',
        0,
        "missing_result",
        "the agent's result object sets no output pin: its keys are answer; the output pins are "
        "result",
    ),
    "error_object": (
        'import json, sys; print(json.dumps({"error": "Invalid JSON input", "mentat_meta": {}}))'
        "; sys.exit(1)",
        1,
        "agent_error",
        "Invalid JSON input",
    ),
}


def write_agent(directory: Path, source: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "main.py").write_text(source + "\n", encoding="utf-8")
    (directory / "manifest.yaml").write_text(
        textwrap.dedent(
            f"""\
            id: broken.{directory.name.replace("_", "-")}
            version: 0.1.0
            image: example.org/broken:0.1.0
            description: A legacy agent with a broken result.
            command: ["python", "main.py"]
            inputs: [{{name: text, type: string}}]
            outputs: [{{name: result, type: string}}]
            resources: {{timeout_seconds: 20}}
            """
        ),
        encoding="utf-8",
    )
    return directory


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_results_fail_the_attempt_clearly(case: str, tmp_path: Path) -> None:
    source, exit_code, code, message = BROKEN[case]
    result = run_cogpak(write_agent(tmp_path / case, source), {"text": "x"})
    attempt = result.attempt
    assert (attempt.outcome, attempt.reason, attempt.exit_code, attempt.error_code) == (
        AttemptOutcome.FAILED,
        FailureReason.AGENT_ERROR,
        exit_code,
        code,
    )
    assert attempt.message == message
    assert attempt.retryable is (code == "agent_error")


def test_crash_without_result_reports_exit_code_and_stderr(tmp_path: Path) -> None:
    agent = write_agent(tmp_path / "crash", 'raise RuntimeError("boom")')
    attempt = run_cogpak(agent, {"text": "x"}).attempt
    assert (attempt.reason, attempt.exit_code) == (FailureReason.EXIT_CODE, 1)
    assert attempt.message.endswith("RuntimeError: boom")


def test_legacy_and_v1_agents_share_a_flow_through_the_engine(tmp_path: Path) -> None:
    result = run_flow(
        LEGACY / "pipeline.json", agents=[REPO_AGENTS], home=tmp_path
    ).assert_succeeded()
    report = result.node("wrap").outputs["report"]
    assert report["spec"] == {"ego": "world | legacy | hello | says: | v1", "words": 5}
    assert report["context"]["model"] == "psyche/0.1.0"
    assert result.node("echo").outputs == {"text": "hello legacy world"}
    metrics = [e.data["name"] for e in result.events_of(node="psyche", type="metric")]
    assert metrics == ["tokens_input", "tokens_output", "seconds"]
