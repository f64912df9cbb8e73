"""What kind of answer a question asks for, and whether a piece of text holds one.

One rule for the whole product: "how many", "how long" or "what percentage"
ask for a count, "when" or "what year" for a date, "who", "where" or "which"
for a name the question does not already say.  The second-stage ranker and
the confidence model read it (a passage about the right thing that holds no
answer of the asked kind is less likely to answer), and "sources differ"
compares figures only for questions that ask for a count.
"""

from __future__ import annotations

import re

from qa.evidence import QuestionKind

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|millions?"
_ASKS = (
    (
        "count",
        re.compile(
            r"\bhow (many|much|long|far|old|big|large)\b|\bwhat (number|percentage|fraction|proportion|share|amount)\b"
            r"|\b(death toll|number of|population)\b",
            re.I,
        ),
    ),
    ("date", re.compile(r"^\s*when\b|\b(what|which) (date|year|day|month|time)\b|\bon what date\b", re.I)),
    ("name", re.compile(r"^\s*(who|whom|whose|where)\b|\bwhich\b|\bwhat (is |was )?(the )?names?\b", re.I)),
)
_DIGITS = re.compile(r"\d[\d,.]*")
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I)
_HAS_DATE = re.compile(rf"\b({MONTHS}|{_DAYS}|(1[89]|20)\d\d|yesterday|today|last (week|month|year))\b")
_CAPITALISED = re.compile(r"(?<=[\s(“\"'‘])[A-Z][\w’'-]+")
_WORD = re.compile(r"[\w’'-]+")


def question_kind(question: str) -> QuestionKind:
    """The kind of answer ``question`` asks for; the first that applies of count, date, name, else "other".

    >>> question_kind("How many people were killed?"), question_kind("Which year?"), question_kind("Why?")
    ('count', 'date', 'other')
    """
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return "other"


def _bare(word: str) -> str:
    return word.lower().strip("’'s")


def answer_type_present(kind: QuestionKind, question: str, sentences: list[str]) -> float:
    """1 when some sentence holds an answer of ``kind`` (or the question asks for no kind), else 0.

    A count must be a figure the question does not state itself; a name must
    be a capitalised word the question does not already say.
    """
    text = " ".join(sentences)
    if kind == "count":
        asked = set(_DIGITS.findall(question))
        return float(any(n not in asked for n in _DIGITS.findall(text)) or bool(_HAS_NUMBER.search(text)))
    if kind == "date":
        return float(bool(_HAS_DATE.search(text)))
    if kind == "name":
        known = {_bare(w) for w in _WORD.findall(question)}
        return float(any(_bare(w) not in known for w in _CAPITALISED.findall(" " + text)))
    return 1.0
