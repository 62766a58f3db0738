"""Pins declared in code: what an Agent exposes for comparison with manifest.yaml."""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

import pytest

from mentatlab.sdk import Agent, Context, agent


class Scores(TypedDict):
    label: str
    score: float


def test_input_pins_follow_the_parameters_after_ctx() -> None:
    @agent
    def main(
        ctx: Context, text: str, top_k: int = 5, mode: Literal["a", "b"] | None = None
    ) -> Scores:
        raise NotImplementedError

    assert main.input_names == ("text", "top_k", "mode")
    assert [(p.required, p.default, p.pin_type) for p in main.inputs] == [
        (True, None, "string"),
        (False, 5, "number"),
        (False, None, "json"),
    ]
    assert main.output_names == ("label", "score")
    assert [p.pin_type for p in main.outputs or ()] == ["string", "number"]
    assert main.accepts_extra_inputs is False


def test_optional_scalars_keep_their_pin_type_and_kwargs_are_noted() -> None:
    @agent(outputs=["out"])
    async def main(ctx: Context, flag: bool | None = None, **rest: Any) -> dict[str, object]:
        raise NotImplementedError

    assert main.is_async
    assert main.inputs[0].pin_type == "boolean"
    assert main.accepts_extra_inputs is True
    assert main.output_names == ("out",)


def test_undeclared_outputs_are_none() -> None:
    @agent
    def main(ctx: Context) -> dict[str, object]:
        raise NotImplementedError

    assert main.input_names == ()
    assert main.output_names is None


def test_class_agents_read_pins_from_handle() -> None:
    class Summarize:
        def handle(self, ctx: Context, text: str, sentences: int = 3) -> dict[str, object]:
            raise NotImplementedError

    main = agent(Summarize)
    assert isinstance(main, Agent)
    assert main.input_names == ("text", "sentences")
    assert main.target is Summarize


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def main(ctx: Context, x: bytes) -> None: ...", "unsupported pin annotation bytes"),
        ("def main(ctx: Context, x: set[str]) -> None: ...", "unsupported pin annotation set[str]"),
        ("def main(ctx: Context, x: int, /) -> None: ...", "parameter 'x' cannot be bound by name"),
        ("def main(ctx: Context, *xs: int) -> None: ...", "parameter 'xs' cannot be bound by name"),
        ("def main() -> None: ...", "must take the Context as its first parameter"),
        ("def main(ctx: Context, x: Missing) -> None: ...", "cannot resolve the annotations"),
        ("class main: ...", "must define handle(self, ctx, ...)"),
        (
            "class main:\n    async def setup(self, ctx): ...\n    def handle(self, ctx): ...",
            "main.setup is async but handle is not",
        ),
    ],
)
def test_bad_declarations_fail_at_import_time(source: str, message: str) -> None:
    namespace: dict[str, Any] = {"Context": Context}
    exec(source, namespace)  # noqa: S102 - test input written above
    with pytest.raises(TypeError, match=re.escape(message)):
        agent(namespace["main"])


def test_heartbeat_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        agent(heartbeat=0)(lambda ctx: None)
