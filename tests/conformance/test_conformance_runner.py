"""The conformance runner itself: matching rules, line checks, the vectors' honesty, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mentatlab.testing.conformance import (
    VectorError,
    check_line,
    load_vector,
    load_vectors,
    match_events,
    match_value,
)

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
SCHEMAS = ROOT / "src" / "mentatlab" / "schemas" / "protocol"
VECTORS = load_vectors(CONFORMANCE / "vectors")


def test_values_match_as_json_not_as_python() -> None:
    assert match_value(1, 1.0) is None
    assert match_value(True, 1) is not None
    assert match_value(0, False) is not None
    assert match_value({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) is None
    assert match_value({"a": 1}, {"a": 1, "b": 2}) == 'value: unexpected [\'b\'] in {"a":1,"b":2}'
    assert match_value([1, 2], [1]) is not None


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        ({"$any": True}, None, None),
        ({"$type": "integer"}, 3, True),
        ({"$type": "number"}, 2.5, "2.5"),
        ({"$contains": "boom"}, "Error: boom", "bang"),
        ({"$regex": "^a.c$"}, "abc", "abcd"),
        ({"$repeat": "ab", "times": 3}, "ababab", "abab"),
    ],
)
def test_operators(pattern: dict[str, Any], good: Any, bad: Any) -> None:
    assert match_value(pattern, good) is None
    if bad is not None:
        assert match_value(pattern, bad) is not None


def test_defaults_make_omitted_and_explicit_fields_equal() -> None:
    assert (
        match_events([{"type": "log", "message": "x"}], [{"type": "log", "message": "x"}]) is None
    )
    assert (
        match_events(
            [{"type": "log", "level": "info", "message": "x"}], [{"type": "log", "message": "x"}]
        )
        is None
    )
    assert (
        match_events([{"type": "error", "message": "m"}], [{"type": "error", "message": "m"}])
        is None
    )
    mismatch = match_events(
        [{"type": "error", "message": "m"}], [{"type": "error", "message": "m", "retryable": False}]
    )
    assert mismatch is not None
    assert "retryable" in mismatch.reason


def test_many_matches_runs_of_events() -> None:
    beat = {"type": "heartbeat"}
    patterns = [{"$many": beat, "min": 2}, {"type": "output", "pin": "x", "value": 1}]
    output = {"type": "output", "pin": "x", "value": 1}
    assert match_events(patterns, [beat, beat, beat, output]) is None
    too_few = match_events(patterns, [beat, output])
    assert too_few is not None
    assert too_few.pattern_index == 0
    leftover = match_events(patterns, [beat, beat, output, beat])
    assert leftover is not None
    assert leftover.pattern_index is None
    assert leftover.event_index == 3
    optional = [{"$many": {"type": "output"}, "max": 1}, {"type": "error", "message": "m"}]
    assert match_events(optional, [{"type": "error", "message": "m"}]) is None
    assert match_events(optional, [output, {"type": "error", "message": "m"}]) is None
    assert match_events(optional, [output, output, {"type": "error", "message": "m"}]) is not None


def test_many_is_linear_enough_for_long_streams() -> None:
    tick = {"type": "progress", "percent": 50}
    events = [tick] * 5000 + [{"type": "heartbeat"}]
    assert (
        match_events([{"$many": tick, "min": 5000, "max": 5000}, {"type": "heartbeat"}], events)
        is None
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"type":"log","message":"x"}', "no terminating newline"),
        (b'{"type":"log","message":"x"}\r\n', "ends with \\r\\n"),
        (b"\n", "blank line"),
        (b"hello\n", "not JSON"),
        (b"[1]\n", "not a JSON object"),
        (b'{"type":"metric","name":"m","value":NaN}\n', "not JSON (NaN is not JSON)"),
        (b'{"type":"progress","percent":150}\n', "percent: 150 is greater than the maximum of 100"),
        (
            b'{"type":"error","message":"m","retryable":0}\n',
            "retryable: 0 is not of type 'boolean'",
        ),
        (b'{"type":"telemetry"}\n', 'type "telemetry" is not a v1 event type'),
        (b'{"type":"log","message":"\xff"}\n', "not UTF-8"),
        ('{"type":"log","message":"a\u2028b"}\n'.encode(), "raw U+2028"),
    ],
)
def test_lines_are_checked_against_protocol_v1(raw: bytes, problem: str) -> None:
    _, problems = check_line(raw, 1)
    assert any(problem in found for found in problems), problems


def test_a_valid_line_has_no_problem() -> None:
    event, problems = check_line('{"type":"log","message":"a\\u2028 é"}\n'.encode(), 1)
    assert problems == []
    assert event == {"type": "log", "message": "a\u2028 é"}


def test_bad_vector_files_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"description": "x", "stdin": "", "envelope": {}, "expect": {}}))
    with pytest.raises(VectorError, match="exactly one of envelope, stdin, stdin_hex"):
        load_vector(path)
    path.write_text("{")
    with pytest.raises(VectorError, match="not JSON"):
        load_vector(path)


def test_vectors_cover_every_event_type_and_outcome() -> None:
    schema = json.loads((SCHEMAS / "event.v1.schema.json").read_text())
    seen: set[str] = set()
    for vector in VECTORS:
        for pattern in vector.events:
            seen.add(pattern.get("$many", pattern)["type"])
    assert seen >= set(schema["$defs"])
    codes = {v.exit_code for v in VECTORS}
    assert codes >= {0, 1, 2, 130, 143}


def test_vector_envelopes_are_honest() -> None:
    """Well-formed cases send schema-valid envelopes; malformed_* ones send invalid ones."""
    validator = Draft202012Validator(json.loads((SCHEMAS / "input.v1.schema.json").read_text()))
    for vector in VECTORS:
        try:
            envelope = json.loads(vector.stdin.decode("utf-8"), parse_constant=_not_json)
        except ValueError:
            envelope = None
        valid = envelope is not None and validator.is_valid(envelope)
        if vector.name.startswith("malformed_"):
            assert not valid, vector.name
            assert vector.exit_code == 2, vector.name
        else:
            assert valid, vector.name


def _not_json(name: str) -> Any:
    raise ValueError(name)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CONFORMANCE / "run.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_passes_a_conforming_agent() -> None:
    agent = f"{sys.executable} {CONFORMANCE / 'agents' / 'python' / 'agent.py'}"
    done = run_cli("--agent", agent, "-k", "echo_basic", "-k", "malformed_empty")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS echo_basic" in done.stdout
    assert done.stdout.strip().endswith("2 passed, 0 failed")


def test_cli_fails_a_broken_agent_with_a_diff(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import json, sys\n"
        "json.load(sys.stdin)\n"
        "print('not an event')\n"
        "print(json.dumps({'type': 'output', 'pin': 'a_string', 'value': 'HELLO'}))\n"
    )
    done = run_cli("--agent", f"{sys.executable} {agent}", "-k", "echo_basic")
    assert done.returncode == 1
    assert "FAIL echo_basic" in done.stdout
    assert "stdout line 1: not JSON" in done.stdout
    assert '-{"type":"output","pin":"a_string","value":"hello"}' in done.stdout
    assert '+{"type":"output","pin":"a_string","value":"HELLO"}' in done.stdout
    assert done.stdout.strip().endswith("0 passed, 1 failed")


def test_cli_usage_errors_exit_2() -> None:
    assert run_cli("--agent", "true", "-k", "no-such-vector").returncode == 2
    listed = run_cli("--agent", "true", "--list")
    assert listed.returncode == 0
    assert "cancel_sigterm: SIGTERM while the handler waits" in listed.stdout
