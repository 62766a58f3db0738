"""Events: agent emits an event → an SSE client of the server receives it.

The agent stamps each ``sent_at`` metric event with the time it writes it; the client
(:class:`mentatlab.client.Client`, following ``/runs/{id}/events``) subtracts that from the
time it receives the event. Both sides share this machine's clock. Every event sent must
arrive, once and in order: a lost one makes the figure ``null``.

The agents start sending only once every one of them has started and said so (a ``ready``
event): the benchmark holds an exclusive lock on a file they wait on with a shared lock.
Starting a hundred Python processes keeps two CPUs busy for many seconds; events sent
meanwhile would measure that, not the delivery of events of running agents.
"""

from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Section, Sizes
from bench.flows import parallel
from bench.server import serving
from mentatlab.client import Client
from mentatlab.model.run import EventType

__all__ = ["run"]

_CLIENT_TIMEOUT_SECONDS = 300


@dataclass
class _Stream:
    sent: list[float]
    received: list[float]
    connected: float
    """When the first event of the stream arrived: the stream was live from then on."""
    contiguous: bool
    """Every seq once, in order."""
    ready_seconds: float | None
    """From submitting the run to every agent having started (None: none did)."""

    def live(self) -> list[tuple[float, float]]:
        """(sent, received) of the events written after the stream was connected."""
        return [
            (s, r) for s, r in zip(self.sent, self.received, strict=True) if s >= self.connected
        ]


def _follow(client: Client, flow: dict[str, object], *, agents: int, start_lock: Path) -> _Stream:
    """Submit ``flow``, let its ``agents`` send once all are ready, follow it to the end."""
    start_lock.touch()
    sent, received, seqs = [], [], []
    connected = ready_at = 0.0
    ready = 0
    with start_lock.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        submitted = time.time()
        ref = client.create_run(flow)
        for event in client.follow_events(ref.id):
            now = time.time()
            connected = connected or now
            seqs.append(event.seq)
            if event.type is EventType.METRIC and event.data.get("name") == "sent_at":
                sent.append(float(event.data["value"]))
                received.append(now)
            elif event.type is EventType.METRIC and event.data.get("name") == "ready":
                ready += 1
            gave_up = event.type is EventType.NODE_STATUS and event.data.get("status") == "failed"
            if not ready_at and (ready == agents or gave_up):
                ready_at = now
                fcntl.flock(lock, fcntl.LOCK_UN)
    contiguous = seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False
    return _Stream(sent, received, connected, contiguous, ready_at - submitted if ready else None)


def run(sizes: Sizes, workdir: Path) -> Section:
    section = Section("events")
    with (
        serving(workdir / "home") as server,
        # Generous: on a busy machine POST /runs of a wide flow can take many seconds.
        Client(server.url, api_key=server.api_key, timeout=_CLIENT_TIMEOUT_SECONDS) as client,
    ):
        _latency(section, sizes, client, workdir / "start.lock")
        _throughput(section, sizes, client, workdir / "start.lock")
    return section


def _latency(section: Section, sizes: Sizes, client: Client, start_lock: Path) -> None:
    """Every node ready at once and running at the same time, each emitting events."""
    params = {
        "events": sizes.events_per_node,
        "interval": sizes.event_interval,
        "start_lock": str(start_lock),
    }
    flow = parallel(sizes.event_nodes, params).flow()
    stream = _follow(
        client,
        flow | {"runConfig": {"maxParallel": sizes.event_nodes}},
        agents=sizes.event_nodes,
        start_lock=start_lock,
    )
    expected = sizes.event_nodes * sizes.events_per_node
    live = stream.live()
    section.figures["event_latency_nodes"] = sizes.event_nodes
    section.details |= {
        "latency_events_expected": expected,
        "latency_events_received": len(stream.sent),
        "latency_events_live": len(live),
        "latency_agents_ready_seconds": stream.ready_seconds,
    }
    if len(stream.sent) != expected or not stream.contiguous:
        why = (
            f"events were lost: {len(stream.sent)} of {expected} arrived "
            f"(seqs contiguous: {stream.contiguous})"
        )
    elif not live:
        why = "no event was written after the stream connected"
    else:
        latencies = [(r - s) * 1000 for s, r in live]
        section.set_percentiles("event_latency_ms", latencies, sample_key="event_latency_ms")
        return
    for name in ("p50", "p90", "p99"):
        section.missing(f"event_latency_ms_{name}", why)


def _throughput(section: Section, sizes: Sizes, client: Client, start_lock: Path) -> None:
    """One agent writes events as fast as it can; every one must arrive."""
    params = {"events": sizes.throughput_events, "start_lock": str(start_lock)}
    stream = _follow(client, parallel(1, params).flow(), agents=1, start_lock=start_lock)
    live = stream.live()
    section.details |= {
        "throughput_events_expected": sizes.throughput_events,
        "throughput_events_received": len(stream.sent),
        "throughput_events_live": len(live),
    }
    if len(stream.sent) != sizes.throughput_events or not stream.contiguous:
        section.missing(
            "events_per_second",
            f"events were lost: {len(stream.sent)} of {sizes.throughput_events} arrived",
        )
    elif len(live) < 2:
        section.missing("events_per_second", "the stream connected after the agent had written")
    else:
        # From the first event written to the last one received: the end-to-end rate.
        first_sent, last_received = live[0][0], live[-1][1]
        section.figures["events_per_second"] = round(len(live) / (last_received - first_sent), 1)
        section.figures["agent_events_per_second"] = round(
            len(live) / max(live[-1][0] - first_sent, 1e-9), 1
        )
        section.samples["throughput_latency_ms"] = [round((r - s) * 1000, 3) for s, r in live]
