"""mentatlab.keywords on real text, through the local driver."""

from __future__ import annotations

from pathlib import Path

from mentatlab.model.protocol import MetricEvent
from mentatlab.testing import pin_mismatches
from mentatlab.testing.plugin import CogPakRunner

# The abstract used as the worked example in the RAKE paper (Rose et al., 2010).
ABSTRACT = (
    "Compatibility of systems of linear constraints over the set of natural numbers. "
    "Criteria of compatibility of a system of linear Diophantine equations, strict "
    "inequations, and nonstrict inequations are considered. Upper bounds for components of a "
    "minimal set of solutions and algorithms of construction of minimal generating sets of "
    "solutions for all types of systems are given. These criteria and the corresponding "
    "algorithms for constructing a minimal supporting set of solutions can be used in solving "
    "all the considered types of systems and systems of mixed types."
)


def test_pins_in_code_match_the_manifest() -> None:
    assert pin_mismatches(Path(__file__).parents[1]) == []


def test_reproduces_the_rake_paper_ranking(run_cogpak: CogPakRunner) -> None:
    run = run_cogpak(inputs={"text": ABSTRACT}, params={"top_k": 6}).assert_succeeded()
    assert run.outputs["keywords"] == [
        "minimal generating sets",
        "linear diophantine equations",
        "minimal supporting set",
        "minimal set",
        "linear constraints",
        "natural numbers",
    ]
    assert run.outputs["scored"][0] == {"keyword": "minimal generating sets", "score": 8.6667}
    assert run.of_type(MetricEvent)[0].value == 6


def test_max_words_drops_longer_candidates(run_cogpak: CogPakRunner) -> None:
    text = (
        "Kubernetes operators reconcile custom resources. The operator watches FlowRun "
        "objects and creates pods for each node of the flow graph."
    )
    short = run_cogpak(inputs={"text": text}, params={"max_words": 2}).assert_succeeded()
    assert short.outputs["keywords"] == ["creates pods", "flow graph", "node"]
    long = run_cogpak(inputs={"text": text}, params={"max_words": 5}).assert_succeeded()
    assert long.outputs["keywords"][:2] == [
        "kubernetes operators reconcile custom resources",
        "operator watches flowrun objects",
    ]


def test_text_without_content_words_gives_no_keywords(run_cogpak: CogPakRunner) -> None:
    run = run_cogpak(inputs={"text": "It is what it is, and so on."}).assert_succeeded()
    assert run.outputs == {"keywords": [], "scored": []}


def test_bad_params_and_inputs_fail_without_retry(run_cogpak: CogPakRunner) -> None:
    zero = run_cogpak(inputs={"text": "x"}, params={"top_k": 0})
    assert zero.error is not None
    assert (zero.error.code, zero.error.retryable) == ("invalid_param", False)
    missing = run_cogpak(inputs={})
    assert missing.error is not None
    assert missing.error.code == "missing_input"
