"""The flat summary of a suite run, its Markdown table and its PNG chart."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Sizes, machine_info, versions, write_json

__all__ = ["HEADLINE", "chart", "table", "write_summary"]

HEADLINE: dict[str, tuple[str, str, str | None]] = {
    # summary key: (section, figure, size figure that must equal the size in the key)
    "engine_overhead_ms_p50": ("engine", "engine_overhead_ms_p50", None),
    "engine_overhead_ms_p99": ("engine", "engine_overhead_ms_p99", None),
    "fanout1000_seconds": ("engine", "fanout_seconds", "fanout_nodes=1000"),
    "fanout1000_prefect_seconds": ("peers", "prefect_fanout_seconds", "fanout_nodes=1000"),
    "chain100_seconds": ("engine", "chain_seconds", "chain_nodes=100"),
    "chain100_prefect_seconds": ("peers", "prefect_chain_seconds", "chain_nodes=100"),
    "event_latency_ms_p50": ("events", "event_latency_ms_p50", None),
    "event_latency_ms_p99": ("events", "event_latency_ms_p99", None),
    "api_get_run_ms_p99": ("api", "api_get_run_ms_p99", None),
    "k8s_flowruns_per_minute": ("k8s", "k8s_flowruns_per_minute", None),
    "k8s_fanout500_seconds": ("k8s", "k8s_fanout_seconds", "k8s_fanout_nodes=500"),
}
"""The keys issue 7 asks for. A size-bound key is null (with the reason) when the suite ran
another size; the measured figure is still in the summary under its generic name."""

GOALS: dict[str, tuple[str, str]] = {
    # figure: (comparison, goal) for the docs table
    "engine_overhead_ms_p50": ("<=", "2"),
    "fanout_ratio_vs_prefect": ("<=", "0.2 (5x faster)"),
    "event_latency_ms_p99": ("<=", "50"),
    "k8s_flowruns_per_minute": (">=", "300"),
}


def write_summary(
    directory: Path, documents: Mapping[str, Mapping[str, Any]], *, suite: str, sizes: Sizes
) -> dict[str, Any]:
    """``summary.json``: every section's figures, flat, plus the headline keys."""
    figures: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name, document in documents.items():
        error = document["details"].get("error")
        for key, value in document["figures"].items():
            figures[key] = value
        for key, reason in document["reasons"].items():
            reasons[key] = reason
        if error is not None:
            reasons[f"{name}_section"] = f"the {name} section failed: {error}"
    for shape in ("fanout", "chain"):
        # Same DAG, same agent, same machine, same run of the suite: MentatLab / Prefect.
        ours, theirs = figures.get(f"{shape}_seconds"), figures.get(f"prefect_{shape}_seconds")
        key = f"{shape}_ratio_vs_prefect"
        if ours and theirs:
            figures[key] = round(ours / theirs, 3)
        else:
            figures[key] = None
            reasons[key] = "needs the engine and the peers figures of the same run"
    summary: dict[str, Any] = {
        "suite": suite,
        "generated": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "versions": versions(),
        "sizes": asdict(sizes),
    }
    for key, (section, figure, size_rule) in HEADLINE.items():
        value, reason = _headline(
            figures=figures,
            reasons=reasons,
            documents=documents,
            section=section,
            figure=figure,
            size_rule=size_rule,
        )
        summary[key] = value
        if reason is not None:
            summary[f"{key}_reason"] = reason
    for key in sorted(figures):
        if key in summary:
            continue
        summary[key] = figures[key]
        if figures[key] is None:
            summary[f"{key}_reason"] = reasons.get(key, "not measured")
    write_json(directory / "summary.json", summary)
    return summary


def _headline(
    *,
    figures: Mapping[str, Any],
    reasons: Mapping[str, str],
    documents: Mapping[str, Mapping[str, Any]],
    section: str,
    figure: str,
    size_rule: str | None,
) -> tuple[Any, str | None]:
    if section not in documents:
        return None, f"the {section} section was not run"
    error = documents[section]["details"].get("error")
    if error is not None:
        return None, f"the {section} section failed: {error}"
    value = figures.get(figure)
    if value is None:
        return None, reasons.get(figure, f"{figure} was not measured")
    if size_rule is not None:
        size_key, _, wanted = size_rule.partition("=")
        measured = figures.get(size_key)
        if measured != int(wanted):
            return None, (
                f"this suite ran {measured} nodes, not {wanted}: see {figure} "
                "(make bench runs the full sizes)"
            )
    return value, None


_ROWS: list[tuple[str, str]] = [
    ("engine_overhead_ms_p50", "Engine overhead per node beyond process start, p50 (ms)"),
    ("engine_overhead_ms_p99", "Engine overhead per node beyond process start, p99 (ms)"),
    ("chain_gap_ms_p50", "Chain: one agent's end → the next one's start, p50 (ms)"),
    ("bare_gap_ms_p50", "The same gap in a bare subprocess loop, p50 (ms)"),
    ("scheduling_ms_p50", "Node finished → dependant running, in the store, p50 (ms)"),
    ("scheduling_ms_p99", "Node finished → dependant running, in the store, p99 (ms)"),
    ("ready_to_start_ms_p50", "Node ready → its process started, beyond spawn, p50 (ms)"),
    ("exit_to_finished_ms_p50", "Process exit → node finished in the store, p50 (ms)"),
    ("process_start_ms_p50", "Bare process start of the agent (physical limit), p50 (ms)"),
    ("store_appends_per_second", "Run store appends/second, one event each (physical limit)"),
    ("store_batched_events_per_second", "Run store events/second, 100 per append"),
    ("fanout_nodes", "Fan-out width (nodes)"),
    ("fanout_seconds", "Fan-out wall time, MentatLab (s)"),
    ("prefect_fanout_seconds", "Fan-out wall time, Prefect 3 (s)"),
    ("fanout_bare_seconds", "Fan-out wall time, bare subprocess loop (s)"),
    ("fanout_nodes_per_second", "Fan-out nodes/second, MentatLab"),
    ("fanout_ratio_vs_prefect", "Fan-out MentatLab/Prefect time ratio"),
    ("fanout_engine_peak_rss_mb", "Engine peak RSS during the fan-out (MiB)"),
    ("fanout_store_mb", "Run store size after the fan-out (MiB)"),
    ("chain_nodes", "Chain length (nodes)"),
    ("chain_seconds", "Chain wall time, MentatLab (s)"),
    ("prefect_chain_seconds", "Chain wall time, Prefect 3 (s)"),
    ("chain_bare_seconds", "Chain wall time, bare subprocess loop (s)"),
    ("chain_ratio_vs_prefect", "Chain MentatLab/Prefect time ratio"),
    ("event_latency_ms_p50", "Agent event → SSE client, p50 (ms)"),
    ("event_latency_ms_p99", "Agent event → SSE client, p99 (ms)"),
    ("events_per_second", "Events/second one run delivers to an SSE client, no loss"),
    ("api_get_run_ms_p50", "GET /runs/{id} p50 (ms)"),
    ("api_get_run_ms_p99", "GET /runs/{id} p99 (ms)"),
    ("api_post_run_ms_p50", "POST /runs p50 (ms)"),
    ("api_post_run_ms_p99", "POST /runs p99 (ms)"),
    ("k8s_api_writes_per_second", "Kubernetes API server creates/second (physical limit)"),
    ("k8s_flowruns_per_minute", "Kubernetes: single-node FlowRuns completed per minute"),
    ("k8s_pods_per_second", "Kubernetes: pods created per second by one operator"),
    ("k8s_fanout_nodes", "Kubernetes fan-out width (nodes)"),
    ("k8s_fanout_seconds", "Kubernetes fan-out FlowRun wall time (s)"),
]


def table(summary: Mapping[str, Any]) -> str:
    """The summary as a Markdown table (the docs show the committed baseline's)."""
    lines = ["| Figure | Value | Goal |", "|---|---|---|"]
    for key, label in _ROWS:
        value = summary.get(key)
        shown = "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        if value is None and summary.get(f"{key}_reason"):
            shown = f"— ({summary[f'{key}_reason']})"
        comparison, goal = GOALS.get(key, ("", ""))
        lines.append(f"| {label} | {shown} | {comparison} {goal}".rstrip() + " |")
    load = summary.get("machine", {}).get("loadavg")
    lines.append("")
    lines.append(
        f"Suite `{summary.get('suite')}` on {summary.get('machine', {}).get('cpu_count')} CPUs, "
        f"load average {load} at the end."
    )
    return "\n".join(lines)


def chart(summary: Mapping[str, Any], path: Path) -> None:
    """Bar charts of wall times (MentatLab, Prefect, bare loop) and latency percentiles."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    figure, (shapes, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = [("fan-out", "fanout"), ("chain", "chain")]
    series = [
        ("MentatLab", "{}_seconds", "#3b6ea8"),
        ("Prefect 3", "prefect_{}_seconds", "#c46a2b"),
        ("bare subprocess", "{}_bare_seconds", "#8c8c8c"),
    ]
    width = 0.25
    for offset, (label, pattern, colour) in enumerate(series):
        values = [summary.get(pattern.format(shape)) or 0.0 for _, shape in groups]
        positions = [index + (offset - 1) * width for index in range(len(groups))]
        shapes.bar(positions, values, width, label=label, color=colour)
    shapes.set_xticks(
        range(len(groups)),
        [f"{title}\n({summary.get(f'{shape}_nodes')} nodes)" for title, shape in groups],
    )
    shapes.set_ylabel("wall time (s)")
    shapes.set_title("Local DAG wall time (lower is better)")
    shapes.legend()
    bars = [
        ("overhead p50", "engine_overhead_ms_p50"),
        ("overhead p99", "engine_overhead_ms_p99"),
        ("event p50", "event_latency_ms_p50"),
        ("event p99", "event_latency_ms_p99"),
        ("GET run p99", "api_get_run_ms_p99"),
        ("POST run p99", "api_post_run_ms_p99"),
    ]
    heights = [summary.get(key) or 0.0 for _, key in bars]
    drawn = latency.bar([label for label, _ in bars], heights, color="#3b6ea8")
    latency.bar_label(drawn, fmt="%.0f", fontsize=8)
    # Milliseconds to seconds side by side: a log scale (linear near zero, where a
    # noise-level overhead can be negative) keeps the small bars visible.
    latency.set_yscale("symlog", linthresh=10)
    latency.set_ylim(top=max([*heights, 10.0]) * 4)  # room for the labels
    latency.set_ylabel("milliseconds (log scale)")
    latency.set_title("MentatLab latencies (lower is better)")
    latency.tick_params(axis="x", labelrotation=30)
    figure.suptitle(
        f"MentatLab benchmark, suite {summary.get('suite')}, "
        f"{summary.get('machine', {}).get('cpu_count')} CPUs"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
