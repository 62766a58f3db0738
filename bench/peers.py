"""Peers side by side: the same DAG shapes on Prefect 3, each task running the same agent.

Prefect lives in its own virtualenv, created on first use and cached outside the
repository (``~/.cache/mentatlab/bench/prefect-venv``), so it never mixes with MentatLab's
dependencies. The runner script (``bench/prefect_runner.py``) gets the DAG as JSON and the
MentatLab interpreter to start the agent with.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Section, Sizes
from bench.engine import default_parallelism
from bench.flows import Dag, chain, fanout

__all__ = ["PREFECT_REQUIREMENTS", "cache_dir", "prefect_python", "run"]

PREFECT_REQUIREMENTS = ("prefect>=3.8.8,<3.9", "fastapi>=0.139,<0.151")
"""A narrow range, so figures stay comparable between runs. FastAPI is capped as later
Prefect releases cap it: 0.151 removed ``Body(min_items=...)``, which Prefect 3.8's
temporary server uses (its own requirement, ``fastapi<1``, does not exclude it)."""

DAGSTER_NOT_RUN = (
    "not run: Dagster installs cleanly (dagster 1.13, about 40 s), but neither of its executors "
    "compares like for like: the default one starts a Python process per op that imports "
    "Dagster before it starts the agent, and the in-process one runs ops one at a time"
)

_RUNNER = Path(__file__).resolve().parent / "prefect_runner.py"
_INSTALL_TIMEOUT_SECONDS = 900
_RUN_TIMEOUT_SECONDS = 3600


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mentatlab" / "bench"


def prefect_python() -> tuple[Path, float | None]:
    """The Prefect virtualenv's interpreter, and the seconds it took to create (None: cached).

    Created under a lock, and marked ready (the ``.requirements`` stamp) only once complete:
    an interrupted or concurrent install never leaves a half-made environment that looks
    ready. (It is made in place: a virtualenv's scripts hold its path, it cannot be moved.)
    """
    venv = cache_dir() / "prefect-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(PREFECT_REQUIREMENTS)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / "prefect-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
            return python, None
        start = time.perf_counter()
        shutil.rmtree(venv, ignore_errors=True)
        base = Path(sys.base_prefix) / "bin" / "python3"
        subprocess.run([base, "-m", "venv", venv], check=True, capture_output=True)
        install = subprocess.run(
            [
                *(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
                *PREFECT_REQUIREMENTS,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=_INSTALL_TIMEOUT_SECONDS,
        )
        if install.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise RuntimeError(
                f"pip install {' '.join(PREFECT_REQUIREMENTS)} failed: {install.stderr[-2000:]}"
            )
        stamp.write_text(wanted, encoding="utf-8")
        return python, time.perf_counter() - start


@dataclass(frozen=True)
class PrefectRuns:
    version: str
    warmup_seconds: float
    seconds: dict[str, float]
    """Wall time of each DAG, by its name."""


def _run_prefect(python: Path, dags: list[Dag], workdir: Path, parallelism: int) -> PrefectRuns:
    """Every DAG in one Prefect process: its temporary server starts once."""
    workdir.mkdir(parents=True, exist_ok=True)
    arguments: list[str | Path] = []
    for dag in dags:
        dag_file = workdir / f"{dag.name}.dag.json"
        dag_file.write_text(json.dumps(dag.neutral()), encoding="utf-8")
        arguments += ["--dag", dag_file]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        # A private home: its own temporary server and database, nothing left in ~/.prefect.
        "PREFECT_HOME": str(workdir / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary server can take longer than the default 20 s to start on a busy machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "DO_NOT_TRACK": "1",
    }
    done = subprocess.run(
        [
            *(python, _RUNNER, *arguments, "--python", sys.executable),
            *("--parallelism", str(parallelism)),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=_RUN_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Prefect runner failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return PrefectRuns(
        version=result["version"],
        warmup_seconds=float(result["warmup_seconds"]),
        seconds={name: float(run["seconds"]) for name, run in result["runs"].items()},
    )


def run(sizes: Sizes, workdir: Path) -> Section:
    section = Section("peers")
    parallelism = default_parallelism()
    section.details["parallelism"] = parallelism
    section.details["prefect_requirements"] = list(PREFECT_REQUIREMENTS)
    python, install_seconds = prefect_python()
    section.details["prefect_install_seconds"] = install_seconds
    shapes = {"fanout": fanout(sizes.fanout), "chain": chain(sizes.chain)}
    result = _run_prefect(python, list(shapes.values()), workdir, parallelism)
    section.details["prefect_version"] = result.version
    section.details["prefect_warmup_seconds"] = round(result.warmup_seconds, 3)
    for shape, dag in shapes.items():
        section.figures[f"prefect_{shape}_seconds"] = round(result.seconds[dag.name], 3)
    section.figures["prefect_fanout_nodes"] = sizes.fanout
    section.figures["prefect_chain_nodes"] = sizes.chain
    section.missing("dagster_fanout_seconds", DAGSTER_NOT_RUN)
    return section
