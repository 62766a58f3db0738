"""Flows: schema findings with lines, every flow rule, run inputs and modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from validation_helpers import WriteFile, errors, flow, warnings

from mentatlab.validation import AgentCatalog, Mode, load_flow, validate_flow_data, validate_paths


def txt(node_id: str) -> dict[str, Any]:
    """A t.text node whose required input is given as a constant."""
    return {"id": node_id, "type": "t.text", "inputs": {"text": "x"}}


TEXT = txt("a")


def check(catalog: AgentCatalog, data: dict[str, Any], **options: Any) -> Any:
    return validate_flow_data(data, catalog, **options)


def node(node_id: str, node_type: str, **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, **fields}


def test_valid_flow(catalog: AgentCatalog) -> None:
    data = flow(
        [node("p", "ui.prompt", outputs={"text": "hi"}), txt("a"), node("c", "ui.console")],
        [("p.text", "a.text"), ("a.result", "c.anything")],
    )
    result, findings = check(catalog, data)
    assert findings == [] and result is not None and result.meta.id == "test.flow"


def test_yaml_flow_schema_findings_have_lines(write: WriteFile, catalog: AgentCatalog) -> None:
    text = (
        "apiVersion: mentatlab.io/v1\nkind: Flow\nmeta: {id: f, name: F, createdAt: yesterday}\n"
        "graph:\n  nodes:\n    - id: a\n      type: t.text\n    - id: r\n      type: conditional\n"
        "      params:\n        conditional: {type: switch, expression: x}\n  edges: []\n"
    )
    result, findings = load_flow(write("f.yaml", text), catalog)
    assert result is None
    assert {(f.rule, f.path, f.line) for f in findings} == {
        ("schema.format", "$.meta.createdAt", 3),
        ("schema.required", "$.graph.nodes[1].params.conditional.branches", 11),
    }


def test_json_flow_findings_have_lines(write: WriteFile, catalog: AgentCatalog) -> None:
    text = (
        '{"apiVersion": "v1", "kind": "Flow", "meta": {"id": "f", "name": "F"},\n'
        '"graph": {\n"nodes": [\n{"id": "a", "type": "t.nope"}],\n"edges": []}}\n'
    )
    _, findings = load_flow(write("f.json", text), catalog)
    assert [(f.rule, f.path, f.line) for f in findings] == [
        ("flow.agent-ref", "$.graph.nodes[0].type", 4)
    ]


FLOW_RULES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("flow.node-unique", flow([TEXT, TEXT]), flow([TEXT, txt("b")])),
    (
        "flow.edge-node",
        flow([TEXT], [("a.result", "b.text")]),
        flow([TEXT, txt("b")], [("a.result", "b.text")]),
    ),
    (
        "flow.edge-pin",
        flow([TEXT, txt("b")], [("a.nope", "b.text")]),
        flow([TEXT, txt("b")], [("a.result", "b.text")]),
    ),
    (
        "flow.pin-type",
        flow([node("m", "t.media"), TEXT], [("m.picture", "a.text")]),
        flow([node("m", "t.media"), node("n", "t.media")], [("m.picture", "n.blob")]),
    ),
    (
        "flow.fan-in",
        flow([TEXT, txt("b"), txt("c")], [("a.result", "c.text"), ("b.result", "c.text")]),
        flow(
            [TEXT, txt("b"), node("s", "t.sink")], [("a.result", "s.data"), ("b.result", "s.data")]
        ),
    ),
    (
        "flow.cycle",
        flow([txt("b"), txt("c")], [("b.result", "c.text"), ("c.result", "b.text")]),
        flow([txt("b"), node("c", "t.text", inputs={"text": "x"})], [("c.result", "b.text")]),
    ),
    ("flow.input-required", flow([node("a", "t.text")]), flow([TEXT])),
    (
        "flow.input-unknown",
        flow([node("a", "t.text", inputs={"text": "x", "nope": 1})]),
        flow([node("a", "t.text", inputs={"text": "x"})]),
    ),
    (
        "flow.agent-ref",
        flow([node("a", "t.text@9.9.9", inputs={"text": "x"})]),
        flow(
            [
                node("a", "t.text@1.0.0", inputs={"text": "x"}),
                node("b", "t.text:1.0.0", inputs={"text": "x"}),
            ]
        ),
    ),
    (
        "flow.conditional-target",
        flow(
            [
                node(
                    "r",
                    "conditional",
                    params={
                        "conditional": {"type": "if", "expression": "x", "then": {"targets": ["r"]}}
                    },
                )
            ]
        ),
        flow(
            [
                node(
                    "r",
                    "conditional",
                    params={
                        "conditional": {"type": "if", "expression": "x", "then": {"targets": ["a"]}}
                    },
                ),
                node("a", "t.text", inputs={"text": "x"}),
            ]
        ),
    ),
    (
        "flow.for-each-body",
        flow([node("l", "for_each", params={"for_each": {"collection": "c", "body": ["ghost"]}})]),
        flow(
            [
                node("l", "for_each", params={"for_each": {"collection": "c", "body": ["a"]}}),
                node("a", "t.text", inputs={"text": "x"}),
            ]
        ),
    ),
]


@pytest.mark.parametrize(("rule", "bad", "good"), FLOW_RULES, ids=[case[0] for case in FLOW_RULES])
def test_flow_rule(
    catalog: AgentCatalog, rule: str, bad: dict[str, Any], good: dict[str, Any]
) -> None:
    result, findings = check(catalog, bad)
    assert result is None and rule in errors(findings), findings
    result, findings = check(catalog, good)
    assert result is not None and findings == [], findings


def test_cycle_message_names_the_path(catalog: AgentCatalog) -> None:
    data = flow(
        [node(n, "t.text") for n in "abc"],
        [("a.result", "b.text"), ("b.result", "c.text"), ("c.result", "a.text")],
    )
    _, findings = check(catalog, data)
    [cycle] = [f for f in findings if f.rule == "flow.cycle"]
    assert "a → b → c → a" in cycle.message and cycle.path == "$.graph.edges[0]"


def test_conditional_targets_count_as_edges_for_cycles(catalog: AgentCatalog) -> None:
    conditional = {"type": "switch", "expression": "x", "branches": {"k": {"targets": ["a"]}}}
    data = flow(
        [TEXT, node("r", "conditional", params={"conditional": conditional})],
        [("a.result", "r.input")],
    )
    assert "flow.cycle" in errors(check(catalog, data)[1])


def test_pinned_node_outputs(catalog: AgentCatalog) -> None:
    data = flow(
        [node("a", "t.text", outputs={"result": "x", "extra": [1]}), node("s", "t.sink")],
        [("a.extra", "s.data")],
    )
    for mode in Mode:
        result, findings = check(catalog, data, mode=mode)
        assert result is not None and warnings(findings) == {"flow.pinned-output-undeclared"}
        assert findings[0].path == "$.graph.nodes[0].outputs.extra"


def test_builtin_pins(catalog: AgentCatalog) -> None:
    loop = node(
        "l", "for_each", params={"for_each": {"collection": "inputs.a.result", "body": ["b"]}}
    )
    data = flow(
        [TEXT, loop, node("b", "t.text", inputs={"text": "y"}), node("c", "ui.console")],
        [("a.result", "l.input"), ("l.output", "c.x"), ("l.output", "c.x"), ("l.nope", "c.y")],
    )
    _, findings = check(catalog, data)
    assert [(f.rule, f.path) for f in findings] == [("flow.edge-pin", "$.graph.edges[3].from")]


def test_run_inputs(catalog: AgentCatalog) -> None:
    data = flow([TEXT, node("p", "ui.prompt")], [("p.question", "a.text")])
    result, findings = check(catalog, data, run_inputs=["p.question"])
    assert result is not None and findings == []
    result, findings = check(catalog, flow([node("a", "t.text")]), run_inputs=["a.text"])
    assert result is not None and findings == []
    _, findings = check(
        catalog, flow([node("a", "t.text")]), run_inputs=["a.text", "a.nope", "zz.text", "bad"]
    )
    assert errors(findings) == {"flow.run-input"} and len(findings) == 3


def test_permissive_mode(catalog: AgentCatalog) -> None:
    data = flow([node("a", "t.text"), node("b", "t.nope")], [("a.result", "ghost.text")])
    result, findings = check(catalog, data, mode=Mode.PERMISSIVE)
    assert result is not None and errors(findings) == set()
    assert warnings(findings) == {"flow.agent-ref", "flow.edge-node", "flow.input-required"}
    data["graph"]["nodes"][0]["id"] = "has space"
    result, findings = check(catalog, data, mode=Mode.PERMISSIVE)
    assert result is None and errors(findings) == {"schema.pattern"}


def test_in_memory_flow_that_is_not_a_mapping(catalog: AgentCatalog) -> None:
    result, findings = check(catalog, [1, 2])  # type: ignore[arg-type]
    assert result is None and errors(findings) == {"load.not-mapping"}


def test_for_each_body_entry_inputs_receive_the_item_so_are_not_required(tmp_path: Path) -> None:
    agents = tmp_path / "agents" / "needy"
    agents.mkdir(parents=True)
    (agents / "manifest.yaml").write_text(
        "apiVersion: mentatlab.io/v1\nkind: Agent\nid: t.needy\nversion: 1.0.0\n"
        "description: d\ncommand: [python, main.py]\n"
        "inputs: [{name: text, type: string}]\noutputs: [{name: out, type: string}]\n"
    )
    (agents / "main.py").write_text("")
    flow_file = tmp_path / "loop.flow.yaml"
    flow_file.write_text(
        "apiVersion: v1\nkind: Flow\nmeta: {id: f, name: f}\ngraph:\n  nodes:\n"
        "    - {id: src, type: ui.prompt, outputs: {items: [a]}}\n"
        "    - {id: loop, type: for_each, params: {for_each: {collection: inputs.src.items,"
        " body: [first, second]}}}\n"
        "    - {id: first, type: t.needy}\n"
        "    - {id: second, type: t.needy}\n"
        "    - {id: outside, type: t.needy}\n"
        "  edges:\n    - {from: src.items, to: loop.input}\n"
        "    - {from: first.out, to: second.text}\n"
    )
    report = validate_paths([flow_file], agent_dirs=[tmp_path / "agents"])
    required = [f.path for f in report.errors if f.rule == "flow.input-required"]
    assert required == ["$.graph.nodes[4]"]  # only the node outside the loop
