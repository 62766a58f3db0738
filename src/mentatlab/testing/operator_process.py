"""The command line of ``mentatctl operator run`` as a process of its own, as it runs in a
cluster: the Kubernetes tests and the benchmarks start the operator the same way."""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["operator_argv"]


def operator_argv(kubeconfig: Path, namespace: str, home: Path) -> list[str]:
    """The operator of this installation watching ``namespace``, its run store in ``home``."""
    mentatctl = Path(sys.executable).with_name("mentatctl")
    return [
        str(mentatctl),
        "operator",
        "run",
        "--kubeconfig",
        str(kubeconfig),
        "-n",
        namespace,
        "--home",
        str(home),
    ]
