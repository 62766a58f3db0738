"""On a terminal ``mentatctl run`` draws a live per-node table instead of plain lines."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path

from cli_harness import MENTATCTL, REPO

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_terminal(args: list[str], home: Path) -> tuple[int, str]:
    leader, follower = os.openpty()
    env = {**os.environ, "MENTATLAB_HOME": str(home), "TERM": "xterm", "COLUMNS": "160"}
    process = subprocess.Popen(
        [MENTATCTL, *args], stdin=follower, stdout=follower, stderr=follower, env=env, cwd=REPO
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closes when the process exits
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(leader)
    code = process.wait(timeout=10)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_live_table_shows_every_node_with_status_attempt_and_elapsed(tmp_path: Path) -> None:
    code, screen = _run_on_terminal(["run", "examples/hello.flow.yaml"], tmp_path / "home")
    assert code == 0, screen
    assert re.search(r"node\s+status\s+attempt\s+progress\s+elapsed\s+detail", screen)
    for node in ("keywords", "summary", "mood"):
        assert re.search(rf"{node}\s+succeeded\s+1\s+.*\d+\.\ds", screen), node
    assert "mood succeeded (attempt 1)" not in screen  # no plain lines on a terminal
    assert "Traceback" not in screen
