"""What kind of answer a question asks for, and whether a piece of text holds one.

"How many" wants a figure, "when" a date, "who", "where" or "which" a name the question
does not already say.  Both the second-stage ranker and the confidence model
use it: a passage about the right thing that holds no answer of the asked kind
is less likely to answer the question.
"""

from __future__ import annotations

import re

MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|millions?"
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much)\b|\bwhat (number|percentage|fraction|proportion|share|amount)\b|\bdeath toll\b", re.I
)
_ASKS_DATE = re.compile(r"^\s*when\b|\b(what|which) (date|year|day|month|time)\b|\bon what date\b", re.I)
_ASKS_NAME = re.compile(r"^\s*(who|whom|whose|where)\b|\bwhich\b|\bwhat (is |was )?(the )?names?\b", re.I)
_DIGITS = re.compile(r"\d[\d,.]*")
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I)
_HAS_DATE = re.compile(rf"\b({MONTHS}|{_DAYS}|(1[89]|20)\d\d|yesterday|today|last (week|month|year))\b")
_CAPITALISED = re.compile(r"(?<=[\s(“\"'‘])[A-Z][\w’'-]+")
_WORD = re.compile(r"[\w’'-]+")


def _bare(word: str) -> str:
    return word.lower().strip("’'s")


def answer_type_present(question: str, sentences: list[str]) -> float:
    """1 when some sentence holds an answer of the kind the question asks for (or it asks for no kind)."""
    text = " ".join(sentences)
    if _ASKS_NUMBER.search(question):
        asked = set(_DIGITS.findall(question))
        return float(any(n not in asked for n in _DIGITS.findall(text)) or bool(_HAS_NUMBER.search(text)))
    if _ASKS_DATE.search(question):
        return float(bool(_HAS_DATE.search(text)))
    if _ASKS_NAME.search(question):
        known = {_bare(w) for w in _WORD.findall(question)}
        return float(any(_bare(w) not in known for w in _CAPITALISED.findall(" " + text)))
    return 1.0
