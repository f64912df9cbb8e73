"""Find the sentence(s) of a passage that best answer the question.

A sentence is scored by the share of the question it covers, each question
term weighted by its IDF in the index (so "Alloush" counts for more than
"Syria"), plus the same share by related words when the caller has it; ties
go to the earlier sentence.  The term score is also a ranking feature
(`qa.ranker`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.stores.lexical import tokenize

# Related-word coverage at which a sentence with none of the question's terms is still marked
# (unrelated words score about 0.2 to 0.3).
RELATED_ALONE = 0.5


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


def highlight(
    weights: dict[str, float], sentences: list[SentenceTerms], related: Sequence[float] | None = None
) -> list[tuple[int, int]]:
    """Document offsets of the sentence that best covers the question, or none when nothing points to one.

    ``related``: each sentence's coverage of the question by related words
    (`qa.ranker.soft_coverages`), added to its term coverage, so a sentence
    that paraphrases the question can win (SQuAD dev, answer inside the top
    passage's highlight: 0.772 with term coverage alone, 0.777 with both,
    `benchmarks/quality.py`). A sentence is marked when it shares a term with
    the question or its related-word coverage reaches `RELATED_ALONE`.
    """
    if not sentences:
        return []
    exact = np.asarray([coverage(weights, s.terms) for s in sentences])
    soft = np.zeros(len(sentences)) if related is None else np.asarray(related, dtype=float)
    best = int(np.argmax(exact + soft))  # the first of equals: the earlier sentence
    if exact[best] > 0 or soft[best] >= RELATED_ALONE:
        return [(sentences[best].start, sentences[best].end)]
    return []


def holding(answer: tuple[int, int], sentences: Sequence[SentenceTerms]) -> list[tuple[int, int]]:
    """Document offsets of the sentences the exact answer ``answer`` lies in: the answering sentence, marked lightly.

    The reader's span says which sentence answers better than term coverage
    does; an answer across a sentence boundary marks both sentences.
    """
    return [(s.start, s.end) for s in sentences if s.start < answer[1] and answer[0] < s.end]
