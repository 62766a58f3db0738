"""Write schemas/run-record.v1.schema.json and schemas/run-event.v1.schema.json.

Runs and run events are produced by MentatLab itself, so their pydantic models come first
and these schemas are generated from them for clients in other languages;
tests/model/test_run_schemas.py fails when a file is out of date. Run: make schemas
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mentatlab.model.run import RunEvent, RunRecord

SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "mentatlab" / "schemas"
GENERATED: dict[str, type[BaseModel]] = {
    "run-record.v1.schema.json": RunRecord,
    "run-event.v1.schema.json": RunEvent,
}


def render(name: str, model: type[BaseModel]) -> str:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://mentatlab.io/schemas/{name}",
        **model.model_json_schema(mode="serialization"),
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name, model in GENERATED.items():
        (SCHEMAS / name).write_text(render(name, model), encoding="utf-8")
        print(f"wrote schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
