"""Unanswerable twins of answerable questions, for teaching the reader "this passage is about it but does not answer".

SQuAD v1.1 only has questions a paragraph answers, so a reader trained on it
finds *some* span in any paragraph about the question's subject.  SQuAD 2.0's
unanswerable questions were written by changing answerable ones so that the
same paragraph no longer answers them; the commonest changes (Rajpurkar et
al., 2018) are swapping a name for another, swapping a word for its antonym
and negating the question.  A twin is made here the same three ways, from the
question and its own paragraph, in this order of preference:

- **antonym**: a word with a common opposite ("largest", "before", "won",
  "north") is replaced by it, when the paragraph never uses the opposite
  ("What is the smallest city …?" of a paragraph that names only the largest);
- **swap**: a name, place, group or year of the question that the paragraph
  contains is replaced by one of the same kind the paragraph does not
  contain (taken from other articles' questions), so nothing in the
  paragraph is about what is now asked;
- **negation**: "not" after the question's auxiliary ("When did X not …?",
  "What was not …?"), when neither swap can be made.

The twin is labelled "no answer" for its original paragraph.  Made with
spaCy's ``en_core_web_sm`` (the parser `qa.actors` ships).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

SWAPPED = ("PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "WORK_OF_ART", "DATE")
_NAMES = frozenset(SWAPPED) - {"DATE"} | {"PRODUCT", "LAW"}
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})$")
_OPPOSITES = (
    "first last|largest smallest|biggest smallest|highest lowest|most least|longest shortest|oldest youngest|"
    "earliest latest|before after|increase decrease|increased decreased|north south|east west|northern southern|"
    "eastern western|won lost|win lose|maximum minimum|more less|higher lower|larger smaller|bigger smaller|"
    "better worse|best worst|major minor|positive negative|strongest weakest|stronger weaker|early late|"
    "above below|inside outside|legal illegal|public private|internal external|ancient modern|common rare|"
    "successful unsuccessful|accepted rejected|supported opposed|support oppose|male female|men women|top bottom|"
    "upper lower|fastest slowest|hottest coldest|warmest coldest|rise fall|rose fell|gain loss|imports exports|"
    "import export|opened closed|same different|richest poorest|heaviest lightest|deepest shallowest|"
    "allowed banned|begin end|began ended|start end|started ended|beginning end"
)
ANTONYMS: dict[str, str] = {}
for _pair in _OPPOSITES.split("|"):
    _a, _b = _pair.split()
    ANTONYMS.setdefault(_a, _b)
    ANTONYMS.setdefault(_b, _a)
_AUXILIARIES = frozenset(
    {"did", "does", "do", "was", "were", "is", "are", "can", "could", "has", "have", "had", "will"}
)


def entity_pool(questions: Iterable, articles: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """Names by (kind, article) from parsed questions, to draw replacements from other articles."""
    pool: dict[tuple[str, str], set[str]] = defaultdict(set)
    for doc, article in zip(questions, articles, strict=True):
        for ent in doc.ents:
            name = ent.text.removeprefix("the ").removeprefix("The ")
            if ent.label_ in SWAPPED and _swappable(name, ent.label_):
                pool[(ent.label_, article)].add(name)
    return {key: sorted(names) for key, names in pool.items()}


def _swappable(text: str, kind: str) -> bool:
    """A date is swapped only when it is a bare year (others would need their own grammar)."""
    return bool(_YEAR.match(text)) if kind == "DATE" else len(text) > 1


def twin(doc, paragraph: str, article: str, pool: dict[tuple[str, str], list[str]], rng: random.Random) -> str | None:
    """An unanswerable twin of the parsed question ``doc`` for its ``paragraph``, or None when none can be made."""
    lowered = paragraph.lower()
    opposite = opposed(doc, paragraph)
    if opposite:
        return opposite
    swappable = [
        ent
        for ent in doc.ents
        if ent.label_ in SWAPPED and _swappable(ent.text, ent.label_) and ent.text.lower() in lowered
    ]
    rng.shuffle(swappable)
    for ent in swappable:
        other = _replacement(ent, paragraph, article, pool, rng)
        if other:
            return doc.text[: ent.start_char] + other + doc.text[ent.end_char :]
    return negated(doc)


def _replacement(ent, paragraph: str, article: str, pool: dict[tuple[str, str], list[str]], rng: random.Random):
    """A year near the entity's, or a name of its kind from another article, that ``paragraph`` does not contain."""
    if ent.label_ == "DATE":
        years = [str(int(ent.text) + d) for d in (-7, -3, -2, 2, 3, 7)]
        years = [y for y in years if y not in paragraph]
        return rng.choice(years) if years else None
    others = [a for (kind, a) in pool if kind == ent.label_ and a != article]
    lowered = paragraph.lower()
    for _ in range(5 if others else 0):
        pick = rng.choice(pool[(ent.label_, rng.choice(others))])
        if pick.lower() not in lowered and pick.lower() != ent.text.lower():
            return pick
    return None


def opposed(doc, paragraph: str) -> str | None:
    """The question with one word swapped for its antonym (`ANTONYMS`) that ``paragraph`` never uses, or None.

    Words of names are left alone ("Beacon Fell" is no fall).
    """
    words = set(re.findall(r"[a-z]+", paragraph.lower()))
    for token in doc:
        other = ANTONYMS.get(token.lower_)
        if other and other not in words and token.ent_type_ not in _NAMES and token.pos_ != "PROPN":
            other = other.capitalize() if token.text[0].isupper() else other
            return doc.text[: token.idx] + other + doc.text[token.idx + len(token) :]
    return None


def negated(doc) -> str | None:
    """The question with "not" before the verb its first auxiliary helps ("When did X not sign …?"), or None."""
    for token in doc:
        if token.lower_ in _AUXILIARIES and token.dep_ in ("aux", "auxpass"):
            verb = token.head
            if verb.i <= token.i or any(c.dep_ == "neg" for c in verb.children):
                return None
            return doc.text[: verb.idx] + "not " + doc.text[verb.idx :]
    return None
