"""mentatlab.summarize: extractive summary, the sentences that best represent a text.

Each sentence becomes a TF-IDF vector (sentences play the role of documents); sentences are
ranked by cosine similarity to the centroid of the whole text, then picked greedily while
skipping near-duplicates of sentences already picked (maximal marginal relevance), and the
picked sentences are returned in their original order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import TypedDict

from mentatlab.sdk import Context, FatalError, agent

STOP_WORDS = frozenset((Path(__file__).parent / "stopwords.txt").read_text("utf-8").split())
# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "fig",
        "no",
        "inc",
        "ltd",
        "co",
        "corp",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
        "approx",
    ]
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]\u201d\u2019]*\s+(?=[\"'(\[\u201c\u2018]*[A-Z0-9])")
_WORD = re.compile(r"[^\W_][\w'-]*")
# A sentence this similar to one already chosen adds little and is skipped.
_REDUNDANT = 0.7

Vector = dict[str, float]


class Outputs(TypedDict):
    summary: str
    indices: list[int]


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``; a period after a known abbreviation or initial does not split."""
    sentences: list[str] = []
    pending = ""
    for piece in _SENTENCE_END.split(" ".join(text.split())):
        pending = f"{pending} {piece}" if pending else piece
        last = pending.rsplit(None, 1)[-1].rstrip(".").lower()
        if pending.endswith(".") and (last in _ABBREVIATIONS or len(last) == 1):
            continue
        sentences.append(pending)
        pending = ""
    if pending:
        sentences.append(pending)
    return sentences


def _terms(sentence: str) -> list[str]:
    words = _WORD.findall(sentence.lower())
    return [w for w in words if w not in STOP_WORDS and not w.isdigit() and len(w) > 1]


def _cosine(a: Vector, b: Vector) -> float:
    dot = sum(weight * b.get(term, 0.0) for term, weight in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def tfidf_vectors(sentences: list[str]) -> list[Vector]:
    counts = [Counter(_terms(s)) for s in sentences]
    document_frequency = Counter(term for count in counts for term in count)
    n = len(sentences)
    # Smoothed IDF (as in scikit-learn), so terms present in every sentence still count a bit.
    idf = {t: math.log((1 + n) / (1 + df)) + 1 for t, df in document_frequency.items()}
    return [{t: tf * idf[t] for t, tf in count.items()} for count in counts]


def select(vectors: list[Vector], k: int) -> list[int]:
    """Indices of up to ``k`` central, mutually non-redundant sentences, in text order."""
    centroid: Vector = {}
    for vector in vectors:
        for term, weight in vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight
    ranked = sorted(range(len(vectors)), key=lambda i: -_cosine(vectors[i], centroid))
    chosen: list[int] = []
    for i in ranked:
        if len(chosen) == k:
            break
        if all(_cosine(vectors[i], vectors[j]) < _REDUNDANT for j in chosen):
            chosen.append(i)
    return sorted(chosen)


@agent
def main(ctx: Context, text: str) -> Outputs:
    count = ctx.param("sentences", 3)
    if count < 1:
        raise FatalError("param sentences must be at least 1", code="invalid_param")
    sentences = split_sentences(text)
    ctx.progress(25, f"{len(sentences)} sentences")
    vectors = tfidf_vectors(sentences)
    ctx.progress(60, "sentences scored")
    chosen = select(vectors, count)
    ctx.progress(100, f"picked {len(chosen)} of {len(sentences)}")
    return {"summary": " ".join(sentences[i] for i in chosen), "indices": chosen}


if __name__ == "__main__":
    main.run()
