"""Whether the reader's exact answer may be shown in bold: checks that need no bigger model.

A bold answer is the product's strongest claim.  The reader's margin says how
sure it is that *some* span answers; these checks catch the spans that are
the wrong *kind* of thing, each for a reason a reader would accept:

- ``own words``: the span says nothing the question does not already say
  ("Tartous" for a question about Tartus);
- ``kind``: it is not what the question asks for (a count, a percentage, a
  sum of money, a date, a length of time, a name);
- ``not a count``: the figure asked for is a date, a year, an age, an
  ordinal or a page number ("17" of "17 October");
- ``measure``: it counts other casualties than asked ("48 wounded" for "how
  many were killed"), casualties when no casualties are asked, or another
  noun than the question counts;
- ``unit``: the question asks "per barrel" or "a day" and the figure has
  no such unit;
- ``several places``: the question is about one place and the figure is for
  several together ("in Jableh and Tartous, killing about 150");
- ``source``: the question asks what a source says ("according to Informed
  Comment") and neither the passage's outlet nor its sentence names it;
- ``length``: the span is longer than a phrase (`MAX_WORDS`);
- ``line``: it runs across a line (a heading and the paragraph after it).

A span that fails one stays the answering sentence's highlight, not bold.
`benchmarks/fit_answer_margin.py` measures each check on SQuAD.
"""

from __future__ import annotations

import re
import typing
from typing import Literal

from qa.actors import parse
from qa.answer_type import MONTHS
from qa.disagreement import (
    QUALIFIERS,
    asked_places,
    figure_measure,
    not_a_count,
    place_lists,
    place_outline,
    question_measure,
)
from qa.models import ModelError
from qa.stores.lexical import tokenize

Check = Literal["own words", "kind", "not a count", "measure", "unit", "several places", "source", "length", "line"]
CHECKS: tuple[Check, ...] = typing.get_args(Check)
MAX_WORDS = 8  # a bold answer is a phrase: a longer span is a sentence, and its highlight says as much
Asked = Literal["percent", "money", "count", "age", "duration", "date", "person", "place", "other"]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred"
    r"|thousand|million|billion|dozens?|hundreds|thousands|millions|billions|half|several|few|many|a couple"
)
_ASKED: tuple[tuple[Asked, re.Pattern], ...] = (
    ("percent", re.compile(r"\bwhat (?:percent(?:age)?|per cent|proportion|fraction|share)\b|\bhow much of\b", re.I)),
    (
        "money",
        re.compile(r"\bhow much (?:money|(?:\w+ )?(?:did|does|do|was|is|were|will) [\w\s]*?(?:cost|pay|paid|worth|"
                   r"earn|spend|spent|sell|sold|raise|raised))\b|\bwhat (?:(?:was|is|were) )?(?:the )?(?:price|cost)\b",
                   re.I),
    ),
    ("age", re.compile(r"\bhow old\b|\bat what age\b", re.I)),
    ("duration", re.compile(r"\bhow long\b|\bfor how many (?:years|months|weeks|days|hours)\b", re.I)),
    ("count", re.compile(r"\bhow many\b|\bwhat (?:is |was )?the (?:number|death toll|population)\b|\bnumber of\b",
                         re.I)),
    (
        "date",
        re.compile(r"^\s*when\b|\b(?:what|which|in what|in which) (?:date|year|day|month|decade|century|era)\b"
                   r"|\bon what date\b", re.I),
    ),
    ("person", re.compile(r"^\s*(?:who|whom|whose)\b|\bby whom\b", re.I)),
    ("place", re.compile(r"^\s*where\b|\bin what (?:city|country|town|state|region)\b", re.I)),
)
_IDENTITY = re.compile(r"^\s*(?i:who\s+(?:is|was|are|were))\s+(?:the\s+)?[A-Z]")  # "Who was Zahran Alloush?"
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
_PERCENT = re.compile(r"%|\bper ?cent\b|\bpercentage points?\b|\b(?:half|third|quarter|fifth|tenth)s?\b", re.I)
_MONEY = re.compile(
    r"[$£€¥]|\b(?:dollars?|pounds?|euros?|yen|yuan|rupees?|francs?|marks|cents?|pence|usd|gbp|eur)\b", re.I
)
_DATE = re.compile(
    rf"\d|\b(?:{MONTHS}|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|spring|summer|autumn|fall|winter"
    r"|centur(?:y|ies)|decades?|years?|yesterday|today|tomorrow|ago|BC|AD|BCE|CE|dynasty|era|age|period|reign"
    r"|war|revolution)\b",
    re.I,
)
_TIME = re.compile(
    r"\d|\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies)|millenni(?:um|a)"
    rf"|lifetime|overnight|{_NUMBER_WORDS})\b",
    re.I,
)
_UNITS = (r"(?P<unit>barrel|day|week|month|year|hour|minute|person|head|capita|tonne|ton|kilo(?:gram)?|litre|liter"
          r"|gallon|mile|kilometre|kilometer|share)s?\b")
_PER = re.compile(r"\b(?:per|a|an|each|every)\s+" + _UNITS, re.I)  # a rate in the text: "$20 a barrel"
_PER_ASKED = re.compile(r"\bper\s+" + _UNITS, re.I)  # a rate a question asks for: "the price per barrel"
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*")
_WORDS = re.compile(r"[\w'’-]+")
_FIGURES = {"DATE", "TIME", "CARDINAL", "MONEY", "PERCENT", "QUANTITY", "ORDINAL"}
_NOUNS = {  # what a "which …" or "the name of the …" question may ask for, and the entities that cannot be one
    "person": (
        "person man woman men women general president spokesman spokeswoman leader commander minister king queen "
        "emperor officer official politician author writer scientist composer artist player coach founder chief "
        "director ruler pope architect poet singer actor actress engineer inventor philosopher journalist reporter "
        "correspondent editor columnist",
        {"GPE", "LOC", "FAC"} | _FIGURES,
    ),
    "place": ("city town village country state province region capital county district island nation continent",
              {"PERSON"} | _FIGURES),
    "facility": ("airbase base airport bridge port harbour harbor building stadium dam road street hospital prison "
                 "mosque church cathedral camp plant factory station palace castle tower museum",
                 {"GPE", "PERSON"} | _FIGURES),
    "group": ("group organisation organization militia company party agency army faction movement team band "
              "university college school newspaper network firm", {"GPE", "LOC", "PERSON"} | _FIGURES),
}
_NOUN_KIND = {noun: kind for kind, (nouns, _) in _NOUNS.items() for noun in nouns.split()}
_NAME_ASKED = re.compile(  # the first lower-case word after "which", "what" or "the name of the" is its noun
    r"\b(?i:which|what)\s+(?:(?:is|was)\s+the\s+names?\s+of\s+(?:the\s+|a\s+|an\s+)?)?"
    r"(?:[A-Z][\w'’-]*\s+)*(?P<noun>[a-z][\w'’-]*)"
)
_NAME_OF = re.compile(r"\bnames?\s+of\b", re.I)
_ACCORDING = re.compile(r"\baccording to (?P<who>(?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)")
_NUMBER_IN = re.compile(  # a figure with its scale ("4 million"), or a count in words
    r"(?:\d[\d,.]*\d|\d)(?:\s(?:thousand|million|billion|trillion|mn|bn)\b)?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?)\b",
    re.I,
)
_MONTH_BEFORE = re.compile(rf"\b(?:{MONTHS})\s*$")
_YEAR = re.compile(r"(?:1[5-9]|20)\d\d")
_YEAR_BEFORE = re.compile(r"\b(?:in|since|until|by|from|of|during|before|after)\s*$", re.I)
_QUALIFIER = re.compile(rf"\b(?:{QUALIFIERS})\s+[$£€¥]?$", re.I)
_NEXT_FIGURE = re.compile(r"[,;:()]|\d|[$£€¥]")
_UNIT_REACH = 40  # characters after a figure in which its unit may stand ("$110 billion a year")


def asked(question: str) -> Asked:
    """What a question asks for, finer than `qa.answer_type.question_kind`: the first that applies.

    >>> asked("How many were killed?"), asked("What percentage voted?"), asked("Who was Zahran Alloush?")
    ('count', 'percent', 'other')
    """
    for kind, pattern in _ASKED:
        if pattern.search(question):
            return "other" if kind == "person" and _IDENTITY.search(question) else kind
    return "other"


def failed_checks(question: str, sentence: str, start: int, end: int, origin: str = "") -> tuple[Check, ...]:
    """The checks the span ``sentence[start:end]`` fails as the answer to ``question`` (empty: it may be bold).

    ``sentence``: the sentence(s) the span lies in, for what stands around it; ``origin``: its passage's outlet and
    title, for a question that asks what a source says ("…, according to Informed Comment?").

    >>> s = "Most of the dead were killed (35) in the Tartus bombing, with 48 wounded."
    >>> failed_checks("How many were killed?", s, 62, 64), failed_checks("How many were killed?", s, 30, 32)
    (('measure',), ())
    """
    span, after = sentence[start:end], sentence[end : end + _UNIT_REACH]
    kind = asked(question)
    failed: list[Check] = []
    if _own_words(question, span):
        failed.append("own words")
    if (named := _ACCORDING.search(question)) and not _says(named.group("who"), origin + " " + sentence):
        failed.append("source")
    if len(span.split()) > MAX_WORDS:
        failed.append("length")
    if "\n" in span.strip():
        failed.append("line")  # across a heading or a paragraph's end: two things, not one answer
    if not _of_kind(kind, question, sentence, start, end):
        failed.append("kind")
    if kind in ("count", "percent", "money"):
        number = _NUMBER_IN.search(sentence, start, end)
        if kind == "count" and number and _not_a_count(sentence, number.start(), number.end()):
            failed.append("not a count")
        if kind == "count" and number and _counts_other(question, sentence, number.start(), number.end()):
            failed.append("measure")
        own = _NEXT_FIGURE.split(after, maxsplit=1)[0]  # what follows the figure, up to the next one or a comma
        if (unit := _PER_ASKED.search(question)) and not _has_unit(unit.group("unit"), span + " " + own):
            failed.append("unit")
        if _for_several_places(question, sentence):
            failed.append("several places")
    return tuple(failed)


def qualified(text: str, start: int, end: int) -> int:
    """Where a figure's span should start so that it keeps its qualifier ("at least 40", not "40": the bold answer
    must not claim more than the text); ``start`` when it has none."""
    if not _NUMBER_IN.match(text, start + (text[start : start + 1] in "$£€¥"), end):
        return start
    found = _QUALIFIER.search(text[max(0, start - 30) : start])
    return start - len(found.group(0)) if found else start


def _own_words(question: str, span: str) -> bool:
    """Whether every word of the span is a word of the question (stemmed, or spelt otherwise: Tartus / Tartous)."""
    words = _WORDS.findall(span)
    *stemmed, asked_stems = tokenize([*words, question])  # one call: each word's stems, then the question's
    content = [(w, set(st)) for w, st in zip(words, stemmed, strict=True) if st or _DIGIT.search(w)]
    if not content:
        return True  # nothing but stop words and punctuation
    outlines = {place_outline(w) for w in _WORDS.findall(question)}
    numbers = set(re.findall(r"\d[\d,.]*", question))
    return all(w in numbers or st and st <= set(asked_stems) or place_outline(w) in outlines for w, st in content)


def _of_kind(kind: Asked, question: str, sentence: str, start: int, end: int) -> bool:
    """Whether the span (with what follows it, for a unit) is an answer of the kind asked."""
    span, after = sentence[start:end], sentence[end : end + _UNIT_REACH]
    if kind == "percent":
        return bool(_NUMBER.search(span)) and bool(_PERCENT.search(span + after[:12]))
    if kind == "money":
        return bool(_NUMBER.search(span)) and bool(_MONEY.search(span + " " + after[:12]))
    if kind in ("count", "age"):
        return bool(_NUMBER.search(span))
    if kind == "duration":
        return bool(_TIME.search(span))
    if kind == "date":
        return bool(_DATE.search(span))
    noun = asked_noun(question)
    if noun and _NAME_OF.search(question):  # "What is the name of the bridge…": a name the question does not say
        known = {place_outline(w) for w in _WORDS.findall(question)}
        if not any(place_outline(w) not in known for w in _CAPITALISED.findall(span)):
            return False
    if kind in ("person", "place") and not re.search(r"[^\W\d_]", span):
        return False  # a bare figure for "who" or "where"
    if noun is None:
        return True
    said = [k for w in _WORDS.findall(span) if w.islower() and (k := _noun_kind(w))]
    if said:  # the span says what it is: "Hmeymim airbase" is no general, "Incirlik airbase" is a base
        return said[0] == noun
    return _entity_fits(noun, sentence, start, end) and not _other_role(question, sentence, start)


def asked_noun(question: str) -> str | None:
    """The kind of thing a "which …" / "what is the name of the …" question asks for ("person", "place",
    "facility", "group"), from its noun ("Which State Department spokesman…": person); None for other nouns."""
    m = _NAME_ASKED.search(question)
    if not m:
        return None
    return _noun_kind(m.group("noun").lower())


def _noun_kind(word: str) -> str | None:
    """The kind of thing a lower-case noun names, singular or plural ("generals": person), if it is one of `_NOUNS`."""
    return _NOUN_KIND.get(word) or _NOUN_KIND.get(word.rstrip("s"))


def _entity_fits(noun: str, sentence: str, start: int, end: int) -> bool:
    """Whether the first entity the parser finds in the span can be of the kind asked: not a city for a person,
    nor a date for anything (True when it finds none, or cannot be loaded: the check then says nothing)."""
    try:
        doc = parse([sentence])[0]
    except ModelError:
        return True
    labels = [e.label_ for e in doc.ents if e.start_char < end and start < e.end_char]
    return not labels or labels[0] not in _NOUNS[noun][1]  # the span's first name says what it names


def _says(who: str, text: str) -> bool:
    """Whether ``text`` names ``who`` (every capitalised word of it, in any spelling)."""
    named = {place_outline(w) for w in _CAPITALISED.findall(who)}
    return named <= {place_outline(w) for w in _WORDS.findall(text)}


def _other_role(question: str, sentence: str, start: int) -> bool:
    """Whether a person's name stands right after a role the question does not ask for ("spokesman Mark Toner"
    for "Which journalists…")."""
    before = [w.lower() for w in _WORDS.findall(sentence[:start])[-2:]]
    asked_roles = {w.lower().rstrip("s") for w in _WORDS.findall(question)}
    roles = [w for w in before if _noun_kind(w) == "person"]
    return bool(roles) and not any(w.rstrip("s") in asked_roles for w in roles)


def _not_a_count(sentence: str, start: int, end: int) -> bool:
    """Whether the number at ``sentence[start:end]`` is a day of a date ("17 October", "October 17"), an ordinal,
    an age, a page (`not_a_count`) or a year ("in 1998"; "2,000 professors" is a count)."""
    before, number = sentence[:start], sentence[start:end].split()[0]
    if not_a_count(sentence, start, end) or _MONTH_BEFORE.search(before):
        return True
    return bool(_YEAR.fullmatch(number) and _YEAR_BEFORE.search(before))


def _counts_other(question: str, sentence: str, start: int, end: int) -> bool:
    """Whether the figure at ``sentence[start:end]`` counts other casualties than asked, casualties when none are
    asked, or a noun the question does not name ("two brothers" for "how many children"; "five solo tackles" is
    tackles: the next three words are read)."""
    wanted = question_measure(question)
    counts = figure_measure(sentence, start, end)
    if counts is not None:
        return counts != wanted
    following = _WORDS.findall(_NEXT_FIGURE.split(sentence[end:], maxsplit=1)[0])[:3]  # up to a comma or figure
    if not following:
        return False
    *stemmed, asked_stems = tokenize([*following, question])
    if not stemmed[0] or following[0].lower().endswith(("ed", "ing")) or following[0][0].isdigit():
        return False  # a verb, a function word or nothing: the benefit of the doubt
    return not any(set(st) & set(asked_stems) for st in stemmed)


def _has_unit(unit: str, text: str) -> bool:
    return any(m.group("unit").lower().rstrip("s") == unit.lower().rstrip("s") for m in _PER.finditer(text))


def _for_several_places(question: str, sentence: str) -> bool:
    """Whether the question names a place that the sentence names only together with others ("in Jableh and
    Tartous"): its figure is theirs together, not that place's."""
    named = asked_places(question)
    lists = [places for places in place_lists(sentence) if places & named]
    return bool(lists) and all(places - named for places in lists)
