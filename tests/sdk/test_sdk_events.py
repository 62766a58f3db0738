"""The event stream an SDK agent writes: helpers, returned outputs, context, encoding."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from conftest import Finished, envelope, parse_events

Run = Callable[..., Finished]


def test_returned_dict_becomes_output_events(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context, text: str = "") -> dict[str, object]:
            return {"result": text.upper(), "length": len(text)}
        """,
        envelope({"text": "hi"}),
    )
    assert done.returncode == 0
    assert done.events == [
        {"type": "output", "pin": "result", "value": "HI"},
        {"type": "output", "pin": "length", "value": 2},
    ]


def test_every_helper_writes_its_event_in_order(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> None:
            ctx.log("plain")
            ctx.log("careful", level="warning")
            ctx.progress(0)
            ctx.progress(50.5, "halfway")
            ctx.heartbeat()
            ctx.metric("tokens", 812, unit="count")
            ctx.metric("ratio", 0.25)
            ctx.checkpoint({"done": [1, 2]})
            ctx.output("answer", {"k": [True, None]})
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [
        {"type": "log", "level": "info", "message": "plain"},
        {"type": "log", "level": "warning", "message": "careful"},
        {"type": "progress", "percent": 0},
        {"type": "progress", "percent": 50.5, "message": "halfway"},
        {"type": "heartbeat"},
        {"type": "metric", "name": "tokens", "value": 812, "unit": "count"},
        {"type": "metric", "name": "ratio", "value": 0.25},
        {"type": "checkpoint", "state": {"done": [1, 2]}},
        {"type": "output", "pin": "answer", "value": {"k": [True, None]}},
    ]


def test_context_carries_run_identity_params_inputs_and_resume(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context, **inputs: Any) -> dict[str, object]:
            return {
                "run": [ctx.run_id, ctx.node_id, ctx.attempt],
                "params": dict(ctx.params),
                "inputs": dict(ctx.inputs),
                "resume": ctx.resume,
                "extra": inputs,
            }
        """,
        envelope({"a": 1}, {"mode": "fast"}, resume={"page": 7}),
    )
    assert done.returncode == 0, done.stderr
    assert {e["pin"]: e["value"] for e in done.events} == {
        "run": ["run-1", "node-a", 2],
        "params": {"mode": "fast"},
        "inputs": {"a": 1},
        "resume": {"page": 7},
        "extra": {"a": 1},
    }


def test_resume_is_none_on_a_first_attempt(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> dict[str, object]:
            return {"fresh": ctx.resume is None}
        """
    )
    assert done.events == [{"type": "output", "pin": "fresh", "value": True}]


def test_param_helper_defaults_and_checks_type(run_agent: Run) -> None:
    body = """
        @agent
        def main(ctx: Context) -> dict[str, object]:
            return {"k": ctx.param("top_k", 5), "t": ctx.param("threshold", 0.5)}
        """
    assert run_agent(body, envelope(params={"threshold": 1})).events == [
        {"type": "output", "pin": "k", "value": 5},
        {"type": "output", "pin": "t", "value": 1},
    ]
    bad = run_agent(body, envelope(params={"top_k": "ten"}))
    assert bad.returncode == 1
    assert bad.events == [
        {
            "type": "error",
            "code": "invalid_param",
            "message": "param 'top_k' must be int, got str 'ten'",
            "retryable": False,
        }
    ]


def test_unicode_is_written_as_utf8_not_escapes(run_agent: Run) -> None:
    text = "héllo wörld 🌍 中文 \u2028 \u2029 \x85 end"
    done = run_agent(
        """
        @agent
        def main(ctx: Context, text: str) -> dict[str, object]:
            ctx.log(text)
            return {"result": text[::-1]}
        """,
        envelope({"text": text}),
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [
        {"type": "log", "level": "info", "message": text},
        {"type": "output", "pin": "result", "value": text[::-1]},
    ]
    assert "🌍".encode() in done.raw
    # Unicode line separators are escaped, so any line reader sees exactly two lines.
    assert len(done.raw.decode().splitlines()) == 2


def test_large_output_is_one_intact_line(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> dict[str, object]:
            return {"big": "x" * 5_000_000, "items": list(range(100_000))}
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.raw.count(b"\n") == 2
    assert done.events[0]["value"] == "x" * 5_000_000
    assert done.events[1]["value"] == list(range(100_000))


def test_writes_from_many_threads_never_interleave(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> None:
            def spam(n: int) -> None:
                for i in range(300):
                    ctx.log(f"{n}-{i}-" + "y" * 2000)
            threads = [threading.Thread(target=spam, args=(n,)) for n in range(6)]
            for t in threads: t.start()
            for t in threads: t.join()
        """
    )
    assert done.returncode == 0, done.stderr
    messages = [e["message"] for e in done.events]
    assert len(messages) == 1800
    assert set(messages) == {f"{n}-{i}-" + "y" * 2000 for n in range(6) for i in range(300)}


def test_stray_print_becomes_log_events_and_fd1_goes_to_stderr(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> dict[str, object]:
            print("hello from print")
            print("two", "lines\\nhere")
            print("no newline", end="")
            sys.stdout.flush()
            os.write(1, b"raw fd write\\n")
            subprocess.run([sys.executable, "-c", "print('from a child')"], check=True)
            return {"ok": True}
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [
        {"type": "log", "level": "info", "message": "hello from print"},
        {"type": "log", "level": "info", "message": "two lines"},
        {"type": "log", "level": "info", "message": "here"},
        {"type": "output", "pin": "ok", "value": True},
        {"type": "log", "level": "info", "message": "no newline"},
    ]
    assert "raw fd write" in done.stderr
    assert "from a child" in done.stderr


def test_async_handler(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        async def main(ctx: Context, n: int) -> dict[str, object]:
            results = await asyncio.gather(*(asyncio.sleep(0.01, result=i * i) for i in range(n)))
            ctx.progress(100)
            return {"squares": results}
        """,
        envelope({"n": 4}),
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [
        {"type": "progress", "percent": 100},
        {"type": "output", "pin": "squares", "value": [0, 1, 4, 9]},
    ]


def test_class_agent_runs_setup_handle_teardown(run_agent: Run) -> None:
    done = run_agent(
        """
        class Upper:
            def setup(self, ctx: Context) -> None:
                self.suffix = ctx.param("suffix", "!")
                ctx.log("setup")
            def handle(self, ctx: Context, text: str) -> dict[str, object]:
                return {"result": text.upper() + self.suffix}
            def teardown(self, ctx: Context) -> None:
                ctx.log("teardown")
        main = agent(Upper)
        """,
        envelope({"text": "ok"}),
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [
        {"type": "log", "level": "info", "message": "setup"},
        {"type": "log", "level": "info", "message": "teardown"},
        {"type": "output", "pin": "result", "value": "OK!"},
    ]


def test_async_class_agent_awaits_async_hooks(run_agent: Run) -> None:
    done = run_agent(
        """
        class Slow:
            async def setup(self, ctx: Context) -> None:
                await asyncio.sleep(0)
                self.ready = True
            async def handle(self, ctx: Context) -> dict[str, object]:
                return {"ready": self.ready}
        main = agent(Slow)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.events == [{"type": "output", "pin": "ready", "value": True}]


def test_heartbeat_option_beats_while_the_handler_runs(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent(heartbeat=0.05)
        def main(ctx: Context) -> dict[str, object]:
            time.sleep(0.5)
            return {"done": True}
        """
    )
    assert done.returncode == 0, done.stderr
    *beats, last = done.events
    assert last == {"type": "output", "pin": "done", "value": True}
    assert len(beats) >= 3
    assert all(event == {"type": "heartbeat"} for event in beats)


def test_heartbeats_context_manager_stops_after_the_block(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> None:
            with ctx.heartbeats(every=0.05):
                time.sleep(0.4)
            ctx.log("after")
            time.sleep(0.3)
        """
    )
    assert done.returncode == 0, done.stderr
    *beats, last = done.events
    assert last == {"type": "log", "level": "info", "message": "after"}
    assert len(beats) >= 3
    assert all(event == {"type": "heartbeat"} for event in beats)


def test_unknown_inputs_are_ignored_with_a_warning(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context, a: int) -> dict[str, object]:
            return {"a": a}
        """,
        envelope({"a": 1, "b": 2, "c": 3}),
    )
    assert done.returncode == 0
    assert done.events == [
        {
            "type": "log",
            "level": "warning",
            "message": "ignoring inputs with no matching parameter: b, c",
        },
        {"type": "output", "pin": "a", "value": 1},
    ]


def test_every_line_is_compact_json(run_agent: Run) -> None:
    done = run_agent(
        """
        @agent
        def main(ctx: Context) -> dict[str, object]:
            return {"v": {"a": [1, 2]}}
        """
    )
    assert done.raw == b'{"type":"output","pin":"v","value":{"a":[1,2]}}\n'
    assert json.loads(done.raw) == done.events[0]


def test_slow_imports_wait_until_the_agent_needs_them(tmp_path: Path) -> None:
    # Agent start-up time: importing the SDK builds no protocol models (reading the envelope
    # does), and a synchronous agent never imports asyncio.
    script = tmp_path / "agent.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            from mentatlab.sdk import Context, agent

            SLOW = ("asyncio", "pydantic", "mentatlab.model.protocol")
            AT_IMPORT = [name for name in SLOW if name in sys.modules]

            @agent
            def main(ctx: Context) -> dict[str, object]:
                return {"at_import": AT_IMPORT, "running": [n for n in SLOW if n in sys.modules]}

            if __name__ == "__main__":
                main.run()
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        input=json.dumps(envelope()).encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert parse_events(proc.stdout) == [
        {"type": "output", "pin": "at_import", "value": []},
        {"type": "output", "pin": "running", "value": ["pydantic", "mentatlab.model.protocol"]},
    ]
