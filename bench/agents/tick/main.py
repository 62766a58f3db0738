"""mentatlab.bench.tick: the benchmarks' trivial agent.

``t0`` is taken before anything is imported, so "process started" means "the interpreter
reached the agent's code"; ``t1`` just before the result is written. With ``params.events``
it first emits that many ``sent_at`` metric events (the value is the send time), at most
one per ``params.interval`` seconds, and not before the epoch time ``params.not_before``
(so that the benchmark's event stream is connected first), for the event benchmarks.
"""

import time

T0 = time.time()

from typing import Any, TypedDict  # noqa: E402 - after the start stamp, on purpose

from mentatlab.sdk import Context, agent  # noqa: E402


class Outputs(TypedDict):
    result: dict[str, float]


@agent
def main(ctx: Context, text: Any = None) -> Outputs:
    interval = ctx.param("interval", 0.0)
    time.sleep(max(0.0, ctx.param("not_before", 0.0) - time.time()))
    for _ in range(ctx.param("events", 0)):
        ctx.metric("sent_at", time.time())
        if interval:
            time.sleep(interval)
    return {"result": {"t0": T0, "t1": time.time()}}


if __name__ == "__main__":
    main.run()
