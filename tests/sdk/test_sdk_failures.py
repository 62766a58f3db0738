"""How an SDK agent fails: error events, retryability and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import Finished, envelope

Run = Callable[..., Finished]


def error(code: str, message: str, *, retryable: bool) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "retryable": retryable}


def test_missing_required_input_is_not_retryable(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context, text: str, n: int, opt: str = "") -> None:
            ctx.log("must not run")
        """,
        envelope({"n": 1}),
    )
    assert done.returncode == 1
    assert done.events == [
        error("missing_input", "required input 'text' was not given", retryable=False)
    ]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        ("int", "3", "must be int, got str '3'"),
        ("int", True, "must be int, got bool True"),
        ("int", 1.5, "must be int, got float 1.5"),
        ("str", None, "must be str, got NoneType None"),
        ("bool", 0, "must be bool, got int 0"),
        ("list[str]", ["a", 1], "must be list[str], got list ['a', 1]"),
        ("dict[str, int]", {"a": "b"}, "must be dict[str, int], got dict {'a': 'b'}"),
        ("Literal['fast', 'slow']", "medium", "must be Literal['fast', 'slow'], got str 'medium'"),
        ("str | None", 5, "must be str | None, got int 5"),
    ],
)
def test_mistyped_input_names_pin_type_and_value(
    run_agent: Run, annotation: str, value: Any, expected: str
) -> None:
    done = run_agent(
        f"""
        @agent
        def main(ctx: Context, x: {annotation}) -> None:
            ctx.log("must not run")
        """,
        envelope({"x": value}),
    )
    assert done.returncode == 1
    assert done.events == [error("invalid_input", f"input 'x' {expected}", retryable=False)]


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("float", 3),
        ("float", 2.5),
        ("str | None", None),
        ("list[int]", []),
        ("dict[str, Any]", {"a": [1]}),
        ("Any", {"x": None}),
        ("object", "s"),
        ("Literal[1, 'a']", 1),
    ],
)
def test_well_typed_input_is_passed_through_unchanged(
    run_agent: Run, annotation: str, value: Any
) -> None:
    done = run_agent(
        f"""
        @agent
        def main(ctx: Context, x: {annotation}) -> dict[str, object]:
            return {{"x": x, "type": type(x).__name__}}
        """,
        envelope({"x": value}),
    )
    assert done.returncode == 0, done.events
    assert done.events[0] == {"type": "output", "pin": "x", "value": value}
    assert done.events[1]["value"] == type(value).__name__


def test_all_input_problems_are_reported_together(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context, a: str, b: int, c: bool) -> None: ...
        """,
        envelope({"b": "x", "c": "y"}),
    )
    assert done.events == [
        error(
            "missing_input",
            "required input 'a' was not given; input 'b' must be int, got str 'x'; "
            "input 'c' must be bool, got str 'y'",
            retryable=False,
        )
    ]


@pytest.mark.parametrize(
    ("raise_", "expected"),
    [
        ("AgentError('service busy')", error("agent_error", "service busy", retryable=True)),
        (
            "AgentError('quota', code='rate_limited', retryable=False)",
            error("rate_limited", "quota", retryable=False),
        ),
        ("FatalError('bad config', code='config')", error("config", "bad config", retryable=False)),
    ],
)
def test_agent_errors_become_error_events(
    run_agent: Run, raise_: str, expected: dict[str, Any]
) -> None:
    done = run_agent(
        f"""
        @agent
        def main(ctx: Context) -> None:
            ctx.output("partial", 1)
            raise {raise_}
        """
    )
    assert done.returncode == 1
    assert done.events == [{"type": "output", "pin": "partial", "value": 1}, expected]
    assert "Traceback" not in done.stderr


def test_unexpected_exception_is_retryable_with_traceback_on_stderr(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> None:
            {}["missing"]
        """
    )
    assert done.returncode == 1
    assert done.events == [error("unexpected_error", "KeyError: 'missing'", retryable=True)]
    assert "Traceback (most recent call last)" in done.stderr
    assert '{}["missing"]' in done.stderr


def test_async_handler_errors_are_reported_too(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        async def main(ctx: Context) -> None:
            await asyncio.sleep(0)
            raise FatalError("nope")
        """
    )
    assert done.returncode == 1
    assert done.events == [error("agent_error", "nope", retryable=False)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return [1, 2]", "the handler returned list; return a dict of output pins or None"),
        (
            "return {'x': float('nan')}",
            "output 'x' is not a JSON value: Out of range float values are not JSON compliant",
        ),
        (
            "ctx.output('x', {1, 2})",
            "output 'x' is not a JSON value: Object of type set is not JSON serializable",
        ),
    ],
)
def test_invalid_outputs_are_fatal(run_agent: Run, body: str, message: str) -> None:
    done = run_agent(
        f"""
        @agent
        def main(ctx: Context) -> Any:
            {body}
        """
    )
    assert done.returncode == 1
    assert done.events == [error("invalid_output", message, retryable=False)]


def test_declared_outputs_reject_unknown_pins_and_wrong_types(run_agent: Run) -> None:
    typed = """
        class Out(TypedDict):
            label: str
            score: float
        @agent
        def main(ctx: Context, ret: Any) -> Out:
            return ret
        """
    ok = run_agent(typed, envelope({"ret": {"label": "pos", "score": 1}}))
    assert ok.returncode == 0
    unknown = run_agent(typed, envelope({"ret": {"lable": "pos"}}))
    assert unknown.events == [
        error(
            "invalid_output",
            "unknown output pin 'lable'; declared outputs: label, score",
            retryable=False,
        )
    ]
    wrong = run_agent(typed, envelope({"ret": {"score": "high"}}))
    assert wrong.events == [
        error("invalid_output", "output 'score' must be float, got str 'high'", retryable=False)
    ]
    named = run_agent(
        """
        @agent(outputs=["a"])
        def main(ctx: Context) -> dict[str, object]:
            return {"a": 1, "b": 2}
        """
    )
    assert named.events == [
        {"type": "output", "pin": "a", "value": 1},
        error("invalid_output", "unknown output pin 'b'; declared outputs: a", retryable=False),
    ]


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"", "stdin is not a JSON input envelope: Expecting value: line 1 column 1 (char 0)"),
        (
            b"[1]",
            "invalid input envelope: envelope: Input should be a valid dictionary or "
            "instance of InputEnvelope",
        ),
        (
            b'{"protocol": "mentatlab.agent/v9", "run": {"id": "r", "node": "n", "attempt": 0}}',
            "invalid input envelope: protocol: Input should be 'mentatlab.agent/v1'; "
            "run.attempt: Input should be greater than or equal to 1",
        ),
        (
            b'{"run": {"id": "r", "node": "n", "attempt": 1}, "inputs": {"x": NaN}}',
            "stdin is not a JSON input envelope: NaN is not a JSON value",
        ),
        (
            b'{"run": "\xff"}',
            "stdin is not a JSON input envelope: 'utf-8' codec can't decode byte 0xff in "
            "position 9: invalid start byte",
        ),
    ],
)
def test_bad_envelope_is_fatal(run_agent: Run, stdin: bytes, message: str) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> None: ...
        """,
        stdin,
    )
    assert done.returncode == 2  # docs/protocol.md section 2: invalid envelope
    assert done.events == [error("invalid_envelope", message, retryable=False)]


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        ("ctx.progress(101)", "ValueError: progress percent must be between 0 and 100, got 101"),
        ("ctx.progress('50')", "TypeError: progress percent must be a number, got str '50'"),
        ("ctx.log('x', level='loud')", "ValueError: log level must be one of"),
        ("ctx.metric('m', True)", "TypeError: metric value must be a number, got bool True"),
        ("ctx.checkpoint(object())", "TypeError: checkpoint state is not a JSON value"),
    ],
)
def test_helper_misuse_raises_in_the_handler(run_agent: Run, call: str, exc: str) -> None:
    done = run_agent(
        f"""
        @agent
        def main(ctx: Context) -> None:
            {call}
        """
    )
    assert done.returncode == 1
    assert len(done.events) == 1
    assert done.events[0]["code"] == "unexpected_error"
    assert done.events[0]["message"].startswith(exc)
