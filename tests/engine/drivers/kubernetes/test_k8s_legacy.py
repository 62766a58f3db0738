"""A legacy agent's pod: inputs on stdin and in INPUT_SPEC/INPUT_CONTEXT, kept in the Secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from mentatlab.engine.drivers.attempt import AttemptRecorder
from mentatlab.engine.drivers.base import AttemptOutcome, AttemptSpec
from mentatlab.engine.drivers.kubernetes.pods import (
    ENVELOPE_KEY,
    Owner,
    PodOptions,
    build_pod,
    build_secret,
)

PRIVATE_INPUT = "s3cret-legacy-input"
OPTIONS = PodOptions(
    owner=Owner(api_version="mentatlab.io/v1", kind="FlowRun", name="fr", uid="u"), flowrun="fr"
)
SPEC = AttemptSpec(
    run_id="r-1",
    node_id="psyche",
    attempt=1,
    agent_id="legacy.psyche",
    agent_version="0.1.0",
    command=("python", "main.py"),
    workdir=Path("/nonexistent"),
    image="example.org/psyche:0.1.0",
    inputs={"spec": {"prompt": PRIVATE_INPUT}, "context": {"user": "u"}},
    protocol="legacy",
    output_pins=("result",),
)


def test_secret_holds_stdin_object_and_input_variables() -> None:
    data = build_secret(SPEC, OPTIONS, name="n", namespace="a").to_dict()["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    assert decoded == {
        ENVELOPE_KEY: json.dumps(SPEC.inputs, separators=(",", ":")) + "\n",
        "INPUT_SPEC": json.dumps({"prompt": PRIVATE_INPUT}, separators=(",", ":")),
        "INPUT_CONTEXT": '{"user":"u"}',
    }


def test_pod_reads_input_variables_from_the_secret_and_never_holds_inputs() -> None:
    pod = build_pod(SPEC, OPTIONS, name="n", namespace="a", manifest=None).to_dict()
    assert PRIVATE_INPUT not in json.dumps(pod)
    env = {var["name"]: var for var in pod["spec"]["containers"][0]["env"]}
    assert env["INPUT_SPEC"]["valueFrom"] == {"secretKeyRef": {"name": "n", "key": "INPUT_SPEC"}}
    assert env["INPUT_CONTEXT"]["valueFrom"]["secretKeyRef"]["key"] == "INPUT_CONTEXT"
    assert {k: env[k]["value"] for k in ("MENTAT_PROTOCOL", "RUN_ID", "NODE_ID", "AGENT_ID")} == {
        "MENTAT_PROTOCOL": "legacy",
        "RUN_ID": "r-1",
        "NODE_ID": "psyche",
        "AGENT_ID": "legacy.psyche",
    }


def test_the_log_is_read_the_legacy_way() -> None:
    # What the supervisor does with the pod's log lines, then at its end.
    recorder = AttemptRecorder(SPEC)
    assert recorder.stdout_line('{"result": {"ok": true}, "mentat_meta": {"seconds": 1}}') == []
    events = recorder.stdout_end()
    assert [event.type for event in events] == ["log", "metric", "output"]
    result = recorder.result(exit_code=0, signal_number=None)
    assert (result.outcome, result.outputs) == (AttemptOutcome.SUCCEEDED, {"result": {"ok": True}})
