"""Reading legacy agents (the original MentatLab contract) as protocol v1: no processes here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mentatlab.engine.legacy_io import (
    MAX_INPUT_ENV_BYTES,
    LegacyStdout,
    legacy_input_environment,
    legacy_stdin,
)
from mentatlab.model.protocol import (
    AgentEvent,
    CheckpointEvent,
    ErrorEvent,
    HeartbeatEvent,
    LogEvent,
    MetricEvent,
    OutputEvent,
    ProgressEvent,
)


def read(pins: tuple[str, ...], *lines: str | dict[str, Any]) -> tuple[list[AgentEvent], Any]:
    """Every event of ``lines`` (dicts are written as compact JSON), and the problem."""
    reader = LegacyStdout(pins)
    events: list[AgentEvent] = []
    for line in lines:
        events += reader.line(line if isinstance(line, str) else json.dumps(line))
    events += reader.finish()
    return events, reader.problem


def outputs(events: list[AgentEvent]) -> dict[str, Any]:
    return {e.pin: e.value for e in events if isinstance(e, OutputEvent)}


def test_stdin_is_the_inputs_object_on_one_line() -> None:
    assert legacy_stdin({"text": "héllo", "n": 1}) == '{"text":"héllo","n":1}\n'.encode()


def test_input_spec_is_the_spec_pin_or_every_input_but_context() -> None:
    assert legacy_input_environment({"spec": {"a": 1}, "context": {"u": "x"}}) == {
        "INPUT_SPEC": '{"a":1}',
        "INPUT_CONTEXT": '{"u":"x"}',
    }
    assert legacy_input_environment({"text": "t", "context": 1}) == {
        "INPUT_SPEC": '{"text":"t"}',
        "INPUT_CONTEXT": "1",
    }
    assert legacy_input_environment({}) == {"INPUT_SPEC": "{}", "INPUT_CONTEXT": "{}"}


def test_input_variables_too_large_to_exec_are_left_out() -> None:
    env = legacy_input_environment({"spec": "x" * MAX_INPUT_ENV_BYTES})
    assert env == {"INPUT_CONTEXT": "{}"}


def test_result_object_with_meta_becomes_outputs_metrics_and_a_log() -> None:
    meta = {"tokens_input": 3, "tokens_output": 5, "seconds": 0.5, "model": "m", "ok": True}
    events, problem = read(("result",), "working", {"result": {"x": 1}, "mentat_meta": meta})
    assert problem is None
    assert events[0] == LogEvent(message="working")
    assert events[1] == LogEvent(message="mentat_meta " + json.dumps(meta, separators=(",", ":")))
    assert [(e.name, e.value, e.unit) for e in events if isinstance(e, MetricEvent)] == [
        ("tokens_input", 3, "tokens"),
        ("tokens_output", 5, "tokens"),
        ("seconds", 0.5, "s"),
    ]
    assert outputs(events) == {"result": {"x": 1}}


def test_meta_declared_as_a_pin_is_also_an_output() -> None:
    events, _ = read(("result", "mentat_meta"), {"result": 1, "mentat_meta": {"model": "m"}})
    assert outputs(events) == {"result": 1, "mentat_meta": {"model": "m"}}


def test_keys_named_after_output_pins_are_outputs() -> None:
    events, problem = read(("text", "n"), {"text": "hi", "n": None, "extra": 1})
    assert problem is None
    assert outputs(events) == {"text": "hi", "n": None}
    assert events[-1] == LogEvent(
        level="warning",
        message="ignored key(s) of the result object that are not output pins: extra",
    )


@pytest.mark.parametrize(
    ("pins", "result", "expected"),
    [
        (("answer",), 42, {"answer": 42}),  # the only pin
        (("answer", "mentat_meta"), 42, {"answer": 42}),  # mentat_meta aside
        (
            ("output", "stats"),
            {"output": "o", "stats": {"n": 1}, "x": 0},
            {"output": "o", "stats": {"n": 1}},
        ),
    ],
)
def test_result_goes_to_the_only_pin_or_is_spread_over_pins(
    pins: tuple[str, ...], result: Any, expected: dict[str, Any]
) -> None:
    events, problem = read(pins, {"result": result})
    assert problem is None
    assert outputs(events) == expected


def test_result_fitting_no_pin_is_a_clear_problem() -> None:
    events, problem = read(("a", "b"), {"result": 1})
    assert outputs(events) == {}
    assert "ignored 'result': it fits no output pin (output pins: a, b)" in str(events[-1])
    assert problem.code == "missing_result"
    assert problem.message == (
        "the agent's result object sets no output pin: its keys are result; "
        "the output pins are a, b"
    )


def test_only_the_last_result_object_counts() -> None:
    events, problem = read(("result",), {"result": 1}, "between", {"result": 2})
    assert problem is None
    assert outputs(events) == {"result": 2}
    assert LogEvent(message='{"result": 1}') in events


def test_error_key_fails_the_attempt_unless_it_is_a_pin() -> None:
    events, problem = read(("text",), {"error": "Invalid JSON input", "mentat_meta": {}})
    assert problem is None
    assert ErrorEvent(message="Invalid JSON input") in events
    events, _ = read(("result", "error"), {"error": {"code": 1}})
    assert outputs(events) == {"error": {"code": 1}}


@pytest.mark.parametrize(
    ("lines", "code", "message"),
    [
        ((), "missing_result", "wrote no result on stdout"),
        (("done", "[1, 2]"), "missing_result", "wrote no result on stdout"),
        (('{"result": "trunc',), "invalid_result", "not a valid JSON object (Unterminated"),
        (('{"result": NaN}',), "invalid_result", "(NaN is not a JSON value)"),
        (({"result": 1}, "{oops"), "invalid_result", "{oops"),
    ],
)
def test_missing_or_malformed_result_is_a_problem(
    lines: tuple[str | dict[str, Any], ...], code: str, message: str
) -> None:
    _, problem = read(("result",), *lines)
    assert problem is not None
    assert (problem.code, message in problem.message) == (code, True), problem.message


def test_no_result_is_fine_for_an_agent_without_outputs_or_with_output_events() -> None:
    assert read((), "just logs")[1] is None
    events, problem = read(("result",), {"type": "output", "key": "result", "value": 7})
    assert (outputs(events), problem) == ({"result": 7}, None)


def test_original_event_shapes_are_translated() -> None:
    events, _ = read(
        (),
        {"type": "log", "level": "warn", "message": "careful", "data": {"n": 1}},
        {"type": "log", "level": "info", "data": {"only": "data"}},
        {"type": "progress", "message": "m", "data": {"current": 1, "total": 4, "percent": 25.0}},
        {"type": "progress", "progress": 140},
        {"type": "checkpoint", "data": {"stage": "start", "progress": 0.0}},
        {"type": "heartbeat", "ts": "2025-01-01T00:00:00Z"},
        {"type": "error", "level": "error", "message": "m", "data": {"code": "X", "message": "m"}},
        {"type": "error", "code": "MODEL_NOT_READY", "message": "loading", "retryable": True},
    )
    assert events == [
        LogEvent(level="warning", message='careful {"n":1}'),
        LogEvent(message='{"only":"data"}'),
        ProgressEvent(percent=25.0, message="m"),
        ProgressEvent(percent=100.0),
        CheckpointEvent(state={"stage": "start", "progress": 0.0}),
        HeartbeatEvent(),
        ErrorEvent(code="X", message="m", retryable=False),
        ErrorEvent(code="MODEL_NOT_READY", message="loading", retryable=True),
    ]


def test_v1_events_pass_and_other_types_are_logged() -> None:
    stream = {"type": "text:stream", "content": "hi"}
    events, _ = read(
        (),
        {"type": "metric", "name": "tokens", "value": 3},
        {"type": "checkpoint", "state": {"i": 1}},
        {"type": "metric", "name": ""},
        stream,
    )
    assert events[:2] == [MetricEvent(name="tokens", value=3), CheckpointEvent(state={"i": 1})]
    assert isinstance(events[2], LogEvent) and events[2].level == "warning"
    assert events[3] == LogEvent(message=json.dumps(stream))
