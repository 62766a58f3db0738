"""Run SDK agents as real subprocesses: envelope on stdin, events parsed from stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mentatlab.model.protocol import agent_event_adapter

HEADER = """\
import asyncio, json, os, subprocess, sys, threading, time
from typing import Any, Literal, TypedDict
from mentatlab.sdk import AgentError, Cancelled, Context, FatalError, agent
"""


@dataclass
class Finished:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    raw: bytes


def envelope(
    inputs: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    resume: Any = None,
) -> dict[str, Any]:
    return {
        "protocol": "mentatlab.agent/v1",
        "run": {"id": "run-1", "node": "node-a", "attempt": 2},
        "inputs": inputs or {},
        "params": params or {},
        "resume": resume,
    }


def parse_events(raw: bytes) -> list[dict[str, Any]]:
    """Every stdout line must be one valid protocol event; anything else fails the test."""
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n"), "the last event line is unterminated"
    events = [json.loads(line) for line in text.split("\n")[:-1]]
    for event in events:
        agent_event_adapter.validate_python(event)
    return events


def write_agent(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "agent.py"
    source = HEADER + textwrap.dedent(body) + "\nif __name__ == '__main__':\n    main.run()\n"
    script.write_text(source, encoding="utf-8")
    return script


@pytest.fixture
def run_agent(tmp_path: Path) -> Callable[..., Finished]:
    def run(
        body: str, stdin: dict[str, Any] | bytes | None = None, timeout: float = 30
    ) -> Finished:
        script = write_agent(tmp_path, body)
        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin or envelope()).encode()
        proc = subprocess.run(
            [sys.executable, str(script)],
            input=data,
            capture_output=True,
            timeout=timeout,
            cwd=tmp_path,
            check=False,
        )
        return Finished(
            proc.returncode, parse_events(proc.stdout), proc.stderr.decode(), proc.stdout
        )

    return run
