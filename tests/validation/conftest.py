"""Fixtures for validation tests: files in a temporary directory, agents in a catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from validation_helpers import WriteFile, manifest

from mentatlab.validation import AgentCatalog


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write text, bytes or data (as JSON, which YAML also reads) to ``tmp_path/name``."""

    def write_file(name: str, content: str | bytes | dict[str, Any]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            text = content if isinstance(content, str) else json.dumps(content, indent=2)
            path.write_text(text, encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def catalog(tmp_path: Path) -> AgentCatalog:
    """Agents for flow tests: text (string -> string), media (image), sink (required json)."""
    root = tmp_path / "catalog"
    agents = {
        "text": manifest("t.text"),
        "media": manifest(
            "t.media",
            inputs=[{"name": "blob", "type": "binary", "required": False}],
            outputs=[{"name": "picture", "type": "image", "metadata": {"mimeType": "image/png"}}],
        ),
        "sink": manifest(
            "t.sink",
            inputs=[
                {"name": "data", "type": "json"},
                {"name": "opt", "type": "string", "default": "x"},
            ],
            outputs=[],
        ),
    }
    for name, data in agents.items():
        (root / name).mkdir(parents=True)
        (root / name / "manifest.yaml").write_text(json.dumps(data), encoding="utf-8")
    return AgentCatalog([root])
