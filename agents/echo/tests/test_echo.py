"""mentatlab.echo, run as a real process through the local driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mentatlab.testing import pin_mismatches
from mentatlab.testing.plugin import CogPakRunner


def test_pins_in_code_match_the_manifest() -> None:
    assert pin_mismatches(Path(__file__).parents[1]) == []


@pytest.mark.parametrize(
    ("inputs", "params", "result"),
    [
        ({"text": "hello"}, {"prompt": "Say"}, "Say: hello"),
        ({"text": "hello"}, {}, "hello"),
        ({}, {"prompt": "Say"}, "Say"),
        ({}, {}, ""),
        ({"text": {"a": [1, 2.5], "b": None}}, {}, '{"a":[1,2.5],"b":null}'),
        ({"text": 42}, {"prompt": "n"}, "n: 42"),
        ({"text": "héllo 🌍"}, {"prompt": "ünï"}, "ünï: héllo 🌍"),
    ],
)
def test_echo(
    run_cogpak: CogPakRunner, inputs: dict[str, Any], params: dict[str, Any], result: str
) -> None:
    run = run_cogpak(inputs=inputs, params=params).assert_succeeded()
    assert run.outputs == {"result": result}
    assert [event.type for event in run.events] == ["output"]


def test_non_string_prompt_is_a_fatal_param_error(run_cogpak: CogPakRunner) -> None:
    run = run_cogpak(inputs={"text": "x"}, params={"prompt": 7})
    assert run.status == "failed"
    assert run.error is not None
    assert (run.error.code, run.error.retryable) == ("invalid_param", False)
    assert run.error.message == "param 'prompt' must be str, got int 7"
