"""What every benchmark section shares: suite sizes, statistics, machine facts, result files.

A section returns a :class:`Section`: flat *figures* (the numbers the summary and the docs
show; ``None`` with a reason when a figure could not be taken), every raw *sample* it
measured, and free-form *details*. :func:`write_section` turns it into
``bench/results/<name>.json`` with percentiles and the machine it ran on.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "AGENTS_DIR",
    "AGENT_DIR",
    "REPO",
    "SUITES",
    "Figure",
    "Section",
    "Sizes",
    "envelope",
    "machine_info",
    "percentiles",
    "versions",
    "write_json",
    "write_section",
]

REPO = Path(__file__).resolve().parents[1]
AGENTS_DIR = Path(__file__).resolve().parent / "agents"
"""The Cog-Paks of the benchmarks (``--agents`` of ``mentatctl``)."""
AGENT_DIR = AGENTS_DIR / "tick"
"""The trivial Cog-Pak every engine runs (``bench/agents/tick``)."""

Figure = float | int | None


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """How big each benchmark is in one suite."""

    fanout: int
    chain: int
    bare_fanout: int
    """Nodes of the bare-subprocess fan-out baseline (per-node cost scales linearly)."""
    event_nodes: int
    events_per_node: int
    event_interval: float
    throughput_events: int
    api_rate: float
    """Requests per second the load generator sends."""
    api_seconds: float
    k8s_flowruns: int
    k8s_fanout: int
    write_probe: int
    """Writes each physical-limit probe makes (run store appends, Kubernetes API creates)."""


SUITES: Mapping[str, Sizes] = {
    # The sizes the issue names: make bench.
    "full": Sizes(
        fanout=1000,
        chain=100,
        bare_fanout=100,
        event_nodes=100,
        events_per_node=20,
        event_interval=0.05,
        throughput_events=5000,
        api_rate=10,
        api_seconds=20,
        k8s_flowruns=40,
        k8s_fanout=500,
        write_probe=1000,
    ),
    # Under three minutes on a 2-core machine: make bench-quick.
    "quick": Sizes(
        fanout=40,
        chain=15,
        bare_fanout=10,
        event_nodes=50,
        events_per_node=4,
        event_interval=0.05,
        throughput_events=2000,
        api_rate=10,
        api_seconds=5,
        k8s_flowruns=10,
        k8s_fanout=20,
        write_probe=300,
    ),
    # Every code path, tiny: the test suite runs it so the harness never rots.
    "smoke": Sizes(
        fanout=3,
        chain=3,
        bare_fanout=2,
        event_nodes=3,
        events_per_node=3,
        event_interval=0.01,
        throughput_events=200,
        api_rate=10,
        api_seconds=1,
        k8s_flowruns=2,
        k8s_fanout=3,
        write_probe=20,
    ),
}


@dataclass
class Section:
    """One benchmark section's outcome."""

    name: str
    figures: dict[str, Figure] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    """Why a figure is ``None``."""
    samples: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def missing(self, key: str, reason: str) -> None:
        self.figures[key] = None
        self.reasons[key] = reason

    def set_percentiles(self, prefix: str, samples: Sequence[float], *, sample_key: str) -> None:
        """Keep ``samples`` and publish ``<prefix>_p50/_p90/_p99`` (or why there are none)."""
        self.samples[sample_key] = [round(value, 4) for value in samples]
        stats = percentiles(samples)
        for name in ("p50", "p90", "p99"):
            if stats is None:
                self.missing(f"{prefix}_{name}", f"no {sample_key} samples were taken")
            else:
                self.figures[f"{prefix}_{name}"] = round(stats[name], 3)


def percentiles(samples: Sequence[float]) -> dict[str, float] | None:
    """p50/p90/p99 (nearest rank), min, max and mean; ``None`` without samples."""
    if not samples:
        return None
    ordered = sorted(samples)

    def rank(q: float) -> float:
        # Nearest rank: always a measured value, never an interpolation between two.
        index = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[index]

    return {
        "n": len(ordered),
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def machine_info() -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": memory.total,
        # Other work on the machine skews every figure: record how busy it was.
        "loadavg": [round(value, 2) for value in os.getloadavg()],
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        return None
    return None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in ("mentatlab", "pydantic", "sqlalchemy", "fastapi", "uvicorn", "kopf"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, read-only
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    found["git_commit"] = git.stdout.strip() or None
    return found


def envelope(node: str, params: Mapping[str, Any] | None = None) -> bytes:
    """The protocol v1 input envelope the engine would send, for direct (bare) runs."""
    document = {
        "protocol": "mentatlab.agent/v1",
        "run": {"id": "bench", "node": node, "attempt": 1},
        "inputs": {},
        "params": dict(params or {}),
    }
    return json.dumps(document).encode() + b"\n"


@contextmanager
def timed(section: Section, key: str) -> Iterator[None]:
    """Record the wall time of the block in ``section.details[key]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        section.details[key] = round(time.perf_counter() - start, 3)


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_section(
    directory: Path,
    section: Section,
    *,
    suite: str,
    started: datetime,
    seconds: float,
    load_before: Sequence[float],
) -> dict[str, Any]:
    document = {
        "name": section.name,
        "suite": suite,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "seconds": round(seconds, 3),
        "machine": machine_info() | {"loadavg_before": [round(v, 2) for v in load_before]},
        "versions": versions(),
        "figures": section.figures,
        "reasons": section.reasons,
        "stats": {key: percentiles(values) for key, values in section.samples.items()},
        "samples": section.samples,
        "details": section.details,
    }
    write_json(directory / f"{section.name}.json", document)
    return document
