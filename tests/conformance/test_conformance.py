"""Every SDK's reference agent against every protocol v1 conformance vector.

One test per (SDK, vector), e.g. ``test_vector[node-cancel_sigterm]``, so a failure names both.
The Node SDK is built here when ``sdks/node/dist`` is missing or older than its sources
(``npm ci`` when ``node_modules`` is missing or older than ``package-lock.json``, then
``npm run build``); without Node.js ≥ 20 and npm these tests fail, they never skip.

To add an SDK: a fixture returning its reference agent's command (building it if needed) and
an entry in ``SDKS``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mentatlab.testing.conformance import Vector, load_vectors, run_vector

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "conformance"
NODE_SDK = ROOT / "sdks" / "node"
VECTORS = load_vectors(CONFORMANCE / "vectors")
MIN_NODE = 20


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found on PATH: the Node SDK (sdks/node) needs Node.js >= {MIN_NODE} "
            "with npm to build and test; install them (e.g. apt-get install nodejs npm)",
            pytrace=False,
        )
    return path


def _newest(paths: Iterator[Path]) -> float:
    return max((path.stat().st_mtime for path in paths if path.is_file()), default=0.0)


def _run(command: list[str], what: str) -> str:
    proc = subprocess.run(
        command, cwd=NODE_SDK, capture_output=True, text=True, check=False, timeout=600
    )
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-40:])
        pytest.fail(f"{what} failed in {NODE_SDK} (exit {proc.returncode}):\n{tail}", pytrace=False)
    return output


def build_node_sdk() -> Path:
    """``sdks/node`` with up-to-date ``node_modules`` and ``dist``; returns the node binary."""
    node, npm = _tool("node"), _tool("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    match = re.match(r"v(\d+)\.", version.stdout)
    if match is None or int(match.group(1)) < MIN_NODE:
        pytest.fail(
            f"Node.js >= {MIN_NODE} is needed for sdks/node, found {version.stdout.strip()!r}",
            pytrace=False,
        )
    # One build at a time, should two pytest processes share the tree.
    with (NODE_SDK / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = NODE_SDK / "node_modules" / ".package-lock.json"
        lockfile = NODE_SDK / "package-lock.json"
        if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
            _run([npm, "ci", "--no-audit", "--no-fund"], "npm ci")
        built = NODE_SDK / "dist" / "index.js"
        sources = _newest(
            iter(
                [
                    *NODE_SDK.joinpath("src").rglob("*.ts"),
                    NODE_SDK / "tsconfig.json",
                    NODE_SDK / "package.json",
                    lockfile,
                ]
            )
        )
        if not built.exists() or built.stat().st_mtime < sources:
            _run([npm, "run", "build"], "npm run build")
    return Path(node)


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    return build_node_sdk()


@pytest.fixture(scope="session")
def python_agent() -> list[str]:
    return [sys.executable, str(CONFORMANCE / "agents" / "python" / "agent.py")]


@pytest.fixture(scope="session")
def node_agent(node_sdk: Path) -> list[str]:
    return [str(node_sdk), str(CONFORMANCE / "agents" / "node" / "agent.mjs")]


SDKS = {"python": "python_agent", "node": "node_agent"}
"""SDK name -> fixture giving its reference agent's command."""


@pytest.mark.parametrize(
    ("sdk", "vector"),
    [pytest.param(sdk, v, id=f"{sdk}-{v.name}") for sdk in SDKS for v in VECTORS],
)
def test_vector(sdk: str, vector: Vector, request: pytest.FixtureRequest) -> None:
    command: list[str] = request.getfixturevalue(SDKS[sdk])
    outcome = run_vector(vector, command, cwd=ROOT)
    assert outcome.passed, f"{vector.description}\n{outcome.report()}"


def test_node_sdk_unit_tests(node_sdk: Path) -> None:
    """``npm test`` in sdks/node: tsc (strict, tests included) and ``node --test``."""
    npm = _tool("npm")
    env = {**os.environ, "NODE_OPTIONS": ""}
    proc = subprocess.run(
        [npm, "test"], cwd=NODE_SDK, capture_output=True, text=True, env=env, check=False
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    summary = [line for line in lines if re.match(r"# (tests|pass|fail) ", line)]
    # Each failing subtest with the first lines of its YAML diagnostic (error, location).
    failures = [
        "\n".join(lines[index : index + 14])
        for index, line in enumerate(lines)
        if line.lstrip().startswith("not ok")
    ]
    tail = [] if failures else lines[-60:]  # e.g. a tsc error: no subtest ran
    assert proc.returncode == 0, "npm test failed:\n" + "\n".join(failures + summary + tail)


@pytest.mark.parametrize("sdk", list(SDKS))
def test_reference_agent_in_the_engine(sdk: str, request: pytest.FixtureRequest) -> None:
    """The reference agents under the local process driver (limits, process group, reasons)."""
    from mentatlab.testing import run_cogpak

    request.getfixturevalue(SDKS[sdk])  # built, for Node
    cogpak = CONFORMANCE / "agents" / sdk
    echo = run_cogpak(cogpak, inputs={"text": "héllo 🧠\u2028"}).assert_succeeded()
    assert echo.outputs == {"text": "héllo 🧠\u2028"}

    steps = [{"do": "checkpoint", "state": {"n": 1}}, {"do": "fail", "message": "no", "code": "x"}]
    failed = run_cogpak(cogpak, params={"action": "script", "steps": steps})
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("x", True)
    assert failed.attempt.last_checkpoint == {"n": 1}

    typed = run_cogpak(cogpak, inputs={"count": 2}, env={"CONFORMANCE_AGENT": "typed"})
    assert typed.error is not None
    assert (typed.error.code, typed.error.retryable) == ("missing_input", False)

    wait = [{"do": "wait_for_cancel", "message": "waiting"}]
    stopped = run_cogpak(cogpak, params={"action": "script", "steps": wait}, cancel_after=1.5)
    assert stopped.status == "cancelled"
    assert stopped.log_messages == ["waiting"]
