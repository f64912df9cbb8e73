"""Find where the passages of one answer state different figures for the same thing.

When a question asking for a count ("how many…", "what was the death toll…") is answered
by sentences from different outlets, or by one outlet quoting different
sources, that give different figures, the reader should see them side by side
rather than the first one alone.  Each figure keeps its outlet and, when the
sentence attributes it ("according to local monitoring groups", "State media
… gave"), whom it is attributed to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.answer_type import MONTHS
from qa.index import tokenize

_FIGURE = re.compile(
    r"(?<![\w.,-])(?:(?P<qualifier>about|around|nearly|almost|at least|more than|over|some|up to|roughly|"
    r"approximately|fewer than|less than|as many as)\s+)?(?P<number>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\w,.]\d)"
    r"(?:\s(?P<scale>thousand|million|billion|mn|bn)\b)?"
    r"(?!\s*(?:%|percent|km|miles|years?\b|am\b|pm\b))",
    re.I,
)
_SCALE = {"thousand": 1_000, "million": 1_000_000, "mn": 1_000_000, "billion": 1_000_000_000, "bn": 1_000_000_000}
_DATE_BEFORE = re.compile(rf"(?:{MONTHS}|\bin|\bsince|\buntil|\bby)\s*$", re.I)
_COUNTED = re.compile(
    r"\bhow (?:many|much)\s+(?P<what>(?:[\w'’-]+\s+){0,3}?[\w'’-]+)\s+"
    r"(?:did|do|does|were|was|are|is|have|has|had|will|would|could|can)\b",
    re.I,
)
_NEXT_WORD = re.compile(r"\s*(?:(?:to|or|and)\s+[\d,.]+\s*)?(?P<word>[A-Za-z][\w'’-]*)")
_ACCORDING = re.compile(r"according to (?P<who>[^,.;:]+)", re.I)
_SAID = re.compile(
    r"^(?P<who>(?:the\s)?[A-Z][\w'’-]*(?:\s[\w'’-]+){0,4}?)\s(?:has\s|have\s|had\s)?"
    r"(?:said|says|reported|confirmed|gave|estimated|put)\b"
)


@dataclass(frozen=True)
class Claim:
    """One figure as a passage states it."""

    passage: int  # 0-based position in `Answer.passages`
    figure: str  # as written, with its qualifier: "at least 120"
    value: int
    source: str | None  # the passage's outlet
    attributed_to: str | None  # whom the sentence attributes the figure to
    start: int  # document offsets of the sentence that states it
    end: int


@dataclass(frozen=True)
class Disagreement:
    """Different figures for what the question asks, each with where it comes from."""

    claims: list[Claim]

    def values(self) -> list[int]:
        return sorted({c.value for c in self.claims})


def counted_terms(question: str) -> set[str]:
    """Stemmed words of what a "how many" question counts ("additional US troops"), empty when it names nothing."""
    m = _COUNTED.search(question)
    return set(tokenize([m.group("what")])[0]) if m else set()


def counts_something_else(sentence: str, end: int, counted: frozenset[str] | set[str]) -> bool:
    """Whether the figure ending at ``end`` is followed by a noun the question does not count.

    "8,000 to 11,000 fighters" is no answer to "how many troops"; a figure
    followed by a verb ("120 killed") or nothing is given the benefit of the doubt.
    """
    m = _NEXT_WORD.match(sentence, end)
    if not counted or not m or m.group("word").lower().endswith(("ed", "ing")):
        return False
    word = tokenize([m.group("word")])[0]
    return bool(word) and not set(word) & counted


def _figure_match(sentence: str) -> tuple[re.Match, int] | None:
    """Where the first count of a sentence stands, and its value."""
    for m in _FIGURE.finditer(sentence):
        value = round(float(m.group("number").replace(",", "")) * _SCALE.get((m.group("scale") or "").lower(), 1))
        if _DATE_BEFORE.search(sentence[: m.start()]) or 1900 <= value <= 2100 and not m.group("qualifier"):
            continue
        return m, value
    return None


def first_figure(sentence: str) -> tuple[str, int] | None:
    """The first count in a sentence with its qualifier, skipping dates and years."""
    found = _figure_match(sentence)
    return (found[0].group(0), found[1]) if found else None


def attribution(sentence: str) -> str | None:
    """Whom a sentence attributes its statement to, if it says."""
    if m := _ACCORDING.search(sentence):
        return m.group("who").strip()
    if m := _SAID.match(sentence.strip()):
        return m.group("who").strip()
    return None


def find_disagreement(
    counted: frozenset[str] | set[str], statements: list[tuple[int, str | None, int, int, str]]
) -> Disagreement | None:
    """A `Disagreement` among ``(passage, source, start, end, sentence)`` statements, or None.

    The statements are the sentences of an answer's passages that best match
    a question asking for a count (the caller checks its kind); ``counted``:
    what it counts (`counted_terms`), so figures of other things are left out.
    There is a disagreement when at least two different figures remain.
    """
    claims = []
    for passage, source, start, end, sentence in statements:
        if found := _figure_match(sentence):
            match, value = found
            if counts_something_else(sentence, match.end(), counted):
                continue
            claims.append(Claim(passage, match.group(0), value, source, attribution(sentence), start, end))
    if len({c.value for c in claims}) < 2:
        return None
    return Disagreement(claims)
