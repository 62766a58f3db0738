"""The local driver waits for its agents through pidfds in the event loop, not a thread each."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from driver_helpers import make_spec

from mentatlab.engine.drivers.base import AttemptOutcome, AttemptResult
from mentatlab.engine.drivers.local import LocalProcessDriver

AGENTS = 20


def test_many_agents_at_once_start_no_thread_and_report_how_they_ended(tmp_path: Path) -> None:
    specs = []
    for i in range(AGENTS):
        workdir = tmp_path / f"agent{i}"
        workdir.mkdir()
        # Every other one is killed by a signal: its exit status must still come through.
        end = "time.sleep(0.5)" if i % 2 else "time.sleep(0.5); os.kill(os.getpid(), 9)"
        specs.append(make_spec(workdir, f"import os, time\n{end}\n"))
    threads_while_running: list[int] = []

    async def main() -> list[AttemptResult]:
        driver = LocalProcessDriver()

        async def no_events(_: object) -> None:
            return None

        attempts = [
            asyncio.create_task(
                driver.run_attempt(spec, on_event=no_events, cancel=asyncio.Event())
            )
            for spec in specs
        ]
        await asyncio.sleep(0.3)
        threads_while_running.append(threading.active_count())
        return await asyncio.gather(*attempts)

    threads_before = threading.active_count()
    results = asyncio.run(main())

    # A thread per child would be 20 more; the census's worker thread may be there.
    assert threads_while_running[0] - threads_before <= 2
    succeeded, killed = results[1::2], results[0::2]
    assert all(r.outcome is AttemptOutcome.SUCCEEDED and r.exit_code == 0 for r in succeeded)
    assert all(r.outcome is AttemptOutcome.FAILED and r.signal == 9 for r in killed)
