"""Reading bad input of every kind gives a located finding, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from validation_helpers import WriteFile, errors

from mentatlab.validation import UsageError, load_manifest
from mentatlab.validation.loading import (
    MAX_BYTES,
    document_from_data,
    manifest_file,
    parse_text,
    read_document,
)
from mentatlab.validation.rules import LOAD_RULES


def only(findings: list, rule: str) -> object:  # type: ignore[type-arg]
    assert [f.rule for f in findings] == [rule], findings
    return findings[0]


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_document(tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="no such file"):
        load_manifest(tmp_path / "nope")


def test_directory_without_manifest_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"has no manifest\.yaml or manifest\.yml"):
        manifest_file(tmp_path)


def test_cogpak_directory_finds_manifest_yml(tmp_path: Path) -> None:
    (tmp_path / "manifest.yml").write_text("id: x\n")
    assert manifest_file(tmp_path) == tmp_path / "manifest.yml"


def test_unreadable_file(write: WriteFile) -> None:
    directory = write("d.yaml/x", "a: 1").parent  # a directory named like a file
    document, findings = read_document(directory)
    assert document is None
    assert only(findings, "load.unreadable")


def test_not_utf8_reports_the_line(write: WriteFile) -> None:
    document, findings = read_document(write("f.yaml", b"a: 1\nb: \xff\xfe\n"))
    assert document is None
    assert only(findings, "load.encoding").line == 2  # type: ignore[attr-defined]


def test_utf8_bom_is_accepted(write: WriteFile) -> None:
    document, findings = read_document(write("f.yaml", b"\xef\xbb\xbfa: 1\n"))
    assert document is not None and document.data == {"a": 1} and findings == []


@pytest.mark.parametrize("text", ["", "  \n\n", "# only a comment\n", "---\n"])
def test_empty(write: WriteFile, text: str) -> None:
    document, findings = read_document(write("f.yaml", text))
    assert document is None
    assert only(findings, "load.empty")


def test_too_large(write: WriteFile) -> None:
    document, findings = read_document(write("f.yaml", b"#" * (MAX_BYTES + 1)))
    assert document is None
    assert "10 MiB" in only(findings, "load.too-large").message  # type: ignore[attr-defined]


def test_yaml_syntax_error_has_line_and_column(write: WriteFile) -> None:
    document, findings = read_document(write("f.yaml", "a: 1\nb: [1, 2\nc: 3\n"))
    finding = only(findings, "load.syntax")
    assert document is None
    assert finding.line == 3 and "column" in finding.message  # type: ignore[attr-defined]


def test_json_syntax_error_has_line_and_column(write: WriteFile) -> None:
    document, findings = read_document(write("f.json", '{\n  "a": 1,\n  "b": }\n'))
    finding = only(findings, "load.syntax")
    assert document is None
    assert finding.line == 3 and "column 8" in finding.message  # type: ignore[attr-defined]


def test_several_yaml_documents_are_a_syntax_error() -> None:
    assert only(parse_text("a: 1\n---\nb: 2\n", "f", json_syntax=False)[1], "load.syntax")


@pytest.mark.parametrize(
    ("text", "json_syntax", "line"),
    [("a: 1\nb: 2\na: 3\n", False, 3), ('{"a": 1,\n "a": 2}', True, 2)],
)
def test_duplicate_keys(text: str, json_syntax: bool, line: int) -> None:
    document, findings = parse_text(text, "f", json_syntax=json_syntax)
    finding = only(findings, "load.duplicate-key")
    assert document is not None
    assert finding.path == "$.a" and finding.line == line  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "just text\n", "42\n", "[1]"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    document, findings = parse_text(text, "f", json_syntax=False)
    assert document is None
    assert only(findings, "load.not-mapping")


def test_non_string_keys_are_reported_where_they_are() -> None:
    document, findings = parse_text("a: 1\n2: b\n? [x]\n: y\n", "f", json_syntax=False)
    assert document is not None
    assert [(f.rule, f.line) for f in findings] == [("load.key-type", 2), ("load.key-type", 3)]


def test_billion_laughs_is_refused() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    document, findings = parse_text("\n".join(lines), "f", json_syntax=False)
    assert document is None
    assert "aliases expand" in only(findings, "load.alias").message  # type: ignore[attr-defined]


def test_recursive_alias_is_refused() -> None:
    document, findings = parse_text("a: &a [*a]\n", "f", json_syntax=False)
    assert document is None
    assert only(findings, "load.alias")


def test_small_aliases_and_merge_keys_work() -> None:
    text = "base: &base {x: 1, y: 2}\nuse: {<<: *base, y: 3}\nlist: &l [1]\nagain: *l\n"
    document, findings = parse_text(text, "f", json_syntax=False)
    assert findings == [] and document is not None
    assert document.data["use"] == {"x": 1, "y": 3} and document.data["again"] == [1]


@pytest.mark.parametrize(
    ("text", "json_syntax"),
    [("a: .nan\n", False), ("a: -.inf\n", False), ('{"a": NaN}', True), ('{"a": 1e999}', True)],
)
def test_non_finite_numbers(text: str, json_syntax: bool) -> None:
    document, findings = parse_text(text, "f", json_syntax=json_syntax)
    assert document is not None
    assert only(findings, "load.value-type").path == "$.a"  # type: ignore[attr-defined]


def test_unsupported_tags() -> None:
    text = "a: !!binary aGk=\nb: !custom x\nc: !!set {x}\n"
    _, findings = parse_text(text, "f", json_syntax=False)
    assert [(f.rule, f.path) for f in findings] == [
        ("load.value-type", "$.a"),
        ("load.value-type", "$.b"),
        ("load.value-type", "$.c"),
    ]


def test_too_deep() -> None:
    for text, json_syntax in (("[" * 5000 + "]" * 5000, True), ("a: " + "[" * 300, False)):
        document, findings = parse_text(text, "f", json_syntax=json_syntax)
        assert document is None
        assert errors(findings) <= {"load.too-deep", "load.syntax"}, findings


def test_yaml_12_scalars_and_timestamps_stay_text() -> None:
    text = "a: yes\nb: 0o17\nc: 0x1F\nd: 2025-07-22T14:05:00Z\ne: 1_000\nf: ~\ng: 1.5\n"
    document, findings = parse_text(text, "f", json_syntax=False)
    assert findings == [] and document is not None
    assert document.data == {
        "a": "yes",  # YAML 1.2: only true/false are booleans
        "b": 15,
        "c": 31,
        "d": "2025-07-22T14:05:00Z",
        "e": 1000,
        "f": None,
        "g": 1.5,
    }


def test_yaml_lines() -> None:
    text = "a: 1\nb:\n  - x: 1\n    y: [1,\n      2]\n  - z\n"
    document, _ = parse_text(text, "f", json_syntax=False)
    assert document is not None
    assert document.line_of("$.b[0].y[1]") == 5
    assert document.line_of("$.b[1]") == 6
    assert document.line_of("$.b[0].missing") == 3  # closest ancestor


def test_json_lines_and_exact_json_semantics(write: WriteFile) -> None:
    path = write("f.json", '{\n  "a": 1.0,\n  "b": [\n    "x",\n    {"c": "2025-01-01"}\n  ]\n}\n')
    document, findings = read_document(path)
    assert findings == [] and document is not None
    assert isinstance(document.data["a"], float)
    assert document.line_of("$.b[1].c") == 5


@pytest.mark.parametrize(("text", "is_json"), [('{"a": 1}', True), ("a: 1\n", False)])
def test_mlab_may_be_json_or_yaml(write: WriteFile, text: str, is_json: bool) -> None:
    document, findings = read_document(write("f.mlab", text))
    assert findings == [] and document is not None and document.data == {"a": 1}


def test_in_memory_data() -> None:
    document, findings = document_from_data({"a": [1, {2: float("nan")}], "b": object()}, "mem")
    assert document is not None
    assert [(f.rule, f.path) for f in findings] == [
        ("load.key-type", '$.a[1]["2"]'),
        ("load.value-type", '$.a[1]["2"]'),
        ("load.value-type", "$.b"),
    ]
    assert document_from_data([1], "mem")[0] is None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".json", ".mlab"]))
def test_fuzz_random_bytes(write: WriteFile, raw: bytes, suffix: str) -> None:
    document, findings = read_document(write("fuzz" + suffix, raw))
    assert {f.rule for f in findings} <= LOAD_RULES
    assert document is not None or findings


_YAMLISH = st.text(alphabet=st.sampled_from(list("ab:- \n[]{},&*!#'\"?|>.~01%@`\t")), max_size=80)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_YAMLISH, st.text(max_size=80)), json_syntax=st.booleans())
def test_fuzz_yaml_like_text(text: str, json_syntax: bool) -> None:
    document, findings = parse_text(text, "f", json_syntax=json_syntax)
    assert {f.rule for f in findings} <= LOAD_RULES
    assert document is not None or findings


def test_folded_scalars_read_as_their_text(tmp_path: Path) -> None:
    path = tmp_path / "folded.yaml"
    path.write_text("text: >-\n  one line\n  and the next\n")
    document, findings = read_document(path)
    assert findings == [] and document is not None
    assert document.data == {"text": "one line and the next"}
