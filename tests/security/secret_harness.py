"""What the secret tests share: a secret whose every encoding is recognisable, the agents
that leak it, a flow using them, and a scanner for the value in any bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AGENTS = Path(__file__).resolve().parent / "agents"

TOKEN = 'tok-Zq8"x\\yü-s3cr3t-4F7B9'  # noqa: S105 - test data
"""A quote, a backslash and a non-ASCII letter: its JSON forms differ from the plain one."""
PEM = (
    "-----BEGIN TEST KEY-----\n"
    "MIIBoGpemLINEoneQWERTY0123\n"
    "MIIBoGpemLINEtwoASDFGH4567\n"
    "-----END TEST KEY-----"
)
FRAGMENTS = ("s3cr3t", "pemLINEone", "pemLINEtwo")
"""Pieces that appear in no marker, no code and no other test data: finding one anywhere
means a value (or part of it) leaked, whatever its encoding."""


def leak_flow(
    *, fail: bool = False, pem: bool = False, flow_id: str = "sec.leak"
) -> dict[str, Any]:
    """``user`` leaks its secrets; ``plain`` (no capability) reports its envelope; ``after``
    receives ``user``'s output downstream."""
    secrets = ["API_TOKEN", "PEM_KEY"] if pem else ["API_TOKEN"]
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": flow_id, "name": "leak"},
        "graph": {
            "nodes": [
                {"id": "user", "type": "sec.secret-user", "params": {"fail": fail, "pem": pem}},
                {"id": "plain", "type": "sec.no-secrets"},
                {"id": "after", "type": "sec.no-secrets"},
            ],
            "edges": [{"from": "user.result", "to": "after.text"}],
        },
        "runConfig": {"secrets": secrets},
    }


def write_flow(path: Path, flow: dict[str, Any]) -> Path:
    path.write_text(json.dumps(flow))
    return path


def forms(value: str) -> list[bytes]:
    """Encodings under which ``value`` could be stored or sent."""
    texts = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    return [text.encode() for text in texts]


def leaks(data: bytes) -> list[str]:
    """The secret fragments found in ``data`` (empty when nothing leaked)."""
    found = [fragment for fragment in FRAGMENTS if fragment.encode() in data]
    found += [repr(form) for form in forms(TOKEN) if form in data]
    return found


def scan_files(*paths: Path) -> dict[str, list[str]]:
    """Leaks per file, for every existing file among ``paths`` (SQLite: add -wal, -shm)."""
    found = {}
    for path in paths:
        if path.is_file() and (hits := leaks(path.read_bytes())):
            found[str(path)] = hits
    return found
