"""Find the sentence(s) of a passage that best answer the question.

A sentence is scored by the share of the question it covers, each question
term weighted by its IDF in the index (so "Alloush" counts for more than
"Syria"); ties go to the earlier sentence.  The same score is a ranking
feature (`qa.ranker`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qa.index import tokenize


@dataclass(frozen=True)
class SentenceTerms:
    """A sentence's document offsets and its stemmed terms."""

    start: int
    end: int
    terms: frozenset[str]


@dataclass(frozen=True)
class ScoredSentence:
    score: float  # IDF-weighted share of the question's terms in the sentence, in [0, 1]
    start: int  # document offsets
    end: int


def sentence_terms(text: str, spans: Iterable[tuple[int, int]]) -> list[SentenceTerms]:
    """The sentences of ``text`` at ``spans`` (an index stores each chunk's) with their terms."""
    spans = [(int(s), int(e)) for s, e in spans]
    tokens = tokenize([text[s:e] for s, e in spans]) if spans else []
    return [SentenceTerms(s, e, frozenset(t)) for (s, e), t in zip(spans, tokens, strict=True)]


def coverage(weights: dict[str, float], terms: frozenset[str] | set[str]) -> float:
    """The weighted share of the question terms (``weights``: term -> IDF) found in ``terms``."""
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0


def score_sentences(weights: dict[str, float], sentences: list[SentenceTerms]) -> list[ScoredSentence]:
    """The sentences scored against the question, best first."""
    scored = [ScoredSentence(coverage(weights, s.terms), s.start, s.end) for s in sentences]
    return sorted(scored, key=lambda s: (-s.score, s.start))


def highlight(weights: dict[str, float], sentences: list[SentenceTerms]) -> list[tuple[int, int]]:
    """Document offsets of the best sentence, or none when no question term occurs."""
    best = score_sentences(weights, sentences)[:1]
    return [(best[0].start, best[0].end)] if best and best[0].score > 0 else []
