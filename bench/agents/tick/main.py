"""mentatlab.bench.tick: the benchmarks' trivial agent.

``t0`` is taken before anything is imported, so "process started" means "the interpreter
reached the agent's code"; ``t1`` just before the result is written. With ``params.events``
it emits that many ``sent_at`` metric events (the value is the send time), at most one per
``params.interval`` seconds. With ``params.start_lock`` (a file path) it first emits a
``ready`` metric event, then waits for a shared lock on that file, which the event benchmark
holds exclusively until every agent of the run is ready: the events it measures are sent
while all the agents run, after every one has started.
"""

import time

T0 = time.time()

import fcntl  # noqa: E402 - after the start stamp, on purpose
from pathlib import Path  # noqa: E402
from typing import Any, TypedDict  # noqa: E402

from mentatlab.sdk import Context, agent  # noqa: E402


class Outputs(TypedDict):
    result: dict[str, float]


@agent
def main(ctx: Context, text: Any = None) -> Outputs:
    interval = ctx.param("interval", 0.0)
    start_lock = ctx.param("start_lock", None)
    if start_lock:
        ctx.metric("ready", time.time())
        with Path(start_lock).open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)  # blocks while the benchmark holds it
    for _ in range(ctx.param("events", 0)):
        ctx.metric("sent_at", time.time())
        if interval:
            time.sleep(interval)
    return {"result": {"t0": T0, "t1": time.time()}}


if __name__ == "__main__":
    main.run()
