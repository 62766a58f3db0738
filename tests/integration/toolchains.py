"""Node.js and Rust for the end-to-end tests of Cog-Paks in those languages.

Reuses what the conformance tests do: the Node SDK built in ``sdks/node`` (so ``run.sh`` of a
Node Cog-Pak finds it), and cargo building into the shared target directory (so the SDK's
dependencies compile once for every test). Like them, these fail, never skip, without the
toolchains.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

from test_conformance import build_node_sdk
from test_conformance_rust import cargo_target_dir

__all__ = ["node_and_rust"]


@pytest.fixture
def node_and_rust(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Node SDK is built; cargo is on PATH; agents build into the shared target dir."""
    build_node_sdk()
    if shutil.which("cargo") is None:
        pytest.fail("cargo not found on PATH: Rust Cog-Paks need Rust >= 1.95", pytrace=False)
    monkeypatch.setenv("CARGO_TARGET_DIR", str(cargo_target_dir()))
