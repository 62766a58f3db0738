"""Reference agent of the Python SDK for the conformance vectors.

Implements the contract in conformance/README.md with ``mentatlab.sdk``: the variant comes
from ``CONFORMANCE_AGENT`` (default, typed, heartbeat), the behaviour from ``params.action``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from mentatlab.sdk import Agent, AgentError, Cancelled, Context, FatalError, agent

ENV_NAMES = ("MENTAT_PROTOCOL", "MENTAT_RUN_ID", "MENTAT_NODE_ID", "MENTAT_ATTEMPT")


def run_steps(ctx: Context, steps: Sequence[Mapping[str, Any]]) -> None:
    for step in steps:
        run_step(ctx, step)


def run_step(ctx: Context, step: Mapping[str, Any]) -> None:
    do = step["do"]
    if do == "log":
        if "level" in step:
            ctx.log(step["message"], step["level"])
        else:
            ctx.log(step["message"])
    elif do == "progress":
        ctx.progress(step["percent"], step.get("message"))
    elif do == "heartbeat":
        ctx.heartbeat()
    elif do == "metric":
        ctx.metric(step["name"], step["value"], step.get("unit"))
    elif do == "checkpoint":
        ctx.checkpoint(step["state"])
    elif do == "output":
        ctx.output(step["pin"], step["value"])
    elif do == "print":
        print(step["text"])
    elif do == "stderr":
        print(step["text"], file=sys.stderr)
    elif do == "sleep":
        time.sleep(step["seconds"])
    elif do == "heartbeats":
        with ctx.heartbeats(every=step["every"]):
            time.sleep(step["seconds"])
    elif do == "repeat":
        for _ in range(step["times"]):
            run_steps(ctx, step["steps"])
    elif do == "wait_for_cancel":
        try:
            ctx.log(step["message"])
            while True:
                time.sleep(0.01)
        except Cancelled:
            run_steps(ctx, step.get("then", []))
            if not step.get("swallow", False):
                raise
    elif do == "fail":
        options: dict[str, Any] = {"retryable": step.get("retryable", True)}
        if "code" in step:
            options["code"] = step["code"]
        raise AgentError(step["message"], **options)
    elif do == "fatal":
        raise FatalError(step["message"], **({"code": step["code"]} if "code" in step else {}))
    elif do == "crash":
        raise RuntimeError(step["message"])
    else:
        raise FatalError(f"unknown step {do!r}", code="unknown_step")


def handle(ctx: Context, **inputs: Any) -> dict[str, Any] | None:
    action = ctx.params.get("action", "echo")
    if action == "echo":
        # Code point order: the same in every language (see README).
        return {name: inputs[name] for name in sorted(inputs)}
    if action == "describe":
        return {
            "run": {"id": ctx.run_id, "node": ctx.node_id, "attempt": ctx.attempt},
            "inputs": dict(ctx.inputs),
            "params": dict(ctx.params),
            "resume": ctx.resume,
            "env": {name: os.environ.get(name) for name in ENV_NAMES},
        }
    if action == "script":
        run_steps(ctx, ctx.params.get("steps", []))
        returns: dict[str, Any] | None = ctx.params.get("returns")
        return returns
    if action == "resume":
        return resume(ctx, ctx.params["total"], ctx.params.get("fail_at"))
    if action == "big_output":
        return {"data": ctx.params["unit"] * ctx.params["times"]}
    raise FatalError(f"unknown action {action!r}", code="unknown_action")


def resume(ctx: Context, total: int, fail_at: int | None) -> dict[str, Any]:
    start = ctx.resume["next"] if ctx.resume else 0
    ctx.log(f"starting at {start}")
    for i in range(start, total):
        ctx.checkpoint({"next": i + 1})
        ctx.progress(100 * (i + 1) / total)
        if fail_at is not None and i + 1 == fail_at:
            raise AgentError(f"interrupted after {i + 1}", code="interrupted")
    return {"done": total, "resumed_from": start}


class TypedOutputs(TypedDict):
    result: str


def typed(ctx: Context, text: str, count: int = 1) -> TypedOutputs:
    outputs: dict[str, Any] = {"result": " ".join([text] * count)}
    if ctx.params.get("wrong_type"):
        outputs["result"] = 42
    if ctx.params.get("undeclared"):
        outputs["undeclared"] = True
    return outputs  # type: ignore[return-value]  # deliberately wrong when asked to be


AGENTS: dict[str, Agent] = {
    "default": agent(handle),
    "typed": agent(typed),
    "heartbeat": agent(heartbeat=0.05)(handle),
}

if __name__ == "__main__":
    AGENTS[os.environ.get("CONFORMANCE_AGENT", "default")].run()
