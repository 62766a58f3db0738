"""The agent protocol v1 conformance runner: run shared vectors against any SDK's reference agent.

A *vector* (``conformance/vectors/*.json``, format in ``conformance/vector.schema.json``, the
reference agent's contract in ``conformance/README.md``) gives the bytes written to the
agent's stdin, its environment, optionally a signal to send once a given event was seen, and
the expected event stream and exit status. :func:`run_vector` runs one vector against an agent
command and checks, besides the expectations, that every stdout line is a valid event of
``schemas/protocol/event.v1.schema.json`` written as protocol v1 says (UTF-8, ``\\n``-terminated,
one compact object per line, U+2028/U+2029/U+0085 escaped).

``conformance/run.py --agent "CMD"`` (or ``python -m mentatlab.testing.conformance``) runs
every vector and prints a per-vector verdict with a diff; ``tests/conformance`` runs it for each
SDK. This module needs only the standard library and ``jsonschema``.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator

__all__ = [
    "Outcome",
    "Vector",
    "VectorError",
    "load_vector",
    "load_vectors",
    "main",
    "match_events",
    "match_value",
    "normalize_event",
    "run_vector",
]

PROTOCOL: Final = "mentatlab.agent/v1"

EVENT_DEFAULTS: Final[Mapping[str, Mapping[str, Any]]] = {
    "log": {"level": "info"},
    "progress": {"message": None},
    "metric": {"unit": None},
    "error": {"code": "agent_error", "retryable": True},
}
"""Schema defaults: an event that omits these fields means the same as one that sends them."""

# Valid raw inside JSON strings, but JavaScript's readline and Python's str.splitlines()
# break lines on them, so protocol v1 writers escape them (docs/protocol.md, section 3).
_RAW_LINE_BREAKS: Final = ("\u2028", "\u2029", "\x85")
_OPERATORS: Final = frozenset({"$any", "$type", "$contains", "$regex", "$repeat", "$many"})
_STDERR_TAIL_BYTES: Final = 16_384
_SHOWN_CHARS: Final = 120
_DIFF_LINES: Final = 80
_DEFAULT_TIMEOUT: Final = 30.0


class VectorError(ValueError):
    """A vector file that is not a valid vector."""


@dataclass(frozen=True)
class SignalSpec:
    """Send ``signum`` to the agent's process group once an event matching ``after`` arrived."""

    signum: int
    after: dict[str, Any]


@dataclass(frozen=True)
class Vector:
    """One conformance case, as loaded from its file."""

    name: str
    description: str
    stdin: bytes
    env: dict[str, str | None]
    signal: SignalSpec | None
    events: list[Any]
    ignore: frozenset[str]
    exit_code: int
    timeout: float
    path: Path | None = None


@dataclass
class Outcome:
    """What happened when a vector ran, and what did not conform."""

    vector: Vector
    problems: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int | None = None
    stderr: str = ""
    duration: float = 0.0
    diff: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def report(self, *, verbose: bool = False) -> str:
        """``PASS name`` or ``FAIL name`` with every problem, a diff and the stderr tail."""
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"{verdict} {self.vector.name} ({self.duration:.2f}s)"]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.diff:
            lines += ["  event stream (- expected, + actual):"]
            lines += [f"    {line}" for line in self.diff]
        if (verbose or not self.passed) and self.events and not self.diff:
            lines += ["  events:"] + [f"    {_show(event)}" for event in self.events]
        if not self.passed and self.stderr.strip():
            tail = self.stderr.strip().splitlines()[-15:]
            lines += ["  stderr (last lines):"] + [f"    {line}" for line in tail]
        return "\n".join(lines)


# --- Loading vectors ----------------------------------------------------------------------


def load_vectors(directory: Path, *, schema: Path | None = None) -> list[Vector]:
    """Every ``*.json`` vector in ``directory``, sorted by name.

    ``schema`` (default: ``vector.schema.json`` beside ``directory``, if it exists) is the
    JSON Schema each file must satisfy.
    """
    if schema is None:
        candidate = directory.parent / "vector.schema.json"
        schema = candidate if candidate.is_file() else None
    validator = None
    if schema is not None:
        validator = Draft202012Validator(json.loads(schema.read_text(encoding="utf-8")))
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise VectorError(f"no vectors (*.json) in {directory}")
    return [load_vector(path, validator=validator) for path in paths]


def load_vector(path: Path, *, validator: Draft202012Validator | None = None) -> Vector:
    """Load one vector file; :class:`VectorError` says what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise VectorError(f"{path}: not JSON: {exc}") from None
    if validator is not None:
        problems = [
            f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
            for error in validator.iter_errors(data)
        ]
        if problems:
            raise VectorError(f"{path}: " + "; ".join(problems))
    try:
        return _vector(path.stem, data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise VectorError(f"{path}: {exc}") from None


def _vector(name: str, data: dict[str, Any], path: Path | None) -> Vector:
    sources = [key for key in ("envelope", "stdin", "stdin_hex") if key in data]
    if len(sources) != 1:
        raise ValueError("give exactly one of envelope, stdin, stdin_hex")
    env: dict[str, str | None] = {}
    if "envelope" in data:
        envelope = expand(data["envelope"])
        text = json.dumps(
            envelope,
            ensure_ascii=bool(data.get("ensure_ascii", False)),
            separators=(",", ":"),
            allow_nan=False,
        )
        stdin = (text + "\n").encode("utf-8")
        run = envelope.get("run") if isinstance(envelope, dict) else None
        if isinstance(run, dict):
            # As the engine does: the variables mirror the envelope's run identity.
            for key, variable in (
                ("id", "MENTAT_RUN_ID"),
                ("node", "MENTAT_NODE_ID"),
                ("attempt", "MENTAT_ATTEMPT"),
            ):
                if key in run:
                    env[variable] = str(run[key])
    elif "stdin" in data:
        stdin = str(data["stdin"]).encode("utf-8")
    else:
        stdin = bytes.fromhex(str(data["stdin_hex"]))
    env.update(data.get("env", {}))
    expect = data["expect"]
    spec = data.get("signal")
    signal_spec = None
    if spec is not None:
        signal_spec = SignalSpec(signum=int(signal.Signals[spec["name"]]), after=spec["after"])
    events = [expand_pattern(item) for item in expect["events"]]
    return Vector(
        name=name,
        description=str(data.get("description", "")),
        stdin=stdin,
        env=env,
        signal=signal_spec,
        events=events,
        ignore=frozenset(expect.get("ignore", [])),
        exit_code=int(expect["exit_code"]),
        timeout=float(data.get("timeout_seconds", _DEFAULT_TIMEOUT)),
        path=path,
    )


def expand(value: Any) -> Any:
    """Replace ``{"$repeat": s, "times": n}`` by ``s * n`` (keeps 1 MiB strings out of files)."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return str(value["$repeat"]) * int(value["times"])
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def expand_pattern(value: Any) -> Any:
    """Like :func:`expand`, but keeps other operators (``$any``, ``$many``, …) as they are."""
    if isinstance(value, dict):
        if "$repeat" in value:
            return expand(value)
        return {key: expand_pattern(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_pattern(item) for item in value]
    return value


# --- Matching -------------------------------------------------------------------------------


def normalize_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` with the schema's defaults filled in, so omitted and default fields agree."""
    defaults = EVENT_DEFAULTS.get(str(event.get("type")), {})
    return {**event, **{key: value for key, value in defaults.items() if key not in event}}


_JSON_TYPES: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


def match_value(pattern: Any, actual: Any, where: str = "") -> str | None:
    """``None`` if ``actual`` matches ``pattern``, else why not (naming the JSON path)."""
    at = where or "value"
    if isinstance(pattern, dict) and pattern.keys() & _OPERATORS:
        return _match_operator(pattern, actual, at)
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return f"{at}: expected an object, got {_show(actual)}"
        missing = [key for key in pattern if key not in actual]
        extra = [key for key in actual if key not in pattern]
        if missing or extra:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"unexpected {extra}"] if extra else []
            return f"{at}: {', '.join(parts)} in {_show(actual)}"
        for key, item in pattern.items():
            problem = match_value(item, actual[key], f"{where}.{key}" if where else key)
            if problem:
                return problem
        return None
    if isinstance(pattern, list):
        if not isinstance(actual, list) or len(actual) != len(pattern):
            return f"{at}: expected {_show(pattern)}, got {_show(actual)}"
        for index, (item, value) in enumerate(zip(pattern, actual, strict=True)):
            problem = match_value(item, value, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if not json_equal(pattern, actual):
        return f"{at}: expected {_show(pattern)}, got {_show(actual)}"
    return None


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: ``1 == 1.0``, but ``true`` is not ``1`` (Python says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _match_operator(pattern: dict[str, Any], actual: Any, at: str) -> str | None:
    if "$any" in pattern:
        return None
    if "$type" in pattern:
        kind = str(pattern["$type"])
        ok = isinstance(actual, _JSON_TYPES[kind]) and (
            kind == "boolean" or not isinstance(actual, bool)
        )
        return None if ok else f"{at}: expected a {kind}, got {_show(actual)}"
    if "$contains" in pattern:
        needle = str(pattern["$contains"])
        if isinstance(actual, str) and needle in actual:
            return None
        return f"{at}: expected a string containing {needle!r}, got {_show(actual)}"
    if "$regex" in pattern:
        regex = str(pattern["$regex"])
        if isinstance(actual, str) and re.search(regex, actual):
            return None
        return f"{at}: expected a string matching /{regex}/, got {_show(actual)}"
    if "$repeat" in pattern:
        return match_value(expand(pattern), actual, at)
    raise VectorError(f"{at}: {sorted(pattern)} is not usable here")


def _matches_event(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> str | None:
    """Events match on the pattern's fields after defaults; extra fields are allowed (§3)."""
    expected = normalize_event(pattern)
    actual = normalize_event(event)
    for key, item in expected.items():
        if key not in actual:
            return f"{key}: missing in {_show(event)}"
        problem = match_value(item, actual[key], key)
        if problem:
            return problem
    return None


@dataclass(frozen=True)
class SequenceMismatch:
    """Where the expected sequence first could not go on."""

    pattern_index: int | None  # None: every pattern matched but events were left over
    event_index: int
    reason: str


def match_events(
    patterns: Sequence[Any], events: Sequence[Mapping[str, Any]]
) -> SequenceMismatch | None:
    """``None`` if ``events`` is exactly the sequence ``patterns`` describes.

    A pattern is an event pattern (one event) or ``{"$many": pattern, "min": m, "max": n}``
    (between m, default 0, and n, default unbounded, consecutive events). Matching keeps the
    set of reachable positions, so ``$many`` never needs backtracking.
    """
    positions = {0}
    for index, pattern in enumerate(patterns):
        reached: set[int] = set()
        if isinstance(pattern, dict) and "$many" in pattern:
            lowest = int(pattern.get("min", 0))
            highest = pattern.get("max")
            limit = len(events) if highest is None else int(highest)
            for start in positions:
                count = 0
                while (
                    count < limit
                    and start + count < len(events)
                    and _matches_event(pattern["$many"], events[start + count]) is None
                ):
                    count += 1
                if count >= lowest:
                    reached.update(range(start + lowest, start + count + 1))
        else:
            reached = {
                start + 1
                for start in positions
                if start < len(events) and _matches_event(pattern, events[start]) is None
            }
        if not reached:
            start = max(positions)
            target = pattern.get("$many", pattern)
            if start >= len(events):
                reason = f"expected {_show(pattern)}, but the stream ended"
            else:
                why = _matches_event(target, events[start]) or "too few matching events"
                reason = f"expected {_show(pattern)}, got {_show(events[start])} ({why})"
            return SequenceMismatch(index, start, reason)
        positions = reached
    if len(events) in positions:
        return None
    start = max(positions)
    return SequenceMismatch(None, start, f"unexpected event {_show(events[start])}")


# --- Running ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EventSchema:
    whole: Draft202012Validator
    by_type: dict[str, Draft202012Validator]
    """One validator per v1 type: readable messages where ``oneOf`` says only "no match"."""


@cache
def _event_schema() -> _EventSchema:
    text = (
        resources.files("mentatlab")
        .joinpath("schemas", "protocol", "event.v1.schema.json")
        .read_text("utf-8")
    )
    schema = json.loads(text)
    by_type = {
        name: Draft202012Validator(definition) for name, definition in schema["$defs"].items()
    }
    return _EventSchema(Draft202012Validator(schema), by_type)


def check_line(raw: bytes, number: int) -> tuple[dict[str, Any] | None, list[str]]:
    """The event a stdout line holds, and every way the line breaks protocol v1."""
    schema = _event_schema()
    where = f"stdout line {number}"
    if not raw.endswith(b"\n"):
        return None, [f"{where}: the last line has no terminating newline: {_show_bytes(raw)}"]
    body = raw[:-1]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [f"{where}: not UTF-8 ({exc}): {_show_bytes(body)}"]
    problems: list[str] = []
    if text.endswith("\r"):
        problems.append(f"{where}: ends with \\r\\n; write \\n only")
    if not text.strip():
        return None, [*problems, f"{where}: blank line"]
    for char in _RAW_LINE_BREAKS:
        if char in text:
            problems.append(
                f"{where}: raw U+{ord(char):04X} in the line; escape it as \\u{ord(char):04x}"
            )
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return None, [*problems, f"{where}: not JSON ({exc}): {_show(text)}"]
    if not isinstance(data, dict):
        return None, [*problems, f"{where}: not a JSON object: {_show(text)}"]
    if not schema.whole.is_valid(data):
        specific = schema.by_type.get(str(data.get("type")))
        if specific is None:
            messages = f"type {_show(data.get('type'))} is not a v1 event type"
        else:
            messages = "; ".join(
                f"{'/'.join(map(str, error.absolute_path)) or '(event)'}: {error.message}"
                for error in specific.iter_errors(data)
            )
        return None, [*problems, f"{where}: not a valid v1 event ({messages}): {_show(data)}"]
    return data, problems


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def build_env(vector: Vector, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The agent's environment: ``base`` minus MentatLab's variables, as the engine sets them."""
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith(("MENTAT_", "CONFORMANCE_"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["MENTAT_PROTOCOL"] = PROTOCOL
    for key, value in vector.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_vector(
    vector: Vector,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run ``command`` as the agent for ``vector`` and check everything it did."""
    outcome = Outcome(vector)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - the command is the agent under test
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=build_env(vector, env),
            start_new_session=True,  # like the engine: signals go to the agent's group
        )
    except OSError as exc:
        outcome.problems.append(f"cannot start {shlex.join(command)}: {exc}")
        return outcome
    session = _Session(proc, vector, deadline=started + vector.timeout)
    try:
        session.pump(outcome)
    finally:
        session.close()
    outcome.duration = time.monotonic() - started
    outcome.exit_code = proc.returncode
    outcome.stderr = session.stderr.decode("utf-8", errors="replace")
    _judge(outcome, session)
    return outcome


class _Session:
    """One agent process: stdin fed, stdout and stderr drained by threads, the signal sent."""

    def __init__(self, proc: subprocess.Popen[bytes], vector: Vector, *, deadline: float) -> None:
        self.proc = proc
        self.vector = vector
        self.deadline = deadline
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr = bytearray()
        self.signalled = False
        self.timed_out = False
        self.threads = [
            threading.Thread(target=_feed, args=(proc.stdin, vector.stdin), daemon=True),
            threading.Thread(target=_read_lines, args=(proc.stdout, self.lines), daemon=True),
            threading.Thread(target=_read_tail, args=(proc.stderr, self.stderr), daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def pump(self, outcome: Outcome) -> None:
        """Read and check every stdout line until EOF and exit, or until the deadline."""
        number = 0
        while True:
            try:
                raw = self.lines.get(timeout=self._left())
            except queue.Empty:
                self.timed_out = True
                return
            if raw is None:
                break
            number += 1
            event, problems = check_line(raw, number)
            outcome.problems += problems
            if event is not None:
                outcome.events.append(event)
                self._maybe_signal(event)
        try:
            self.proc.wait(timeout=self._left())
        except subprocess.TimeoutExpired:
            self.timed_out = True

    def _maybe_signal(self, event: Mapping[str, Any]) -> None:
        spec = self.vector.signal
        if spec is None or self.signalled or _matches_event(spec.after, event) is not None:
            return
        self.signalled = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, spec.signum)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for thread in self.threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _judge(outcome: Outcome, session: _Session) -> None:
    vector = outcome.vector
    if session.timed_out:
        outcome.problems.append(f"timed out after {vector.timeout:g}s; the agent was killed")
    if vector.signal is not None and not session.signalled:
        name = signal.Signals(vector.signal.signum).name
        outcome.problems.append(
            f"{name} was never sent: no event matched {_show(vector.signal.after)}"
        )
    code = outcome.exit_code
    if not session.timed_out and code is not None and code != vector.exit_code:
        outcome.problems.append(
            f"exit status: expected {vector.exit_code}, got {_describe_status(code)}"
        )
    compared = [event for event in outcome.events if event.get("type") not in vector.ignore]
    mismatch = match_events(vector.events, compared)
    if mismatch is not None:
        outcome.problems.append(f"event #{mismatch.event_index}: {mismatch.reason}")
        outcome.diff = _diff(vector.events, compared)


def _feed(stream: Any, data: bytes) -> None:
    # An agent that fails early may exit without reading its stdin: that is allowed (§2).
    with contextlib.suppress(BrokenPipeError, OSError):
        stream.write(data)
    with contextlib.suppress(BrokenPipeError, OSError):
        stream.close()


def _read_lines(stream: Any, lines: queue.Queue[bytes | None]) -> None:
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(None)


def _read_tail(stream: Any, tail: bytearray) -> None:
    for chunk in iter(lambda: stream.read(4096), b""):
        tail += chunk
        del tail[:-_STDERR_TAIL_BYTES]


def _describe_status(code: int) -> str:
    if code < 0:
        return f"death by signal {signal.Signals(-code).name}"
    return str(code)


def _show(value: Any) -> str:
    """Compact JSON of ``value`` with long strings shortened, for messages and diffs."""
    text = json.dumps(_shorten(value), ensure_ascii=False, separators=(",", ":"))
    for char in _RAW_LINE_BREAKS:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:40]}…({len(value)} chars, ends {value[-10:]!r})"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        if len(value) > 20:
            return [*(_shorten(item) for item in value[:20]), f"…({len(value)} items)"]
        return [_shorten(item) for item in value]
    return value


def _show_bytes(data: bytes) -> str:
    return repr(data[:_SHOWN_CHARS]) + ("…" if len(data) > _SHOWN_CHARS else "")


def _diff(patterns: Sequence[Any], events: Sequence[Mapping[str, Any]]) -> list[str]:
    expected = [_show(pattern) for pattern in patterns]
    actual = [_show(normalize_event(event)) for event in events]
    # Defaults filled in on both sides, so that only real differences show.
    expected = [
        _show(normalize_event(p)) if isinstance(p, dict) and "type" in p else line
        for p, line in zip(patterns, expected, strict=True)
    ]
    diff = list(difflib.unified_diff(expected, actual, lineterm="", n=2))[2:]
    if len(diff) > _DIFF_LINES:
        diff = [*diff[:_DIFF_LINES], f"… ({len(diff) - _DIFF_LINES} more lines)"]
    return diff


# --- Command line ------------------------------------------------------------------------------


def select(vectors: Iterable[Vector], patterns: Sequence[str]) -> list[Vector]:
    """Vectors whose name contains one of ``patterns`` (all when there are none)."""
    return [v for v in vectors if not patterns or any(p in v.name for p in patterns)]


def main(argv: Sequence[str] | None = None, *, default_vectors: Path | None = None) -> int:
    """``run.py --agent CMD``: 0 if every vector passed, 1 if one failed, 2 on usage errors."""
    parser = argparse.ArgumentParser(
        prog="conformance/run.py",
        description="Run the agent protocol v1 conformance vectors against an agent command.",
    )
    parser.add_argument(
        "--agent", required=True, help='the agent command, e.g. "python agents/python/agent.py"'
    )
    parser.add_argument(
        "--vectors",
        type=Path,
        default=default_vectors,
        required=default_vectors is None,
        help="directory of vector files (default: conformance/vectors)",
    )
    parser.add_argument(
        "-k",
        dest="select",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only vectors whose name contains TEXT (repeatable)",
    )
    parser.add_argument("--cwd", type=Path, default=None, help="working directory of the agent")
    parser.add_argument("--list", action="store_true", help="list the vectors and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="show events of passes too")
    args = parser.parse_args(argv)
    try:
        vectors = select(load_vectors(args.vectors), args.select)
    except VectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not vectors:
        print(f"error: no vector name contains any of {args.select}", file=sys.stderr)
        return 2
    if args.list:
        for vector in vectors:
            print(f"{vector.name}: {vector.description}")
        return 0
    command = shlex.split(args.agent)
    failed = 0
    for vector in vectors:
        outcome = run_vector(vector, command, cwd=args.cwd)
        failed += not outcome.passed
        print(outcome.report(verbose=args.verbose), flush=True)
    print(f"{len(vectors) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
