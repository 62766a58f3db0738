"""mentatlab.keywords: key phrases of a text, ranked by RAKE (Rapid Automatic Keyword Extraction).

RAKE splits the text into candidate phrases at stop words and punctuation, scores each word
by degree / frequency (words that occur in long phrases and often score high) and each phrase
by the sum of its word scores. Rose et al., "Automatic keyword extraction from individual
documents", 2010.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import TypedDict

from mentatlab.sdk import Context, FatalError, agent

STOP_WORDS = frozenset((Path(__file__).parent / "stopwords.txt").read_text("utf-8").split())
# Phrase boundaries: sentence and clause punctuation, brackets, quotes and dashes.
_BOUNDARY = re.compile(
    r"[.!?,;:()\[\]{}\"\u201c\u201d\u2018\u2019\u00ab\u00bb/\\|]|\s[-\u2013\u2014]+\s|\n"
)
_WORD = re.compile(r"[^\W_][\w'\u2019-]*", re.UNICODE)


class Keyword(TypedDict):
    keyword: str
    score: float


class Outputs(TypedDict):
    keywords: list[str]
    scored: list[Keyword]


def candidate_phrases(text: str, max_words: int) -> list[tuple[str, ...]]:
    """Runs of content words between stop words and punctuation, lower-cased."""
    phrases: list[tuple[str, ...]] = []
    for fragment in _BOUNDARY.split(text):
        current: list[str] = []
        for word in _WORD.findall(fragment.lower().replace("\u2019", "'")):
            if word in STOP_WORDS or word.isdigit() or len(word) < 2:
                phrases.append(tuple(current))
                current = []
            else:
                current.append(word)
        phrases.append(tuple(current))
    return [p for p in phrases if 0 < len(p) <= max_words]


def rake(text: str, top_k: int, max_words: int = 3) -> list[Keyword]:
    """The ``top_k`` best phrases, best first; ties keep the order of first appearance."""
    phrases = candidate_phrases(text, max_words)
    frequency: dict[str, int] = defaultdict(int)
    degree: dict[str, int] = defaultdict(int)
    for phrase in phrases:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    word_score = {word: degree[word] / frequency[word] for word in frequency}
    scores: dict[tuple[str, ...], float] = {}
    for phrase in phrases:  # dicts keep first-appearance order, so ties stay stable
        scores[phrase] = sum(word_score[word] for word in phrase)
    ranked = sorted(scores.items(), key=lambda item: -item[1])[:top_k]
    return [{"keyword": " ".join(phrase), "score": round(score, 4)} for phrase, score in ranked]


@agent
def main(ctx: Context, text: str) -> Outputs:
    top_k = ctx.param("top_k", 10)
    max_words = ctx.param("max_words", 3)
    if top_k < 1 or max_words < 1:
        raise FatalError("params top_k and max_words must be at least 1", code="invalid_param")
    scored = rake(text, top_k, max_words)
    ctx.metric("keywords", len(scored), unit="count")
    return {"keywords": [item["keyword"] for item in scored], "scored": scored}


if __name__ == "__main__":
    main.run()
