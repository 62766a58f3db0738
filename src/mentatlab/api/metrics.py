"""Prometheus metrics of one server, in a registry of its own (servers in tests stay apart)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mentatlab.model.run import (
    TERMINAL_NODE_STATUSES,
    TERMINAL_RUN_STATUSES,
    EventType,
    NodeStatus,
    RunEvent,
    RunStatus,
)

__all__ = ["ServerMetrics"]

_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs_started = Counter(
            "mentatlab_runs_started", "Runs the server started executing", registry=r
        )
        self.runs_finished = Counter(
            "mentatlab_runs_finished", "Runs the server finished, by status", ["status"], registry=r
        )
        self.runs_queued = Gauge(
            "mentatlab_runs_queued", "Runs waiting for a free worker (queue depth)", registry=r
        )
        self.runs_running = Gauge("mentatlab_runs_running", "Runs executing now", registry=r)
        self.nodes_finished = Counter(
            "mentatlab_nodes_finished", "Nodes that finished, by status", ["status"], registry=r
        )
        self.node_duration = Histogram(
            "mentatlab_node_duration_seconds",
            "From a node's start to its final status, by status",
            ["status"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.node_retries = Counter(
            "mentatlab_node_retries", "Failed node attempts that will be retried", registry=r
        )
        self.event_lag = Histogram(
            "mentatlab_event_lag_seconds",
            "From an event being stored to an event stream sending it",
            registry=r,
        )
        self.http_duration = Histogram(
            "mentatlab_http_request_duration_seconds",
            "HTTP request latency by route template (event streams: the stream's duration)",
            ["method", "route", "status"],
            registry=r,
        )

    def run_observer(self) -> RunMetrics:
        return RunMetrics(self)


class RunMetrics:
    """Counts what one run's events tell; the node start times it needs live only as long."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics
        self._started: dict[str, datetime] = {}

    def __call__(self, event: RunEvent) -> None:
        status = event.data.get("status")
        if event.type is EventType.RUN_STATUS:
            if status == RunStatus.RUNNING:
                self._metrics.runs_started.inc()
            elif status in TERMINAL_RUN_STATUSES:
                self._metrics.runs_finished.labels(status=status).inc()
        elif event.type is EventType.NODE_STATUS and event.node is not None:
            if status == NodeStatus.RUNNING:
                self._started.setdefault(event.node, event.ts)
            elif status == NodeStatus.PENDING and "retry_in_seconds" in event.data:
                self._metrics.node_retries.inc()
            elif status in TERMINAL_NODE_STATUSES:
                self._metrics.nodes_finished.labels(status=status).inc()
                started = self._started.pop(event.node, None)
                if started is not None:
                    seconds = (event.ts - started).total_seconds()
                    self._metrics.node_duration.labels(status=status).observe(seconds)
