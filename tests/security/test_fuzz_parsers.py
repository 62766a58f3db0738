"""Property-based fuzzing of every parser that reads text MentatLab does not control.

Manifests, flows and policies (their loaders and validators), the agent protocol reader of
the engine (line splitting, stdout and stderr lines, the event model the HTTP endpoint uses)
and the Python SDK's input envelope reader. Inputs are shipped documents mutated
structurally and textually, and raw text and bytes. The properties:

- nothing raises but the documented error (findings, ``ValidationError``, the SDK's
  ``invalid_envelope`` error, ``LineTooLongError``);
- every rejection says where and what (a rule, a ``$``-path, a message);
- nothing hangs: each case has a deadline (:func:`bounded`), enforced with ``SIGALRM``.
"""

from __future__ import annotations

import copy
import io
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from ruamel.yaml import YAML

from mentatlab.engine.agent_io import (
    KNOWN_EVENT_TYPES,
    LineSplitter,
    LineTooLongError,
    parse_stdout_line,
    stderr_log_event,
)
from mentatlab.model.protocol import LogEvent, agent_event_adapter
from mentatlab.sdk._runtime import read_envelope
from mentatlab.sdk.errors import FatalError
from mentatlab.validation import AgentCatalog, Finding, Severity, load_policy
from mentatlab.validation.flows import validate_flow_document
from mentatlab.validation.loading import parse_text
from mentatlab.validation.manifests import validate_manifest_document

REPO = Path(__file__).resolve().parents[2]
CASE_SECONDS = 10
"""A case running longer than this is a hang (a parse takes milliseconds)."""
T = TypeVar("T")


class HangError(BaseException):
    """A BaseException, so that no ``except Exception`` in the code under test swallows it."""


@contextmanager
def bounded(seconds: float = CASE_SECONDS) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"a case took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(
        max_examples=examples,
        deadline=None,  # the per-case bound is `bounded`, not a flaky timing threshold
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


# --- inputs -------------------------------------------------------------------------------

_yaml = YAML(typ="safe")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = _yaml.load(path)
    return data


MANIFESTS = [_load(path) for path in sorted((REPO / "agents").glob("*/manifest.yaml"))]
FLOWS = [_load(path) for path in sorted((REPO / "examples").glob("*.flow.yaml"))]
POLICIES = [_load(REPO / "src" / "mentatlab" / "policies" / "default.policy.yaml")]


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


KNOWN_KEYS = sorted(set().union(*(_keys(d) for d in [*MANIFESTS, *FLOWS, *POLICIES])))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["", "latest", "1.0.0", "a.b", "x.y:z", "*", "ui.console", "16Gi", "-1"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)
YAML_CHARS = ":-[]{}&*!|>'\"#%@`,? \n\t\\abcxyz019.~"


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair in ``value``."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found += [(value, key), *_slots(child)]
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += [(value, index), *_slots(child)]
    return found


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    """A shipped document with one to four values replaced, removed or added."""
    document = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            container[key] = draw(json_values)
        elif action == "remove":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(KNOWN_KEYS))] = draw(json_values)
        else:
            container.append(draw(json_values))
    return document


def _dump_yaml(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe").dump(data, stream)
    return stream.getvalue()


@st.composite
def texts(draw: st.DrawFn, bases: list[dict[str, Any]]) -> tuple[str, bool]:
    """``(text, is_json)``: a mutated document as YAML or JSON, maybe corrupted as text, or
    text that was never a document."""
    kind = draw(st.sampled_from(["yaml", "json", "corrupt", "raw"]))
    if kind == "raw":
        text = draw(st.text(max_size=300) | st.text(alphabet=YAML_CHARS, max_size=300))
        return text, draw(st.booleans())
    data = draw(mutated(bases))
    as_json = kind == "json" or (kind == "corrupt" and draw(st.booleans()))
    text = json.dumps(data, indent=1) if as_json else _dump_yaml(data)
    if kind == "corrupt":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 5))
            text = text[:at] + draw(st.text(alphabet=YAML_CHARS, max_size=4)) + text[at + cut :]
    return text, as_json


# --- properties ---------------------------------------------------------------------------


def assert_located(findings: list[Finding]) -> None:
    for finding in findings:
        assert finding.rule and finding.message.strip(), finding
        assert finding.path.startswith("$"), finding
        assert finding.line is None or finding.line >= 1, finding


def check_document(
    text: str,
    as_json: bool,
    validate: Callable[[Any], tuple[object | None, list[Finding]]],
) -> None:
    with bounded():
        document, findings = parse_text(text, "<fuzz>", json_syntax=as_json)
        if document is None:
            assert any(f.severity is Severity.ERROR for f in findings)
            assert_located(findings)
            return
        model, findings = validate(document)
    assert_located(findings)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    assert (model is None) == bool(errors), findings


@fuzz(350)
@given(case=texts(MANIFESTS))
def test_manifests(case: tuple[str, bool]) -> None:
    check_document(*case, validate_manifest_document)


CATALOG = AgentCatalog([REPO / "agents"])


@fuzz(250)
@given(case=texts(FLOWS))
def test_flows(case: tuple[str, bool]) -> None:
    check_document(*case, lambda document: validate_flow_document(document, CATALOG))


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policy") / "fuzz.policy.yaml"


@fuzz(200)
@given(case=texts(POLICIES))
def test_policies(policy_file: Path, case: tuple[str, bool]) -> None:
    text, _ = case
    policy_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    with bounded():
        policy, findings = load_policy(policy_file)
    assert_located(findings)
    assert (policy is None) == any(f.severity is Severity.ERROR for f in findings), findings


# --- the agent protocol reader -----------------------------------------------------------

events = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(KNOWN_EVENT_TYPES)) | st.text(max_size=8)},
    optional={
        "pin": json_values,
        "value": json_values,
        "level": st.sampled_from(["debug", "info", "warning", "error"]) | json_values,
        "message": json_values,
        "percent": st.floats() | st.integers(),
        "name": json_values,
        "code": json_values,
        "retryable": json_values,
        "state": json_values,
    },
)


@st.composite
def stdout_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["event", "corrupt", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    line = json.dumps(draw(events), allow_nan=True).encode()
    if kind == "corrupt":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.binary(max_size=4)) + line[at + draw(st.integers(0, 3)) :]
    return line


@fuzz(700)
@given(line=stdout_lines())
def test_stdout_and_stderr_lines(line: bytes) -> None:
    with bounded():
        event = parse_stdout_line(line)
        from_stderr = stderr_log_event(line)
    blank = not line.decode("utf-8", "replace").removesuffix("\r").strip()
    assert (event is None) == blank
    assert (from_stderr is None) == blank
    if isinstance(event, LogEvent) and event.level == "warning":
        assert event.message.startswith("ignored "), event  # a rejection says what it ignored
    if event is not None:
        # What the engine stores and streams is valid protocol v1 again.
        assert agent_event_adapter.validate_python(event.model_dump()) == event


@fuzz(400)
@given(event=events | json_values)
def test_the_event_model_rejects_with_locations(event: Any) -> None:
    try:
        with bounded():
            agent_event_adapter.validate_python(event)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            assert error["msg"] and isinstance(error["loc"], tuple)


@fuzz(200)
@given(chunks=st.lists(st.binary(max_size=200) | st.sampled_from([b"\n", b"\r\n", b"x" * 90])))
def test_line_splitting_is_lossless_or_refuses_long_lines(chunks: list[bytes]) -> None:
    limit = 100
    splitter = LineSplitter(limit)
    lines: list[bytes] = []
    with bounded():
        try:
            for chunk in chunks:
                lines += splitter.feed(chunk)
        except LineTooLongError as exc:
            assert str(limit) in str(exc)
            assert any(len(line) > limit for line in b"".join(chunks).split(b"\n"))
            return
        rest = splitter.finish()
    stream = b"".join(chunks)
    assert b"\n".join([*lines, *([rest] if rest is not None else [b""])]) == stream or (
        rest is None and b"\n".join(lines) + b"\n" == stream
    )


# --- the Python SDK's input envelope -----------------------------------------------------

envelopes = st.fixed_dictionaries(
    {"run": st.fixed_dictionaries({"id": json_values, "node": json_values})},
    optional={
        "protocol": st.just("mentatlab.agent/v1") | json_values,
        "inputs": json_values,
        "params": json_values,
        "resume": json_values,
        "secrets": json_values,
        "identity": json_values,
    },
)


@st.composite
def envelope_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["envelope", "corrupt", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    raw = json.dumps(draw(envelopes), allow_nan=True).encode()
    if kind == "corrupt":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(max_size=4)) + raw[at + draw(st.integers(0, 3)) :]
    return raw


@fuzz(350)
@given(raw=envelope_bytes())
def test_the_sdk_envelope_reader(raw: bytes) -> None:
    try:
        with bounded():
            envelope = read_envelope(io.BytesIO(raw))
    except FatalError as exc:
        assert exc.code == "invalid_envelope"
        assert str(exc).strip()
    else:
        assert envelope.run.attempt >= 1
