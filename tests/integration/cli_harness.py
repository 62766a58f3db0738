"""End-to-end tests: the real ``mentatctl`` in a subprocess, real agent processes, a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO.parent / "shared" / "compat" / "mentatlab-original"
MENTATCTL = str(Path(sys.executable).with_name("mentatctl"))

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Cli:
    def invoke(
        *args: str, timeout: float = 60, cwd: Path = REPO
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MENTATLAB_HOME": str(home), "COLUMNS": "200"}
        env.pop("MENTATLAB_AGENTS_PATH", None)
        result = subprocess.run(
            [MENTATCTL, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return invoke
