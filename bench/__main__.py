"""Run the benchmark suite: ``python -m bench --suite quick``.

Each section runs on its own and writes ``<out>/<section>.json``; a section that fails
leaves its figures ``null`` with the error as the reason, and the others still run.
``<out>/summary.json`` holds the flat figures of every section; ``--report`` also renders
the chart (``docs/benchmarks.png``) from it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import api, engine, events, k8s, peers, report
from bench.common import REPO, SUITES, Section, Sizes, write_json, write_section

SECTIONS: dict[str, Callable[[Sizes, Path], Section]] = {
    "engine": engine.run,
    "peers": peers.run,
    "events": events.run,
    "api": api.run,
    "k8s": k8s.run,
}

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
BASELINE = Path(__file__).resolve().parent / "baseline" / "summary.json"
"""The run docs/benchmarks.md shows: committed, unlike bench/results/."""
BASELINE_CHART = REPO / "docs" / "benchmarks.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--suite", choices=sorted(SUITES), default="quick")
    parser.add_argument(
        "--only", default="", help=f"comma-separated sections (default all: {', '.join(SECTIONS)})"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--chart", type=Path, default=None, help="also render the PNG chart here")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help=f"make this run the committed baseline ({BASELINE.relative_to(REPO)}, "
        f"{BASELINE_CHART.relative_to(REPO)})",
    )
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name] or list(SECTIONS)
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    sizes = SUITES[args.suite]
    documents = {}
    with tempfile.TemporaryDirectory(prefix="mentatlab-bench-") as scratch:
        for name in chosen:
            print(f"bench: {name} ({args.suite}) ...", file=sys.stderr, flush=True)
            started, load_before = datetime.now(UTC), os.getloadavg()
            start = time.perf_counter()
            try:
                section = SECTIONS[name](sizes, Path(scratch) / name)
            except Exception as exc:  # one broken section must not hide the others
                traceback.print_exc()
                section = Section(name, details={"error": f"{type(exc).__name__}: {exc}"})
            seconds = time.perf_counter() - start
            documents[name] = write_section(
                args.out,
                section,
                suite=args.suite,
                started=started,
                seconds=seconds,
                load_before=load_before,
            )
            print(f"bench: {name} done in {seconds:.1f}s", file=sys.stderr, flush=True)
    summary = report.write_summary(args.out, documents, suite=args.suite, sizes=sizes)
    if args.chart is not None:
        report.chart(summary, args.chart)
    if args.baseline:
        write_json(BASELINE, summary)
        report.chart(summary, BASELINE_CHART)
    print(report.table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
