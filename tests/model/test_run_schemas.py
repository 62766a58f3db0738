"""The run record and run event schemas are generated from their models and must be current."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import jsonschema

from mentatlab.model.run import EventType, NodeRecord, RunEvent, RunRecord, RunStatus

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate", ROOT / "tools/generate_run_schemas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_schemas_match_the_models() -> None:
    generator = _generator()
    for name, model in generator.GENERATED.items():
        checked_in = (ROOT / "schemas" / name).read_text(encoding="utf-8")
        assert checked_in == generator.render(name, model), f"schemas/{name}: run `make schemas`"


def test_records_and_events_validate_against_their_schemas() -> None:
    now = datetime.now(UTC)
    record = RunRecord(
        id="r1",
        status=RunStatus.SUCCEEDED,
        created_at=now,
        nodes={"a": NodeRecord(attempts=1, outputs={"x": [1, "two"]})},
        outputs={"a": {"x": [1, "two"]}},
    )
    event = RunEvent(
        run_id="r1",
        seq=1,
        ts=now,
        type=EventType.LOG,
        node="a",
        attempt=1,
        data={"level": "info", "message": "hi"},
    )
    for name, value in (("run-record", record), ("run-event", event)):
        schema = json.loads((ROOT / "schemas" / f"{name}.v1.schema.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(value.model_dump(mode="json"))
    bad = event.model_dump(mode="json") | {"seq": 0}
    schema = json.loads((ROOT / "schemas/run-event.v1.schema.json").read_text())
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
