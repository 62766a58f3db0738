"""Write docs/openapi.json, the OpenAPI document of the MentatLab server.

tests/api/test_api_http.py fails when the file differs from what a server serves at
/openapi.json. Run: .venv/bin/python tools/generate_openapi.py (or make openapi)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from mentatlab.api import Settings, create_app
from mentatlab.store import open_store

TARGET = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def main() -> int:
    with tempfile.TemporaryDirectory() as home, open_store(Path(home)) as store:
        document = create_app(Settings(store=store)).openapi()
    TARGET.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.relative_to(TARGET.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
