"""Find where the passages of one answer state different figures, or name different actors, for the same thing.

When a question asking for a count ("how many…", "what was the death toll…") is answered
by sentences from different outlets, or by one outlet quoting different
sources, that give different figures, the reader should see them side by side
rather than the first one alone.  Each figure keeps its outlet and, when the
sentence attributes it ("according to local monitoring groups", "State media
… gave"), whom it is attributed to.

Names work the same way: when a question asks who did something ("Who
carried out the bombings?") and sentences of different outlets name
different actors for it (`qa.actors`: the same role of the same act) that
are not one another (no word in common, and far apart in meaning for the
embedding model, so that "ISIS" and "Islamic State" count as one), they are
shown side by side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.answer_type import MONTHS
from qa.stores.lexical import tokenize

QUALIFIERS = (  # words before a figure that say it is not exact: part of the figure as shown
    "about|around|nearly|almost|at least|at most|more than|over|some|up to|roughly|approximately|fewer than|"
    "less than|as many as|as few as|an estimated|estimated"
)
_FIGURE = re.compile(
    rf"(?<![\w.,-])(?:(?P<qualifier>{QUALIFIERS})\s+)?(?P<number>\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)(?!\d)(?![\w,.]\d)"
    r"(?:\s(?P<scale>thousand|million|billion|mn|bn)\b)?"
    r"(?!\s*(?:%|percent|km|miles|years?\b|am\b|pm\b))",
    re.I,
)
_SCALE = {"thousand": 1_000, "million": 1_000_000, "mn": 1_000_000, "billion": 1_000_000_000, "bn": 1_000_000_000}
_DATE_BEFORE = re.compile(rf"(?:{MONTHS}|\bin|\bsince|\buntil|\bby)\s*$", re.I)
# Not a count: a day before its month ("17 October"), an ordinal ("17th"), an age ("17-year-old", "aged 17"), a page
_NOT_A_COUNT_AFTER = re.compile(rf"^(?:\s*(?:of\s+)?(?:{MONTHS})\b|(?:st|nd|rd|th)\b|-year)", re.I)
_NOT_A_COUNT_BEFORE = re.compile(r"(?:\baged?|\bpages?|\bpp?\.)\s*$", re.I)
_COUNTED = re.compile(
    r"\bhow (?:many|much)\s+(?P<what>(?:[\w'’-]+\s+){0,3}?[\w'’-]+)\s+"
    r"(?:did|do|does|were|was|are|is|have|has|had|will|would|could|can)\b",
    re.I,
)
_NEXT_WORD = re.compile(r"\s*(?:(?:to|or|and)\s+[\d,.]+\s*)?(?P<word>[A-Za-z][\w'’-]*)")
MEASURES = {
    "killed": frozenset("killed kill kills killing dead death deaths died die dies toll fatalities lives".split()),
    "wounded": frozenset("wounded wounding wounds injured injuring injures injuries injury hurt".split()),
}
NEAR = 4  # words either side of a figure that may say what it counts
_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_PLACES = re.compile(
    r"\b(?:in|at|near|of|across|from)\s+(?:the\s+)?(?:[a-z]+\s+){0,2}?"
    r"(?P<names>[A-Z][\w'’-]+(?:(?:,\s*|\s+and\s+)[A-Z][\w'’-]+)*)"
)
_ACCORDING = re.compile(r"according to (?P<who>[^,.;:]+)", re.I)
_SAID = re.compile(
    r"^(?P<who>(?:the\s)?[A-Z][\w'’-]*(?:\s[\w'’-]+){0,4}?)\s(?:has\s|have\s|had\s)?"
    r"(?:said|says|reported|confirmed|gave|estimated|put)\b"
)

_CLAIMED_THAT = re.compile(  # "… and the Foreign Ministry claimed that …", anywhere in the sentence
    r"(?<![\w'’-])(?P<who>(?:the\s)?[A-Z][\w'’-]*(?:\s[\w'’-]+){0,3}?)\s"
    r"(?:has\s|have\s|had\s)?(?:said|says|claimed|claims|alleged|alleges|insisted|insists)\s+that\b"
)


@dataclass(frozen=True)
class Claim:
    """One figure, or one name, as a passage states it."""

    passage: int  # 0-based position in `Answer.passages`
    figure: str  # as written: a figure with its qualifier ("at least 120"), or a name ("Ahrar al-Sham")
    value: int | None  # the figure's value; None for a name
    source: str | None  # the passage's outlet
    attributed_to: str | None  # whom the sentence attributes the figure to
    start: int  # document offsets of the sentence that states it
    end: int


@dataclass(frozen=True)
class Statement:
    """A sentence of an answer's passage that states a figure, and how close in meaning it is to the question."""

    passage: int  # 0-based position in `Answer.passages`
    source: str | None
    start: int  # document offsets of the sentence
    end: int
    text: str
    similarity: float = 1.0
    attribution: str | None = None  # whom its sentence attributes it to (`attribution`), when known
    doc_id: str = ""  # the document it is in: one document and outlet never disagrees with itself
    answer: tuple[int, int] | None = None  # where in ``text`` the reader marks its passage's answer, when it read it


@dataclass(frozen=True)
class Disagreement:
    """Different figures (or names) for what the question asks, each with where it comes from."""

    claims: list[Claim]
    kind: Literal["figure", "name"] = "figure"

    def values(self) -> list[int]:
        return sorted({c.value for c in self.claims if c.value is not None})

    def names(self) -> list[str]:
        return [c.figure for c in self.claims] if self.kind == "name" else []


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


def figures(sentence: str) -> Iterator[tuple[re.Match, int]]:
    """Where each count of a sentence stands, and its value, skipping dates, years, ordinals, ages and pages."""
    for m in _FIGURE.finditer(sentence):
        value = round(float(m.group("number").replace(",", "")) * _SCALE.get((m.group("scale") or "").lower(), 1))
        before = sentence[: m.start()]
        if _DATE_BEFORE.search(before) or 1900 <= value <= 2100 and not m.group("qualifier"):
            continue
        if not_a_count(sentence, m.start(), m.end()):
            continue
        yield m, value


def not_a_count(sentence: str, start: int, end: int) -> bool:
    """Whether the number at ``sentence[start:end]`` is a day before its month ("17 October"), an ordinal ("17th"),
    an age ("17-year-old", "aged 17") or a page number: part of something else, not a count."""
    return bool(_NOT_A_COUNT_AFTER.match(sentence[end:]) or _NOT_A_COUNT_BEFORE.search(sentence[:start]))


def _figure_match(sentence: str) -> tuple[re.Match, int] | None:
    """Where the first count of a sentence stands, and its value."""
    return next(figures(sentence), None)


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
    if m := _CLAIMED_THAT.search(sentence):
        return m.group("who").strip()
    return None


def find_disagreement(
    statements: list[Statement],
    *,
    counted: frozenset[str] | set[str] = frozenset(),
    measure: str | None = None,
    margin: float = float("inf"),
    places: frozenset[str] = frozenset(),
    accepts: Callable[[Statement, int, int], bool] | None = None,
) -> Disagreement | None:
    """A `Disagreement` among the sentences of an answer's passages that state figures, or None.

    Only like is compared with like:

    - ``measure`` (`question_measure`: "killed", "wounded"): each sentence's
      figure is the one that counts that (in "35 killed, with 48 wounded" the
      35 for "killed", the 48 for "wounded"); a sentence without one is left out.
      Otherwise its first figure, unless it counts a noun other than ``counted``
      (`counted_terms`: "fighters" are not "troops").
    - The same event: a figure for a part of what another figure counts as a
      whole ("35 … in the Tartus bombing" beside "in Jableh and Tartous,
      killing about 150") is not a rival figure; it is left out.  When the
      question is about one of ``places`` (`asked_places`) that some sentences
      name, the figures for that place alone are compared, and the totals
      over several places are left out instead.
    - Of the rest, only sentences within ``margin`` of the one closest in
      meaning to the question.
    - Where a reader read the passage (`Statement.answer`), only the figure
      its span holds; ``accepts(statement, start, end)``: whether the figure
      at ``start:end`` of the statement's text may be a claim (the engine
      passes the checks a bold answer must pass, `qa.answer_checks`).

    There is a disagreement when two different figures remain from different sources: another document or
    another outlet (a roundup's pieces are outlets of their own), never a passage or a source against itself.
    """
    claims: list[tuple[Claim, Statement]] = []
    for st in statements:
        if found := _figure_for(st.text, counted, measure):
            match, value = found
            if st.answer is not None and not (match.start() < st.answer[1] and st.answer[0] < match.end()):
                continue  # the reader answers the question with another part of the sentence
            if accepts is not None and not accepts(st, match.start(), match.end()):
                continue
            claim = Claim(st.passage, match.group(0), value, st.source, attribution(st.text), st.start, st.end)
            claims.append((claim, st))
    whole = _like_with_like(claims, places)
    if not whole:
        return None
    best = max(st.similarity for _, st in whole)
    kept = [(c, st) for c, st in whole if st.similarity >= best - margin]
    rivals = ((a, sa, b, sb) for n, (a, sa) in enumerate(kept) for b, sb in kept[n + 1 :])
    if not any(a.value != b.value and (sa.doc_id, a.source) != (sb.doc_id, b.source) for a, sa, b, sb in rivals):
        return None
    return Disagreement([c for c, _ in kept])


def _like_with_like(claims: list[tuple[Claim, Statement]], places: frozenset[str]) -> list[tuple[Claim, Statement]]:
    """The claims about the same thing: when the question names a place they name, those about the asked places
    alone (and those naming no place, when it asks about several together: none when no figure is for the place
    alone); else those that are not a part of another's."""
    lists = [place_lists(st.text) for _, st in claims]
    if any(names & places for found in lists for names in found):  # the question is about a place they name:
        about = [n for n, found in enumerate(lists) if found and all(names <= places for names in found)]
        together = any(len(names) > 1 for n in about for names in lists[n])  # several places, as asked
        return [pair for n, pair in enumerate(claims) if n in about or together and not lists[n]]
    return [
        pair
        for n, pair in enumerate(claims)
        if not any(a < b for a in lists[n] for m, other in enumerate(lists) if m != n for b in other)
    ]


def asked_places(question: str) -> frozenset[str]:
    """The outlines (`place_outline`) of the names a question says, any of which may be a place it asks about."""
    rest = question.split(None, 1)[1:]  # the first word is capitalised as the question's start
    return frozenset(place_outline(w) for w in _CAPITALISED.findall(rest[0] if rest else ""))


def _figure_for(sentence: str, counted, measure: str | None) -> tuple[re.Match, int] | None:
    """The figure of ``sentence`` that counts what the question asks about (see `find_disagreement`)."""
    for match, value in figures(sentence):
        if measure is not None:
            if figure_measure(sentence, match.start(), match.end()) == measure:
                return match, value
        elif not counts_something_else(sentence, match.end(), counted):
            return match, value
        else:
            return None  # the first figure counts something else: the sentence is about other things
    return None


def question_measure(question: str) -> str | None:
    """What a count question counts when it asks about casualties: "killed" or "wounded", whichever it names
    first ("How many were injured in the bombing that killed the governor?": wounded); None otherwise."""
    for word in _WORD.findall(question):
        for measure, forms in MEASURES.items():
            if word.lower() in forms:
                return measure
    return None


def figure_measure(sentence: str, start: int, end: int) -> str | None:
    """Whether the figure at ``sentence[start:end]`` counts the killed or the wounded: the nearest such word within
    a few words either side ("killing about 150", "48 wounded", "a death toll of 78"); None when neither is near."""
    before = _WORD.findall(sentence[:start])[-NEAR:][::-1]
    after = _WORD.findall(sentence[end:])[:NEAR]
    for distance in range(NEAR):
        for side in (after, before):
            if distance < len(side):
                for measure, forms in MEASURES.items():
                    if side[distance].lower() in forms:
                        return measure
    return None


def place_lists(sentence: str) -> list[frozenset[str]]:
    """Each list of places the sentence names together ("in the Tartus bombing", "cities of Jableh and Tartous"),
    each place as its consonant outline so that spellings compare ("Tartus" and "Tartous": ``trts``).

    A figure counts a part of another's event when one of its lists is a
    strict subset of one of the other's ("in Tartus" beside "in Jableh and
    Tartous"), not merely when its sentence names fewer places in all.
    """
    return [
        frozenset(place_outline(name) for name in re.split(r",\s*|\s+and\s+", m.group("names")))
        for m in _PLACES.finditer(sentence)
    ]


def place_outline(name: str) -> str:
    """A name's consonant outline, so that spellings compare ("Tartus" and "Tartous": ``trts``)."""
    name = re.sub(r"['’]s$", "", name.lower())
    return name[:1] + re.sub(r"[aeiouy\W_]", "", name[1:])

# --- names -------------------------------------------------------------------------------------

_ASKS_WHO = re.compile(
    r"^\s*(?:who|whom|whose)\b|\bby whom\b|\b(?:which|what)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:group|organi[sz]ation|faction|militia|movement|party|person|people|man|woman|leader|country|government"
    r"|state|nation|army|force|rebel|militant|fighter|official|minister|president|spokes(?:man|woman|person)"
    r"|commander|agency|journalist|reporter|company)s?\b",
    re.I,
)
_IDENTITY = re.compile(r"^\s*(?i:who\s+(?:is|was|are|were))\s+(?:the\s+)?[A-Z]")  # "Who was Zahran Alloush?" asks what
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")
_NOT_NAMES = frozenset(
    "a an the this that these those he she it they we i you his her its their our my your mr mrs ms dr".split()
)
DISTINCT = 0.45  # names whose embeddings are less similar than this are different people or groups


def asks_who(question: str) -> bool:
    """Whether ``question`` asks who (which group, person, country…) did something, not who someone is."""
    return bool(_ASKS_WHO.search(question)) and not _IDENTITY.search(question)


def name_words(span: str, question: str) -> frozenset[str]:
    """The capitalised words of an answer that the question does not say (lower-cased): empty if it names nobody.

    Pronouns and determiners ("He", "The") name nobody, wherever they stand.
    """
    asked = {w.lower() for w in _WORD.findall(question)}
    words = (w.lower() for w in _CAPITALISED.findall(span))
    return frozenset(w for w in words if w not in asked and w not in _NOT_NAMES)


def find_name_disagreement(
    answers: list[Statement], question: str, similarity: Callable[[list[str]], np.ndarray], distinct: float = DISTINCT
) -> Disagreement | None:
    """Different names that passages of different outlets give as the answer, or None.

    ``answers``: each name a sentence gives (`Statement.text`, with the
    document offsets of its sentence); ``similarity``: the cosine matrix of
    some names.  A name joins the first group one of whose names it shares a
    word with or is not clearly distinct from (cosine ``distinct`` or more);
    there is a disagreement when at least two groups remain and they are
    named by different outlets.  An answer without an outlet is left out.
    """
    named = [(a, words) for a in answers if a.source and (words := name_words(a.text, question))]
    if len(named) < 2:
        return None
    sims = similarity([a.text for a, _ in named])
    groups: list[list[int]] = []
    for i, (_, words) in enumerate(named):
        for group in groups:
            if any(words & named[j][1] or sims[i, j] >= distinct for j in group):
                group.append(i)
                break
        else:
            groups.append([i])
    outlets = [{named[i][0].source for i in group} for group in groups]
    if len(groups) < 2 or not any(a != b for n, a in enumerate(outlets) for b in outlets[n + 1 :]):
        return None
    claims = []
    for group in groups:
        a = named[group[0]][0]
        claims.append(Claim(a.passage, " ".join(a.text.split()), None, a.source, a.attribution, a.start, a.end))
    return Disagreement(claims, kind="name")
