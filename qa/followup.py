"""Follow-up questions read together with what they refer to, deterministically (no language model).

A chat's next question often leans on the one before: "And how many were
wounded?", "How was he killed?", "What about Jableh?".  Retrieval then gets:

- "what about X?", "how about X?", "and X?" (X a name): the previous
  question with its names replaced by X;
- a question that refers back (a pronoun, "the man" or "the city" and the
  like, a leading "and"/"also"/"so", or at most one word of content) and
  names nothing itself: the question, then the previous answer when the
  previous question asked for that kind of thing ("Which port city…?" →
  "Tartus": "the city" is Tartus), else the previous question's subject
  (its names, each with the word it modifies: "Tartus bombing");
- any other question: itself, unchanged (it stands alone).

The history is read oldest first, each question in the light of the one
before, so a chain of follow-ups keeps its subject.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[\w'’-]+")
_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*\??\s*$|^\s*and\s+(?P<y>.+?)\s*\?\s*$", re.I)
PRONOUNS = frozenset("he she they him her them his hers their theirs it its there".split())
DEMONSTRATIVES = frozenset("that this these those".split())  # "that estimate": refers back when a noun follows
LEADS = frozenset("and also so then but".split())
# "the man", "the city": a definite noun of a kind that a name fills, in a question naming nothing itself
KINDS = frozenset(
    """man woman person people leader commander general official spokesman spokeswoman minister president group
    militia army organisation organization movement party company city town village country region place port""".split()
)
FUNCTION_WORDS = frozenset(
    """a an the and or but so also then of in on at to for from by with about as into after before during since
    how what who whom whose when where which why whether if is are was were be been being do does did has have had
    can could will would shall should may might must many much more most some any all each other than that this
    these those there here not no yes according said say says tell told please""".split()
) | PRONOUNS


@dataclass(frozen=True)
class Reading:
    """What retrieval reads for a question (``text``), and what it took from earlier ones (None: nothing)."""

    text: str
    carried: str | None = None


Turn = tuple[str, str | None]  # an earlier question and the exact answer it got (None: none in bold)


def read_in_context(question: str, history: Sequence[str | Turn] = ()) -> Reading:
    """``question`` as retrieval should read it after the earlier turns ``history`` (oldest first): each an earlier
    question, or a question with the exact answer it got (then "the city" after "Which port city…?" is that city).

    >>> read_in_context("How many were killed in the city?", [("Which port city hosts the navy?", "Tartus")]).text
    'How many were killed in the city? Tartus'
    """
    previous: Reading | None = None
    answer: str | None = None
    for earlier in history:
        asked, got = (earlier, None) if isinstance(earlier, str) else earlier
        previous, answer = _read(asked, previous, answer), got
    return _read(question, previous, answer)


def _read(question: str, previous: Reading | None, answer: str | None = None) -> Reading:
    """``question`` read after ``previous`` (the earlier question as read), which got ``answer``."""
    if previous is None:
        return Reading(question)
    names = _name_spans(question)
    about = _ABOUT.match(question)
    if about and names:
        subject = (about.group("x") or about.group("y")).strip()
        if len(_WORD.findall(subject)) <= 4:
            return _substituted(previous.text, subject)
    if not _refers_back(question, names):
        return Reading(question)
    if answer and (noun := _kind_noun(question)) and _asks_for(previous.text, noun):
        return Reading(f"{question.rstrip()} {answer}", answer)  # "the city": the city the answer named
    subject = _subject(previous.text)
    if not subject:
        return Reading(question)
    return Reading(f"{question.rstrip()} {subject}", subject)


def _kind_noun(question: str) -> str | None:
    """The noun of "the man", "the city" (`KINDS`) a question refers back with, if it does."""
    words = [w.lower() for w in _WORD.findall(question)]
    return next((b for a, b in zip(words, words[1:], strict=False) if a == "the" and b in KINDS), None)


def _asks_for(question: str, noun: str) -> bool:
    """Whether ``question`` asks which ``noun`` ("Which port city…" asks for a city): its answer is one."""
    return bool(re.search(rf"\b(?:which|what)\s+(?:[\w'’-]+\s+){{0,2}}?{noun}s?\b", question, re.I))


def _substituted(previous: str, name: str) -> Reading:
    """The previous question with its names replaced by ``name`` (appended when it has none)."""
    spans = _name_spans(previous)
    if not spans:
        return Reading(f"{previous.rstrip()} {name}", previous)
    text = previous
    for i, (s, e) in reversed(list(enumerate(spans))):  # from the end, so earlier offsets hold
        text = text[:s] + (name if i == 0 else "") + text[e:]  # its other names belonged to its subject: they go
    start, end = spans[0]
    return Reading(re.sub(r"\s{2,}", " ", text).strip(), previous[:start] + "…" + previous[end:])


def _refers_back(question: str, names: list[tuple[int, int]]) -> bool:
    """Whether ``question`` (its names at ``names``) leans on an earlier one: a pronoun or "that <noun>" before
    any name of its own (after a name, "he" is that name), "the man", "the city" and other nouns of a kind a name
    fills (`KINDS`) in a question naming nothing, a leading "and"/"also"/"so", or at most one word of content and
    no name."""
    matches = list(_WORD.finditer(question))
    words = [m.group().lower() for m in matches]
    if not words:
        return False
    first_name = names[0][0] if names else len(question)
    for i, (m, w) in enumerate(zip(matches, words, strict=True)):
        if m.start() >= first_name:
            break
        following = words[i + 1] if i + 1 < len(words) else ""
        if w in PRONOUNS or (w in DEMONSTRATIVES and following and following not in FUNCTION_WORDS):
            return True
        if not names and w == "the" and following in KINDS:
            return True
    content = [w for w in words if w not in FUNCTION_WORDS]
    return not names and (words[0] in LEADS or len(content) <= 1)


def _subject(text: str) -> str:
    """The names of ``text``, each with the word after it when that word is content ("Tartus bombing")."""
    parts = []
    words = list(_WORD.finditer(text))
    for start, end in _name_spans(text):
        following = next((w for w in words if w.start() >= end), None)
        part = text[start:end]
        if following and following.group().islower() and following.group().lower() not in FUNCTION_WORDS:
            part += " " + following.group()
        if part not in parts:
            parts.append(part)
    return " ".join(parts)


def _name_spans(text: str) -> list[tuple[int, int]]:
    """Runs of capitalised words ("Army of Islam", "Zahran Alloush"), but a question's first word when it is a
    function word ("How", "And")."""
    spans: list[tuple[int, int]] = []
    words = list(_WORD.finditer(text))
    i = 0
    while i < len(words):
        w = words[i].group()
        first = i == 0 and w.lower() in FUNCTION_WORDS
        if w[:1].isupper() and not first:
            j = i
            while j + 1 < len(words) and (
                words[j + 1].group()[:1].isupper()
                or (words[j + 1].group() in ("of", "al") and j + 2 < len(words) and words[j + 2].group()[:1].isupper())
            ):
                j += 1
            spans.append((words[i].start(), words[j].end()))
            i = j + 1
        else:
            i += 1
    return spans
