"""The benchmark suite at its smallest, every section included, so the harness never rots.

Only the shape of the results is checked: every figure is a number, or ``null`` with the
reason beside it. Never a timing threshold: benchmarks report figures, they do not fail on
a slow machine. The Kubernetes section uses the control plane ``make test`` started
(``KUBECONFIG``); the peers section creates Prefect's virtualenv on a fresh machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("engine", "peers", "events", "api", "k8s")
HEADLINE = (
    "engine_overhead_ms_p50",
    "engine_overhead_ms_p99",
    "fanout1000_seconds",
    "fanout1000_prefect_seconds",
    "chain100_seconds",
    "chain100_prefect_seconds",
    "event_latency_ms_p50",
    "event_latency_ms_p99",
    "api_get_run_ms_p99",
    "k8s_flowruns_per_minute",
    "k8s_fanout500_seconds",
)
# Taken in every suite, whatever its sizes: null here means the harness is broken.
ALWAYS_MEASURED = (
    "engine_overhead_ms_p50",
    "store_appends_per_second",
    "store_batched_events_per_second",
    "fanout_seconds",
    "chain_seconds",
    "prefect_fanout_seconds",
    "prefect_chain_seconds",
    "fanout_ratio_vs_prefect",
    "event_latency_ms_p99",
    "events_per_second",
    "api_get_run_ms_p99",
    "api_post_run_ms_p99",
    "k8s_api_writes_per_second",
    "k8s_flowruns_per_minute",
    "k8s_pods_per_second",
    "k8s_fanout_seconds",
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_smoke_suite_writes_every_figure_or_a_reason(tmp_path: Path) -> None:
    out = tmp_path / "results"
    chart = tmp_path / "chart.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--suite",
            "smoke",
            "--out",
            str(out),
            "--chart",
            str(chart),
        ],
        cwd=REPO,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=1200,  # a fresh machine installs Prefect first
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["suite"] == "smoke"
    assert summary["machine"]["cpu_count"] >= 1
    assert len(summary["machine"]["loadavg"]) == 3
    for key, value in summary.items():
        if key.endswith("_reason") or key in {"suite", "generated", "machine", "versions", "sizes"}:
            continue
        assert value is None or _is_number(value), (key, value)
        if value is None:
            assert isinstance(summary.get(f"{key}_reason"), str), f"{key} is null without reason"
    for key in HEADLINE:
        assert key in summary, key
        assert _is_number(summary[key]) or summary.get(f"{key}_reason"), key
    broken = {
        key: summary.get(f"{key}_reason") for key in ALWAYS_MEASURED if summary.get(key) is None
    }
    assert not broken, broken

    for name in SECTIONS:
        document = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert document["name"] == name
        assert "error" not in document["details"], document["details"]["error"]
        assert document["machine"]["loadavg_before"]
        assert document["versions"]["mentatlab"]
        for sample_key, samples in document["samples"].items():
            assert all(_is_number(value) for value in samples), sample_key
            stats = document["stats"][sample_key]
            if samples:
                assert all(_is_number(stats[p]) for p in ("p50", "p90", "p99")), sample_key
    assert chart.read_bytes().startswith(b"\x89PNG")
