"""Reading manifests and flows from files or memory into :class:`Document` objects.

YAML is composed with ruamel.yaml (YAML 1.2) and built into plain data by hand, so every value
gets its line, duplicate and non-string keys are reported where they are, and aliases cannot
expand without bound. JSON is parsed by the json module for exact JSON semantics; its lines come
from composing the same text as YAML flow style (best effort: a line may be ``None``).
"""

from __future__ import annotations

import codecs
import io
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mentatlab.validation.document import ROOT, Document, child_path
from mentatlab.validation.findings import Finding, UsageError

__all__ = [
    "MANIFEST_FILENAMES",
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "document_from_data",
    "manifest_file",
    "parse_text",
    "read_document",
]

MAX_BYTES: Final = 10 * 1024 * 1024
# Values produced by expanding aliases; bounds "billion laughs" documents.
MAX_ALIAS_NODES: Final = 100_000
MAX_DEPTH: Final = 200
MANIFEST_FILENAMES: Final = ("manifest.yaml", "manifest.yml")

_TAG = "tag:yaml.org,2002:"
_JSON_SUFFIXES: Final = frozenset({".json"})
_MIXED_SUFFIXES: Final = frozenset({".mlab"})


class _Abort(Exception):
    """Stops building a document that cannot be turned into data."""

    def __init__(self, rule: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.rule, self.message, self.line = rule, message, line


def manifest_file(path: Path) -> Path:
    """The manifest of a Cog-Pak directory, or ``path`` itself if it is a file."""
    if path.is_dir():
        for name in MANIFEST_FILENAMES:
            if (path / name).is_file():
                return path / name
        raise UsageError(f"{path}: directory has no {' or '.join(MANIFEST_FILENAMES)}")
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    return path


def read_document(path: Path) -> tuple[Document | None, list[Finding]]:
    """Read and parse one file; raises :class:`UsageError` if it does not exist."""
    file = str(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        return None, [_finding(file, None, "load.unreadable", f"cannot read file: {exc.strerror}")]
    if len(raw) > MAX_BYTES:
        message = f"file is larger than the {MAX_BYTES // (1024 * 1024)} MiB limit"
        return None, [_finding(file, None, "load.too-large", message)]
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        message = f"file is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        return None, [_finding(file, line, "load.encoding", message)]
    document, findings = parse_text(text, file, json_syntax=_is_json(path, text))
    if document is not None:
        document = Document(file, document.data, document.lines, text, path.parent)
    return document, findings


def parse_text(text: str, file: str, *, json_syntax: bool) -> tuple[Document | None, list[Finding]]:
    """Parse ``text`` as JSON or YAML into a mapping document, reporting every problem found."""
    if not text.strip():
        return None, [_finding(file, None, "load.empty", "file is empty")]
    parse = _parse_json if json_syntax else _parse_yaml
    try:
        data, lines, findings = parse(text, file)
    except _Abort as abort:
        return None, [_finding(file, abort.line, abort.rule, abort.message)]
    return _as_document(data, lines, findings, file, text)


def document_from_data(data: object, file: str) -> tuple[Document | None, list[Finding]]:
    """A document from data already in memory (e.g. a request body); it has no lines."""
    sink = _Sink(file, {})
    try:
        plain = _plain(data, ROOT, sink)
    except _Abort as abort:
        return None, [_finding(file, abort.line, abort.rule, abort.message)]
    return _as_document(plain, {}, sink.findings, file, None)


def _as_document(
    data: Any, lines: dict[str, int], findings: list[Finding], file: str, text: str | None
) -> tuple[Document | None, list[Finding]]:
    if data is None:
        return None, [*findings, _finding(file, None, "load.empty", "document is empty")]
    if not isinstance(data, dict):
        kind = _kind_of(data)
        message = f"top level must be a mapping of keys to values, not {kind}"
        return None, [*findings, _finding(file, lines.get(ROOT), "load.not-mapping", message)]
    return Document(file, data, lines, text), findings


def _is_json(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in _MIXED_SUFFIXES:
        return text.lstrip().startswith(("{", "["))
    return suffix in _JSON_SUFFIXES


def _finding(file: str, line: int | None, rule: str, message: str, path: str = ROOT) -> Finding:
    return Finding(file=file, path=path, line=line, rule=rule, message=message)


def _kind_of(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__} value"


# --- YAML -----------------------------------------------------------------------------------


def _compose(text: str) -> Node | None:
    yaml = YAML(typ="rt", pure=True)
    yaml.version = (1, 2)
    with warnings.catch_warnings():
        # ruamel warns (e.g. about reused anchors) on input that is still valid YAML.
        warnings.simplefilter("ignore")
        node: Node | None = yaml.compose(io.StringIO(text))
    return node


def _parse_yaml(text: str, file: str) -> tuple[Any, dict[str, int], list[Finding]]:
    try:
        node = _compose(text)
    except MarkedYAMLError as exc:
        raise _syntax_abort(exc) from None
    except YAMLError as exc:
        raise _Abort("load.syntax", f"invalid YAML: {exc}", None) from None
    except RecursionError:
        raise _too_deep(None) from None
    if node is None:
        return None, {}, []
    builder = _Builder(file, text)
    data = builder.build(node, ROOT, 0)
    return data, builder.lines, builder.findings


def _syntax_abort(exc: MarkedYAMLError) -> _Abort:
    mark = exc.problem_mark or exc.context_mark
    parts = [part for part in (exc.context, exc.problem) if part]
    message = "invalid YAML: " + ", ".join(parts) if parts else "invalid YAML"
    if mark is None:
        return _Abort("load.syntax", message, None)
    return _Abort("load.syntax", f"{message} (column {mark.column + 1})", mark.line + 1)


def _too_deep(line: int | None) -> _Abort:
    return _Abort("load.too-deep", f"document is nested deeper than {MAX_DEPTH} levels", line)


class _Builder:
    """Builds plain data from a composed YAML node tree, recording lines and problems."""

    def __init__(self, file: str, text: str) -> None:
        self.file, self.text = file, text
        self.lines: dict[str, int] = {}
        self.findings: list[Finding] = []
        self._seen: set[int] = set()
        self._active: set[int] = set()
        self._alias_depth = 0
        self._alias_nodes = 0
        self._construct = _scalar_constructor()

    def build(self, node: Node, path: str, depth: int) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if depth > MAX_DEPTH:
            raise _too_deep(line)
        if id(node) in self._active:
            raise _Abort("load.alias", f"alias at {path} refers to itself (recursive alias)", line)
        aliased = id(node) in self._seen
        self._seen.add(id(node))
        self._alias_depth += aliased
        if self._alias_depth:
            self._alias_nodes += 1
            if self._alias_nodes > MAX_ALIAS_NODES:
                message = f"aliases expand to more than {MAX_ALIAS_NODES} values"
                raise _Abort("load.alias", message, line)
        self._active.add(id(node))
        try:
            return self._build(node, path, depth)
        finally:
            self._active.discard(id(node))
            self._alias_depth -= aliased

    def _build(self, node: Node, path: str, depth: int) -> Any:
        tag = str(node.tag)
        if isinstance(node, MappingNode):
            self._check_tag(node, tag, "map", path)
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            self._check_tag(node, tag, "seq", path)
            return [
                self.build(item, child_path(path, index), depth + 1)
                for index, item in enumerate(node.value)
            ]
        return self._scalar(node, tag, path)

    def _mapping(self, node: MappingNode, path: str, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if str(key_node.tag) == _TAG + "merge":
                self._merge(result, value_node, path, depth)
                continue
            key = self._key(key_node, path)
            line = key_node.start_mark.line + 1
            if key in key_lines:
                message = f"duplicate key {key!r} (first defined on line {key_lines[key]})"
                self._add(line, "load.duplicate-key", message, child_path(path, key))
            key_lines[key] = line
            self.lines[child_path(path, key)] = line
            result[key] = self.build(value_node, child_path(path, key), depth + 1)
        return result

    def _merge(self, result: dict[str, Any], node: Node, path: str, depth: int) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            merged = self.build(source, path, depth + 1)
            if not isinstance(merged, dict):
                line = source.start_mark.line + 1
                self._add(line, "load.value-type", "'<<' merges mappings only", path)
                continue
            for key, value in merged.items():
                result.setdefault(key, value)

    def _key(self, node: Node, path: str) -> str:
        if isinstance(node, ScalarNode) and str(node.tag) == _TAG + "str":
            return str(node.value)
        source = self.text[node.start_mark.index : node.end_mark.index]
        message = f"key {source!r} is not a string; quote it"
        self._add(node.start_mark.line + 1, "load.key-type", message, child_path(path, source))
        return source

    def _scalar(self, node: Node, tag: str, path: str) -> Any:
        value = str(node.value)
        if isinstance(node, ScalarNode) and node.style == ">":
            # ruamel's composer marks each fold of a folded scalar with BEL; the text has none.
            value = value.replace("\a", "")
        line = node.start_mark.line + 1
        if tag in (_TAG + "str", _TAG + "timestamp"):
            # Timestamps stay text: schemas check date-times as strings.
            return value
        if tag == _TAG + "null":
            return None
        if tag not in (_TAG + "bool", _TAG + "int", _TAG + "float"):
            self._add(line, "load.value-type", f"unsupported tag {tag!r}", path)
            return value
        try:
            constructed = self._construct(node)
        except (ValueError, YAMLError) as exc:
            self._add(line, "load.value-type", f"invalid {tag.removeprefix(_TAG)}: {exc}", path)
            return value
        if tag == _TAG + "bool":
            return bool(constructed)
        if tag == _TAG + "int":
            return int(constructed)
        number = float(constructed)
        if not math.isfinite(number):
            self._add(line, "load.value-type", f"{value} is not a finite number", path)
        return number

    def _check_tag(self, node: Node, tag: str, expected: str, path: str) -> None:
        if tag != _TAG + expected:
            self._add(node.start_mark.line + 1, "load.value-type", f"unsupported tag {tag!r}", path)

    def _add(self, line: int, rule: str, message: str, path: str) -> None:
        self.findings.append(_finding(self.file, line, rule, message, path))


def _scalar_constructor() -> Callable[[Node], Any]:
    yaml = YAML(typ="rt", pure=True)
    construct: Callable[[Node], Any] = yaml.constructor.construct_object
    return construct


# --- JSON and in-memory data ------------------------------------------------------------------


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw more than once."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object()
    result.duplicates = []
    for key, value in pairs:
        if key in result:
            result.duplicates.append(key)
        result[key] = value
    return result


def _parse_json(text: str, file: str) -> tuple[Any, dict[str, int], list[Finding]]:
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg} (column {exc.colno})"
        raise _Abort("load.syntax", message, exc.lineno) from None
    except RecursionError:
        raise _too_deep(None) from None
    except ValueError as exc:  # e.g. integers beyond Python's digit limit
        raise _Abort("load.syntax", f"invalid JSON: {exc}", None) from None
    sink = _Sink(file, _json_lines(text, file))
    return _plain(data, ROOT, sink), sink.lines, sink.findings


def _json_lines(text: str, file: str) -> dict[str, int]:
    # JSON is (almost always) valid YAML 1.2 flow style; when it is not, lines are unknown.
    try:
        node = _compose(text)
        if node is None:
            return {}
        builder = _Builder(file, text)
        builder.build(node, ROOT, 0)
    except (YAMLError, RecursionError, _Abort):
        return {}
    return builder.lines


@dataclass
class _Sink:
    """Where :func:`_plain` reports problems, and the lines it locates them with."""

    file: str
    lines: dict[str, int]
    findings: list[Finding] = field(default_factory=list)

    def report(self, path: str, rule: str, message: str) -> None:
        self.findings.append(_finding(self.file, self.lines.get(path), rule, message, path))


def _plain(value: object, path: str, sink: _Sink, depth: int = 0) -> Any:
    """Check that ``value`` is JSON-compatible data and return it as plain dicts and lists."""
    if depth > MAX_DEPTH:
        raise _too_deep(sink.lines.get(path))
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            sink.report(child_path(path, key), "load.duplicate-key", f"duplicate key {key!r}")
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = key if isinstance(key, str) else repr(key)
            if not isinstance(key, str):
                sink.report(child_path(path, name), "load.key-type", f"key {name} is not a string")
            result[name] = _plain(item, child_path(path, name), sink, depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [
            _plain(item, child_path(path, index), sink, depth + 1)
            for index, item in enumerate(value)
        ]
    if isinstance(value, float) and not math.isfinite(value):
        sink.report(path, "load.value-type", f"{value} is not a finite number")
        return value
    if value is None or isinstance(value, str | int | float):
        return value
    sink.report(path, "load.value-type", f"a {type(value).__name__} value is not JSON data")
    return str(value)
