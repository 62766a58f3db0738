"""Fixtures for run store tests: a fresh MENTATLAB_HOME per test and an open store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mentatlab.store import SqlRunStore, open_store


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "mentatlab-home"


@pytest.fixture
def store(home: Path) -> Iterator[SqlRunStore]:
    with open_store(home) as opened:
        yield opened
