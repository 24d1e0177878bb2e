"""The survey questions and forgiving parsing of a 1-5 answer sent by text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from contact_store.i18n import N_, translator
from contact_store.settings import Settings


@dataclass(frozen=True)
class Question:
    field: str  # SurveyResponse column
    text: str
    kind: str  # score | comment
    short: str  # column heading in results and exports


FIELDS = (
    ("score_time", "score", "Time to answer"),
    ("score_resolve", "score", "Ability to resolve"),
    ("score_overall", "score", "Overall service"),
    ("comment", "comment", "Comment"),
)
SCORE_FIELDS = tuple(f for f, kind, _ in FIELDS if kind == "score")
SCORE_LABELS = {
    1: N_("Very dissatisfied"),
    2: N_("Dissatisfied"),
    3: N_("Neither"),
    4: N_("Satisfied"),
    5: N_("Very satisfied"),
}


def questions(settings: Settings, language: str = "en") -> list[Question]:
    """The questions in order, with their configured wording in `language` (a wording the catalogue
    does not know stays as configured)."""
    _ = translator(language)
    return [
        Question(field=f, text=_(text), kind=kind, short=short)
        for (f, kind, short), text in zip(FIELDS, settings.survey_questions, strict=True)
    ]


def score_labels(language: str = "en") -> dict[int, str]:
    """The 1-5 scale's words in `language`."""
    _ = translator(language)
    return {score: _(label) for score, label in SCORE_LABELS.items()}


# Numbers in words, English and Welsh (un, dau, tri, pedwar, pump).
_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "un": "1",
    "dau": "2",
    "tri": "3",
    "pedwar": "4",
    "pump": "5",
}
# Words allowed around a score ("I'd give it 4 stars", "4 out of 5"): anything else means the text
# is not just a score ("waited 5 hours" must not become a 5).
_FILLER = {
    "star",
    "stars",
    "point",
    "points",
    "out",
    "of",
    "i",
    "id",
    "give",
    "gave",
    "it",
    "a",
    "score",
    "rating",
    "would",
    "say",
    "maybe",
    "about",
    "its",
    "is",
    "my",
    "answer",
    "mark",
    "solid",
    "x",
}


def parse_score(text: str) -> int | None:
    """A 1-5 score from a text such as "5", "5 stars", "five", "Five!", "4/5"; None if unclear."""
    t = text.lower().strip()
    if not t or len(t) > 60:
        return None
    t = re.sub(r"(\d)\s*(?:/|out\s+of)\s*5\b", r"\1", t)  # "4/5", "4 out of 5" -> "4"
    t = re.sub(r"[a-z]+", lambda m: _WORDS.get(m.group(0), m.group(0)), t)
    t = t.replace("'", "")
    tokens = re.findall(r"[a-z]+|\d+", t)
    numbers = [tok for tok in tokens if tok.isdigit()]
    words = [tok for tok in tokens if not tok.isdigit()]
    if len(set(numbers)) != 1 or any(w not in _FILLER for w in words):
        return None
    value = int(numbers[0])
    return value if 1 <= value <= 5 else None


# English, and Welsh ("dim" nothing, "dim sylw" no comment, "dim diolch" no thanks).
SKIP_WORDS = {
    "skip",
    "no",
    "none",
    "nothing",
    "n/a",
    "na",
    "no comment",
    "no thanks",
    "-",
    "dim",
    "dim sylw",
    "dim sylwadau",
    "dim diolch",
}


def parse_comment(text: str) -> str | None:
    """The free-text answer; "skip"/"no" mean no comment (None)."""
    t = text.strip()
    if t.lower().strip(".! ") in SKIP_WORDS:
        return None
    return t[:2000] or None
