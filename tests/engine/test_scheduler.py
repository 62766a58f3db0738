from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine_harness import (
    TEXT_AGENT,
    Harness,
    ListSink,
    ScriptedDriver,
    flow,
    manifest,
    succeed,
    upper,
)

from mentatlab.engine.attempts import AgentLimits
from mentatlab.engine.drivers.base import (
    AttemptOutcome,
    AttemptResult,
    AttemptSpec,
    EventCallback,
    FailureReason,
)
from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.engine.plan import AgentBinding, FlowPlan
from mentatlab.engine.scheduler import FlowEngine, RunOutcome
from mentatlab.model.protocol import CheckpointEvent, OutputEvent, ProgressEvent
from mentatlab.model.run import RunStatus


def test_chain_passes_outputs_along_edges_and_reports_terminal_outputs(harness: Harness) -> None:
    outcome = harness.run(
        flow(
            [
                {"id": "p", "type": "ui.prompt", "outputs": {"text": "hello"}},
                {"id": "a", "type": "t.upper", "params": {"suffix": "!"}},
                {"id": "c", "type": "ui.console"},
            ],
            [("p.text", "a.text"), ("a.result", "c.shown")],
        )
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.outputs == {"c": {"shown": "HELLO!"}}
    assert harness.driver.attempts[0].inputs == {"text": "hello"}
    assert harness.driver.attempts[0].params == {"suffix": "!"}
    kinds = [(e.type.value, e.node, e.data.get("status")) for e in harness.sink.events]
    assert kinds[0] == ("run.status", None, "running")
    assert kinds[-1] == ("run.status", None, "succeeded")
    order = [
        e.node
        for e in harness.sink.events
        if e.type == "node.status" and e.data["status"] == "succeeded"
    ]
    assert order == ["p", "a", "c"]


def test_independent_nodes_run_in_parallel_up_to_the_bound() -> None:
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=0.05)})
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    nodes = [{"id": f"n{i}", "type": "t.upper"} for i in range(6)]
    outcome = harness.run(flow(nodes), max_parallel=2)
    assert outcome.status is RunStatus.SUCCEEDED
    assert driver.peak_running == 2
    assert len(driver.attempts) == 6


def test_run_config_max_parallel_overrides_the_drivers_default() -> None:
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=0.03)}, default_parallelism=4)
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    nodes = [{"id": f"n{i}", "type": "t.upper"} for i in range(4)]
    harness.run(flow(nodes, maxParallel=1))
    assert driver.peak_running == 1


def test_the_runs_own_max_parallel_overrides_its_flows() -> None:
    # `mentatctl run --max-parallel`, a FlowRun's maxParallel: the run's bound is the user's
    # choice for this run, the flow's runConfig only the default for its runs.
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=0.03)}, default_parallelism=1)
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    nodes = [{"id": f"n{i}", "type": "t.upper"} for i in range(4)]
    harness.run(flow(nodes, maxParallel=1), max_parallel=3)
    assert driver.peak_running == 3


def test_without_any_bound_the_drivers_default_applies() -> None:
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=0.03)}, default_parallelism=2)
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    harness.run(flow([{"id": f"n{i}", "type": "t.upper"} for i in range(4)]))
    assert driver.peak_running == 2


def test_agent_max_concurrent_bounds_its_own_attempts() -> None:
    limited = manifest(
        "t.limited", [], [{"name": "result", "type": "string"}], resources={"maxConcurrent": 1}
    )
    driver = ScriptedDriver(
        {
            "t.limited": succeed(lambda s: {"result": "x"}, delay=0.03),
            "t.upper": succeed(upper, delay=0.03),
        }
    )
    harness = Harness(driver, {"t.limited": limited, "t.upper": TEXT_AGENT})
    nodes = [{"id": f"l{i}", "type": "t.limited"} for i in range(3)]
    nodes += [{"id": f"u{i}", "type": "t.upper"} for i in range(2)]
    assert harness.run(flow(nodes), max_parallel=8).status is RunStatus.SUCCEEDED
    assert driver.peak_running == 3  # one limited agent + two others at a time


def test_shared_agent_limits_bound_an_agent_across_runs() -> None:
    limited = manifest(
        "t.limited", [], [{"name": "result", "type": "string"}], resources={"maxConcurrent": 2}
    )
    driver = ScriptedDriver({"t.limited": succeed(lambda s: {"result": "x"}, delay=0.03)})
    the_flow = flow([{"id": f"l{i}", "type": "t.limited"} for i in range(3)])
    plan = FlowPlan(the_flow, {n.id: AgentBinding(limited, Path()) for n in the_flow.graph.nodes})
    shared = AgentLimits()

    async def runs(limits: AgentLimits | None) -> list[RunOutcome]:
        engines = [FlowEngine(driver, max_parallel=8, agent_limits=limits) for _ in range(3)]
        return await asyncio.gather(
            *(
                engine.execute(
                    plan, run_id=f"r{i}", inputs={}, sink=ListSink(), cancel=asyncio.Event()
                )
                for i, engine in enumerate(engines)
            )
        )

    outcomes = asyncio.run(runs(shared))
    assert {o.status for o in outcomes} == {RunStatus.SUCCEEDED}
    assert driver.peak_running == 2  # three runs, one bound
    driver.peak_running = 0
    asyncio.run(runs(None))
    assert driver.peak_running == 6  # each run on its own: two per run


def test_several_edges_into_a_json_pin_deliver_a_list_in_edge_order(harness: Harness) -> None:
    harness.run(
        flow(
            [
                {"id": "a", "type": "ui.prompt", "outputs": {"v": "first"}},
                {"id": "b", "type": "ui.prompt", "outputs": {"v": "second"}},
                {"id": "join", "type": "t.upper"},
            ],
            [("b.v", "join.text"), ("a.v", "join.text")],
        )
    )
    assert harness.driver.attempts[0].inputs == {"text": ["second", "first"]}


def test_run_inputs_and_constants_feed_unconnected_pins(harness: Harness) -> None:
    outcome = harness.run(
        flow(
            [
                {"id": "a", "type": "t.upper"},
                {"id": "b", "type": "t.upper", "inputs": {"text": "const"}},
            ]
        ),
        inputs={"a.text": "given"},
    )
    assert outcome.outputs == {"a": {"result": "GIVEN"}, "b": {"result": "CONST"}}


def _routing_flow(expression: str, kind: str = "switch") -> Any:
    if kind == "switch":
        config = {
            "type": "switch",
            "expression": expression,
            "branches": {"technical": {"targets": ["tech"]}, "creative": {"targets": ["art"]}},
            "default": "tech",
        }
    else:
        config = {
            "type": "if",
            "expression": expression,
            "then": {"targets": ["tech"]},
            "else": {"targets": ["art"]},
        }
    return flow(
        [
            {"id": "src", "type": "ui.prompt", "outputs": {"label": "creative", "score": 0.2}},
            {"id": "router", "type": "conditional", "params": {"conditional": config}},
            {"id": "tech", "type": "t.upper"},
            {"id": "art", "type": "t.upper"},
            {"id": "after_art", "type": "t.upper"},
            {"id": "join", "type": "ui.console"},
        ],
        [
            ("src.label", "router.input"),
            ("router.output", "tech.text"),
            ("router.output", "art.text"),
            ("art.result", "after_art.text"),
            ("tech.result", "join.tech"),
            ("after_art.result", "join.art"),
        ],
    )


def test_switch_runs_the_matching_branch_and_skips_the_others(harness: Harness) -> None:
    outcome = harness.run(_routing_flow("inputs.src.label"))
    assert outcome.status is RunStatus.SUCCEEDED
    assert harness.final_status("tech") == "skipped"
    assert harness.final_status("art") == "succeeded"
    assert harness.final_status("after_art") == "succeeded"
    assert outcome.outputs == {"join": {"art": "CREATIVE"}}


def test_switch_falls_back_to_default(harness: Harness) -> None:
    harness.run(_routing_flow("inputs.src.score"))
    assert harness.final_status("tech") == "succeeded"
    assert harness.final_status("art") == "skipped"
    assert harness.final_status("after_art") == "skipped"


def test_if_takes_else_on_a_falsy_expression(harness: Harness) -> None:
    harness.run(_routing_flow("inputs.src.score > 0.5", kind="if"))
    assert harness.final_status("tech") == "skipped"
    assert harness.final_status("art") == "succeeded"


def test_bad_expression_fails_the_conditional_with_a_clear_error(harness: Harness) -> None:
    outcome = harness.run(_routing_flow("inputs.nothere.label"))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.node == "router"
    assert "nothere" in outcome.error.message
    assert harness.final_status("tech") == "skipped"


def test_for_each_runs_body_per_item_in_order_within_its_parallel_bound() -> None:
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=0.02)})
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    outcome = harness.run(
        flow(
            [
                {
                    "id": "source",
                    "type": "t.upper",
                    "outputs": {"items": ["a", "b", "c", "d", "e"]},
                },
                {
                    "id": "loop",
                    "type": "for_each",
                    "params": {
                        "for_each": {
                            "collection": "inputs.source.items",
                            "item_var": "doc",
                            "index_var": "i",
                            "max_parallel": 2,
                            "body": ["process"],
                        }
                    },
                },
                {"id": "process", "type": "t.upper", "params": {"suffix": "-${doc}${i}"}},
                {"id": "sink", "type": "ui.console"},
            ],
            [("source.items", "loop.input"), ("loop.output", "sink.all")],
        ),
        max_parallel=8,
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.outputs == {"sink": {"all": ["A-a0", "B-b1", "C-c2", "D-d3", "E-e4"]}}
    assert driver.peak_running == 2
    assert sorted(spec.node_id for spec in driver.attempts) == [f"process[{i}]" for i in range(5)]
    assert harness.final_status("process") == "succeeded"
    assert harness.final_status("process[3]") == "succeeded"


def test_for_each_over_a_non_list_fails_the_loop(harness: Harness) -> None:
    outcome = harness.run(
        flow(
            [
                {"id": "source", "type": "ui.prompt", "outputs": {"items": 5}},
                {
                    "id": "loop",
                    "type": "for_each",
                    "params": {"for_each": {"collection": "inputs.source.items", "body": ["p"]}},
                },
                {"id": "p", "type": "t.upper"},
            ],
            [("source.items", "loop.input")],
        )
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and "list" in outcome.error.message
    assert harness.final_status("p") == "failed"


def _failing(times: int, retryable: bool = True) -> Any:
    calls = {"n": 0}

    async def behaviour(
        spec: AttemptSpec, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        calls["n"] += 1
        if calls["n"] <= times:
            await on_event(CheckpointEvent(state={"done": calls["n"]}))
            return AttemptResult(
                outcome=AttemptOutcome.FAILED,
                reason=FailureReason.EXIT_CODE,
                exit_code=3,
                message="exit code 3",
                retryable=retryable,
            )
        return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs={"result": "ok"})

    return behaviour


def _flaky_harness(times: int, limit: int, retryable: bool = True) -> Harness:
    flaky = manifest(
        "t.flaky",
        [],
        [{"name": "result", "type": "string"}],
        retries={"limit": limit, "backoff": {"initialSeconds": 0.01, "jitter": 0.5}},
    )
    return Harness(ScriptedDriver({"t.flaky": _failing(times, retryable)}), {"t.flaky": flaky})


def test_failed_attempts_are_retried_with_backoff_and_resume_from_checkpoint() -> None:
    harness = _flaky_harness(times=2, limit=2)
    outcome = harness.run(flow([{"id": "f", "type": "t.flaky"}]))
    assert outcome.status is RunStatus.SUCCEEDED
    attempts = harness.driver.attempts
    assert [spec.attempt for spec in attempts] == [1, 2, 3]
    assert [spec.resume for spec in attempts] == [None, {"done": 1}, {"done": 2}]
    retries = [
        e for e in harness.sink.events if e.type == "node.status" and e.data["status"] == "pending"
    ]
    assert len(retries) == 2
    assert all(0.0 < e.data["retry_in_seconds"] <= 0.02 for e in retries)


def test_retries_run_out_and_the_error_names_node_attempt_and_cause() -> None:
    harness = _flaky_harness(times=5, limit=1)
    outcome = harness.run(flow([{"id": "f", "type": "t.flaky"}]))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert (outcome.error.node, outcome.error.attempt, outcome.error.exit_code) == ("f", 2, 3)
    assert "attempt 2 of 2" in outcome.error.message and "exit code 3" in outcome.error.message


def test_non_retryable_failure_is_not_retried() -> None:
    harness = _flaky_harness(times=1, limit=3, retryable=False)
    assert harness.run(flow([{"id": "f", "type": "t.flaky"}])).status is RunStatus.FAILED
    assert len(harness.driver.attempts) == 1


def test_failure_skips_dependants_and_stops_new_work() -> None:
    flaky = manifest(
        "t.flaky",
        [{"name": "text", "type": "json", "required": False}],
        [{"name": "result", "type": "string"}],
    )
    driver = ScriptedDriver({"t.flaky": _failing(9), "t.upper": succeed(upper, delay=0.05)})
    harness = Harness(driver, {"t.flaky": flaky, "t.upper": TEXT_AGENT})
    outcome = harness.run(
        flow(
            [
                {"id": "bad", "type": "t.flaky"},
                {"id": "slow", "type": "t.upper"},
                {"id": "after_bad", "type": "t.upper"},
                {"id": "after_slow", "type": "t.upper"},
            ],
            [("bad.result", "after_bad.text"), ("slow.result", "after_slow.text")],
        )
    )
    assert outcome.status is RunStatus.FAILED
    assert harness.final_status("slow") == "succeeded"  # already running: allowed to finish
    assert harness.final_status("after_bad") == "skipped"
    assert harness.final_status("after_slow") == "skipped"


def test_missing_required_input_fails_the_node_without_starting_it() -> None:
    strict = manifest(
        "t.strict", [{"name": "text", "type": "string"}], [{"name": "result", "type": "string"}]
    )
    harness = Harness(ScriptedDriver({}), {"t.strict": strict})
    outcome = harness.run(flow([{"id": "s", "type": "t.strict"}]))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error.reason == "input_error"
    assert "'text'" in outcome.error.message
    assert harness.driver.attempts == []


def test_input_of_the_wrong_type_is_refused(harness: Harness) -> None:
    typed = manifest("t.num", [{"name": "n", "type": "number"}], [])
    harness.manifests["t.num"] = typed
    outcome = harness.run(flow([{"id": "x", "type": "t.num"}]), inputs={"x.n": "seven"})
    assert outcome.error is not None and "expected number, got string" in outcome.error.message


def test_output_of_the_wrong_type_fails_the_node() -> None:
    liar = manifest("t.liar", [], [{"name": "count", "type": "number"}])
    harness = Harness(
        ScriptedDriver({"t.liar": succeed(lambda s: {"count": "many"})}), {"t.liar": liar}
    )
    outcome = harness.run(flow([{"id": "l", "type": "t.liar"}]))
    assert outcome.error is not None and outcome.error.reason == "output_error"


def test_agent_events_are_relayed_with_node_and_attempt() -> None:
    async def chatty(
        spec: AttemptSpec, on_event: EventCallback, cancel: asyncio.Event
    ) -> AttemptResult:
        await on_event(ProgressEvent(percent=50, message="half"))
        await on_event(OutputEvent(pin="result", value="x"))
        return AttemptResult(outcome=AttemptOutcome.SUCCEEDED, outputs={"result": "x"})

    harness = Harness(ScriptedDriver({"t.upper": chatty}), {"t.upper": TEXT_AGENT})
    harness.run(flow([{"id": "c", "type": "t.upper"}]))
    relayed = [
        (e.type.value, e.node, e.attempt)
        for e in harness.sink.events
        if e.type in ("progress", "output")
    ]
    assert relayed == [("progress", "c", 1), ("output", "c", 1)]


def test_cancel_stops_running_nodes_and_cancels_the_rest() -> None:
    driver = ScriptedDriver({"t.upper": succeed(upper, delay=5)})
    harness = Harness(driver, {"t.upper": TEXT_AGENT})
    outcome = harness.run(
        flow(
            [{"id": "a", "type": "t.upper"}, {"id": "b", "type": "t.upper"}],
            [("a.result", "b.text")],
        ),
        cancel_after=0.05,
    )
    assert outcome.status is RunStatus.CANCELLED
    assert harness.final_status("a") == "cancelled"
    assert harness.final_status("b") == "cancelled"


def test_agent_without_command_fails_clearly() -> None:
    image_only = manifest("t.image", [], [], image="reg.example/agent:1.0")
    image_only = image_only.model_copy(update={"command": None})
    harness = Harness(LocalProcessDriver(), {"t.image": image_only})
    outcome = harness.run(flow([{"id": "i", "type": "t.image"}]))
    assert outcome.error is not None and "declares no command" in outcome.error.message


def test_run_inputs_replace_a_prompts_constants(harness: Harness) -> None:
    outcome = harness.run(
        flow(
            [
                {"id": "p", "type": "ui.prompt", "outputs": {"text": "default"}},
                {"id": "a", "type": "t.upper"},
            ],
            [("p.text", "a.text")],
        ),
        inputs={"p.text": "given"},
    )
    assert outcome.outputs == {"a": {"result": "GIVEN"}}


def test_env_references_are_noted_only_where_the_driver_cannot_resolve_them() -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, "A=1"]
    agent = manifest("t.env", [], [{"name": "result", "type": "string"}], env=env)
    for resolves, expected in ((False, 1), (True, 0)):
        driver = ScriptedDriver({"t.env": succeed(lambda s: {"result": "x"})})
        driver.resolves_env_references = resolves
        harness = Harness(driver, {"t.env": agent})
        harness.run(flow([{"id": "e", "type": "t.env"}]))
        notes = [e for e in harness.sink.events if e.type == "log" and "TOKEN" in e.data["message"]]
        assert len(notes) == expected
        assert driver.attempts[0].env == {"A": "1"}
