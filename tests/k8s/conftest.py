"""The Kubernetes suite runs against the real local control plane of ``hack/k8s``.

``make test`` starts it before pytest and stops it afterwards; a plain ``pytest tests/k8s``
starts it here (the same script) and stops it again if it was not running before. The
MentatLab CRDs are applied once per session.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack" / "k8s"


@pytest.fixture(scope="session", autouse=True)
def control_plane() -> Iterator[Path]:
    started_here = False
    if not os.environ.get("KUBECONFIG"):
        up = subprocess.run(
            [HACK / "up.sh"], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if up.returncode != 0:
            pytest.fail(f"hack/k8s/up.sh failed:\n{up.stdout}\n{up.stderr}", pytrace=False)
        started_here = "already up" not in up.stdout + up.stderr
        exports = subprocess.run(
            [HACK / "env.sh"], capture_output=True, text=True, check=True
        ).stdout
        for statement in exports.split(";"):
            key, _, value = statement.strip().removeprefix("export ").partition("=")
            if key:
                os.environ[key] = os.path.expandvars(shlex.split(value)[0])
    kubeconfig = Path(os.environ["KUBECONFIG"])
    subprocess.run(
        ["kubectl", "apply", "--server-side", "-f", REPO / "deploy" / "crds"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "kubectl",
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/agents.mentatlab.io",
            "crd/flows.mentatlab.io",
            "crd/flowruns.mentatlab.io",
            "crd/agentdeployments.mentatlab.io",
        ],
        check=True,
        capture_output=True,
    )
    yield kubeconfig
    if started_here:
        subprocess.run([HACK / "down.sh"], check=False, capture_output=True)
