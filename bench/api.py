"""API latency: ``GET /runs/{id}`` and ``POST /runs`` at a fixed rate, from another process.

The load generator (``bench/loadgen.py``) runs as a process of its own against a real
``mentatctl serve``; the run it reads is a finished run of the benchmark agent, so the
record has real nodes and outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.common import REPO, Section, Sizes
from bench.flows import chain
from bench.server import Server, serving
from mentatlab.client import Client

__all__ = ["run"]


def _generate(server: Server, kind: str, sizes: Sizes, run_id: str = "") -> dict[str, object]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.loadgen", "--url", server.url, "--key", server.api_key),
            *("--kind", kind, "--run-id", run_id),
            *("--rate", str(sizes.api_rate), "--seconds", str(sizes.api_seconds)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def run(sizes: Sizes, workdir: Path) -> Section:
    section = Section("api")
    section.details |= {"rate_per_second": sizes.api_rate, "seconds": sizes.api_seconds}
    with serving(workdir / "home") as server:
        with Client(server.url, api_key=server.api_key, timeout=300) as client:
            ref = client.create_run(chain(3).flow())
            for _ in client.follow_events(ref.id):
                pass  # read until the run has finished: GET then returns a complete record
        for kind, figure in (("get", "api_get_run_ms"), ("post", "api_post_run_ms")):
            result = _generate(server, kind, sizes, ref.id)
            latencies = result["latencies_ms"]
            errors = result["errors"]
            assert isinstance(latencies, list) and isinstance(errors, list)
            section.details[f"{figure}_errors"] = errors
            if errors:
                for name in ("p50", "p90", "p99"):
                    section.missing(
                        f"{figure}_{name}", f"{len(errors)} requests failed: {sorted(set(errors))}"
                    )
                section.samples[figure] = latencies
            else:
                section.set_percentiles(figure, latencies, sample_key=figure)
    return section
