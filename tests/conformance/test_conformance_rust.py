"""The Rust SDK's reference agent against every protocol v1 conformance vector.

The same as ``test_conformance.py`` does for Python and Node, in a file of its own: one test
per vector, e.g. ``test_vector[rust-cancel_sigterm]``, plus the SDK's own unit tests
(``cargo test``) and the agent under the engine's local driver.

The agent (``conformance/agents/rust``, depending on ``sdks/rust`` by path) is built here with
``cargo build --locked`` into the shared target directory, ``$CARGO_TARGET_DIR`` or else
``${XDG_CACHE_HOME:-~/.cache}/mentatlab/cargo-target`` (outside the repository, kept between
runs); cargo itself decides what is stale, and does nothing when nothing is. Without cargo
(Rust >= 1.95) these tests fail, they never skip.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mentatlab.testing.conformance import Vector, load_vectors, run_vector

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
RUST_SDK = ROOT / "sdks" / "rust"
RUST_AGENT = CONFORMANCE / "agents" / "rust"
AGENT_BINARY = "mentatlab-conformance-agent"
VECTORS = load_vectors(CONFORMANCE / "vectors")
MIN_RUST = (1, 95)
BUILD_TIMEOUT = 1800  # a cold build of the SDK with the client feature, on a slow machine


def cargo_target_dir() -> Path:
    """The shared target directory of the SDK and the agent (as ``run.sh`` computes it)."""
    if configured := os.environ.get("CARGO_TARGET_DIR"):
        return Path(configured).resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mentatlab" / "cargo-target"


def _cargo() -> str:
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail(
            "cargo not found on PATH: the Rust SDK (sdks/rust) needs Rust >= "
            f"{MIN_RUST[0]}.{MIN_RUST[1]} with cargo to build and test; install it "
            "(https://rustup.rs, or e.g. apt-get install cargo)",
            pytrace=False,
        )
    version = subprocess.run([cargo, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"cargo (\d+)\.(\d+)", version.stdout)
    if match is None or (int(match.group(1)), int(match.group(2))) < MIN_RUST:
        pytest.fail(
            f"Rust >= {MIN_RUST[0]}.{MIN_RUST[1]} is needed for sdks/rust, found "
            f"{(version.stdout or version.stderr).strip()!r}",
            pytrace=False,
        )
    return cargo


def _cargo_run(args: list[str], cwd: Path, what: str) -> str:
    target = cargo_target_dir()
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_TERM_COLOR": "never"}
    # One cargo at a time in the shared directory, should two pytest processes run.
    with (target / ".mentatlab-pytest.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            [_cargo(), *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT,
        )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-60:])
        pytest.fail(f"{what} failed in {cwd} (exit {proc.returncode}):\n{tail}", pytrace=False)
    return output


def build_rust_agent() -> Path:
    """Build (or find up to date) the reference agent; returns its binary."""
    _cargo_run(["build", "--locked"], RUST_AGENT, "cargo build of the Rust reference agent")
    binary = cargo_target_dir() / "debug" / AGENT_BINARY
    if not binary.is_file():
        pytest.fail(f"cargo build succeeded but {binary} does not exist", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def rust_agent() -> list[str]:
    return [str(build_rust_agent())]


@pytest.mark.parametrize("vector", [pytest.param(v, id=f"rust-{v.name}") for v in VECTORS])
def test_vector(vector: Vector, rust_agent: list[str]) -> None:
    outcome = run_vector(vector, rust_agent, cwd=ROOT)
    assert outcome.passed, f"{vector.description}\n{outcome.report()}"


def test_rust_sdk_unit_tests() -> None:
    """``cargo test --features client`` in sdks/rust: the agent side and the API client."""
    output = _cargo_run(
        ["test", "--locked", "--features", "client"], RUST_SDK, "cargo test of sdks/rust"
    )
    results = re.findall(r"test result: ok\. (\d+) passed", output)
    assert results, f"no test ran:\n{output[-3000:]}"


def test_reference_agent_in_the_engine(rust_agent: list[str]) -> None:
    """The reference agent under the local process driver (run.sh, limits, process group)."""
    from mentatlab.testing import run_cogpak

    echo = run_cogpak(RUST_AGENT, inputs={"text": "héllo 🧠\u2028"}).assert_succeeded()
    assert echo.outputs == {"text": "héllo 🧠\u2028"}

    steps = [{"do": "checkpoint", "state": {"n": 1}}, {"do": "fail", "message": "no", "code": "x"}]
    failed = run_cogpak(RUST_AGENT, params={"action": "script", "steps": steps})
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("x", True)
    assert failed.attempt.last_checkpoint == {"n": 1}

    typed = run_cogpak(RUST_AGENT, inputs={"count": 2}, env={"CONFORMANCE_AGENT": "typed"})
    assert typed.error is not None
    assert (typed.error.code, typed.error.retryable) == ("missing_input", False)

    wait = [{"do": "wait_for_cancel", "message": "waiting"}]
    stopped = run_cogpak(RUST_AGENT, params={"action": "script", "steps": wait}, cancel_after=1.5)
    assert stopped.status == "cancelled"
    assert stopped.log_messages == ["waiting"]
