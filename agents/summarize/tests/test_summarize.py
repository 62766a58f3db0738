"""mentatlab.summarize on real text, through the local driver."""

from __future__ import annotations

import sys
from pathlib import Path

from mentatlab.testing import pin_mismatches
from mentatlab.testing.plugin import CogPakRunner

APOLLO = (
    "The Apollo 11 mission landed the first humans on the Moon on July 20, 1969. "
    "Commander Neil Armstrong and lunar module pilot Buzz Aldrin landed the Apollo Lunar "
    "Module Eagle in the Sea of Tranquility. Armstrong became the first person to step onto "
    "the lunar surface six hours later. Aldrin joined him about 20 minutes later. They spent "
    "about two and a quarter hours together outside the spacecraft and collected 47.5 pounds "
    "of lunar material to bring back to Earth. Michael Collins piloted the command module "
    "Columbia alone in lunar orbit while they were on the Moon's surface. The weather in "
    "Houston that day was hot. Dr. Smith, a local dentist, said he watched the landing on "
    "T.V. with his family. Armstrong and Aldrin spent 21.5 hours on the lunar surface before "
    "rejoining Columbia in lunar orbit."
)


def test_pins_in_code_match_the_manifest() -> None:
    assert pin_mismatches(Path(__file__).parents[1]) == []


def test_picks_central_sentences_in_text_order(run_cogpak: CogPakRunner) -> None:
    run = run_cogpak(inputs={"text": APOLLO}).assert_succeeded()
    assert run.outputs["indices"] == [1, 2, 8]
    summary = run.outputs["summary"]
    assert summary.startswith("Commander Neil Armstrong")
    assert "weather in Houston" not in summary
    assert run.progress == [25, 60, 100]


def test_sentence_splitting_respects_abbreviations_and_decimals() -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    try:
        from main import split_sentences  # the agent's own module
    finally:
        sys.path.pop(0)
    sentences = split_sentences(APOLLO)
    assert len(sentences) == 9
    assert sentences[7] == (
        "Dr. Smith, a local dentist, said he watched the landing on T.V. with his family."
    )
    assert "47.5 pounds" in sentences[4]


def test_near_duplicate_sentences_are_not_both_picked(run_cogpak: CogPakRunner) -> None:
    text = (
        "The scheduler retries failed nodes with exponential backoff. "
        "The scheduler retries failed nodes with an exponential backoff. "
        "Flows are directed graphs of agents connected by typed pins. "
        "Run events are stored in an append-only log."
    )
    run = run_cogpak(inputs={"text": text}, params={"sentences": 2}).assert_succeeded()
    assert len(run.outputs["indices"]) == 2
    assert not {0, 1} <= set(run.outputs["indices"])


def test_short_text_is_returned_whole(run_cogpak: CogPakRunner) -> None:
    run = run_cogpak(inputs={"text": "Only one sentence here."}, params={"sentences": 5})
    assert run.assert_succeeded().outputs == {"summary": "Only one sentence here.", "indices": [0]}
