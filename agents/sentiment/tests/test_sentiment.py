"""mentatlab.sentiment on real sentences, through the local driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentatlab.testing import pin_mismatches
from mentatlab.testing.plugin import CogPakRunner


def test_pins_in_code_match_the_manifest() -> None:
    assert pin_mismatches(Path(__file__).parents[1]) == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The food was great and the staff were friendly.", "positive"),
        ("This is the worst phone I have ever owned.", "negative"),
        ("The package arrived on Tuesday.", "neutral"),
        ("The food was not great.", "negative"),
        ("It isn't bad at all.", "positive"),
        ("Not very good, honestly.", "negative"),
        ("The hotel was okay, but the service was terrible.", "negative"),
        ("The room was dirty, but the view was absolutely stunning!", "positive"),
        ("The support team never answered, so disappointing.", "negative"),
        ("Unfortunately the battery life is poor.", "negative"),
    ],
)
def test_labels_real_sentences(run_cogpak: CogPakRunner, text: str, label: str) -> None:
    run = run_cogpak(inputs={"text": text}).assert_succeeded()
    assert run.outputs["label"] == label
    score = run.outputs["score"]
    assert -1 <= score <= 1
    assert (score > 0) == (label == "positive") or label == "neutral"


def test_negation_intensity_and_emphasis_move_the_score(run_cogpak: CogPakRunner) -> None:
    def score(text: str) -> float:
        return float(run_cogpak(inputs={"text": text}).assert_succeeded().outputs["score"])

    good = score("The movie was good.")
    assert score("The movie was very good.") > good
    assert score("The movie was GOOD!!!") > good
    assert score("The movie was not good.") < 0 < good
    # Negation damps: "not good" is milder than "bad".
    assert score("The movie was bad.") < score("The movie was not good.")
