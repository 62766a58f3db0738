"""mentatlab.sentiment: lexicon-based sentiment of English text, with negation handling.

Word valences (-4..+4) come from ``lexicon.tsv``. Rules adapted from VADER (Hutto & Gilbert,
2014): a negator ("not", "never", "n't", ...) within the three preceding words flips and damps
a valence; intensifiers ("very") and dampeners ("slightly") scale it; after "but" the clause
counts more than before it; exclamation marks and ALL-CAPS add emphasis. The sum is squashed
into a ``score`` in [-1, 1]: ``x / sqrt(x² + 15)``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal, TypedDict

from mentatlab.sdk import Context, agent


def _load_lexicon() -> dict[str, float]:
    lexicon: dict[str, float] = {}
    for line in (Path(__file__).parent / "lexicon.tsv").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            word, valence = line.split("\t")
            lexicon[word] = float(valence)
    return lexicon


LEXICON = _load_lexicon()
NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "nowhere",
        "cannot",
        "without",
        "hardly",
        "barely",
        "scarcely",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "dont",
        "doesnt",
        "didnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "cant",
        "couldnt",
        "aint",
        "hasnt",
        "havent",
        "hadnt",
    ]
)
BOOSTERS = {
    **dict.fromkeys(
        ["very", "really", "extremely", "incredibly", "absolutely", "totally", "truly", "so"], 0.3
    ),
    **dict.fromkeys(["super", "highly", "especially", "most", "utterly", "completely"], 0.3),
    **dict.fromkeys(["slightly", "somewhat", "barely", "kinda", "marginally", "partly"], -0.3),
}
NEGATION_DAMPING = -0.74  # "not good" is less negative than "bad" is (VADER's constant)
NEGATION_WINDOW = 3
BEFORE_BUT, AFTER_BUT = 0.5, 1.5
NEUTRAL_BAND = 0.05
_TOKEN = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)?|[!,;:.?]")
_CLAUSE_END = frozenset(",;:.?")

Label = Literal["positive", "negative", "neutral"]


class Outputs(TypedDict):
    label: str
    score: float


def _normal(token: str) -> str:
    word = token.lower().replace("\u2019", "'")
    return "not" if word.endswith("n't") and word not in LEXICON else word.replace("'", "")


def polarity(text: str) -> float:
    """Sentiment of ``text`` in [-1, 1]."""
    tokens = _TOKEN.findall(text)
    # Punctuation stays in the word list as a clause boundary that negation does not cross.
    words = [t for t in tokens if t != "!"]
    normal = [w if w in _CLAUSE_END else _normal(w) for w in words]
    mixed_case = any(w.islower() for w in words)
    but = normal.index("but") if "but" in normal else None
    total = 0.0
    for i, word in enumerate(normal):
        valence = LEXICON.get(word)
        if valence is None:
            continue
        if words[i].isupper() and len(words[i]) > 1 and mixed_case:
            valence += math.copysign(0.733, valence)  # SHOUTING a sentiment word stresses it
        for back in range(1, NEGATION_WINDOW + 1):
            if i - back < 0:
                break
            previous = normal[i - back]
            if previous in _CLAUSE_END:
                break
            if previous in BOOSTERS:
                # Boosters further away count less (VADER's 0.95 / 0.9 decay).
                scale = (1.0, 0.95, 0.9)[back - 1]
                valence += math.copysign(BOOSTERS[previous] * scale, valence)
            if previous in NEGATORS:
                valence *= NEGATION_DAMPING
                break
        if but is not None:
            valence *= AFTER_BUT if i > but else BEFORE_BUT
        total += valence
    if total:
        total += math.copysign(min(tokens.count("!"), 4) * 0.292, total)
    return total / math.sqrt(total * total + 15)


def label_of(score: float) -> Label:
    if score >= NEUTRAL_BAND:
        return "positive"
    if score <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


@agent
def main(ctx: Context, text: str) -> Outputs:
    score = round(polarity(text), 4)
    return {"label": label_of(score), "score": score}


if __name__ == "__main__":
    main.run()
