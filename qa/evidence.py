"""What one call of `Engine.ask` or `Engine.search` learns about its question, as immutable values.

`Question` is the question analysed once (its text, vector, terms and their
weights, word vectors, the kind of answer it asks for); a `Candidate` is a
chunk in the running with the scores that placed it and, once the second
stage has looked at it, its named `Signals`; `Evidence` is the question with
its ranked candidates.  Every stage after retrieval reads these and returns
new values (`dataclasses.replace`, `Candidate._replace`): nothing about a question is kept on the
engine or any other shared object, so one engine serves many visitors at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from qa.highlight import SentenceTerms
from qa.reader import Reading

QuestionKind = Literal["count", "date", "name", "other"]


@dataclass(frozen=True)
class Question:
    """A question as every stage needs it, computed once per call."""

    text: str  # stripped
    vector: np.ndarray  # unit embedding
    kind: QuestionKind  # what kind of answer it asks for (`qa.answer_type.question_kind`)
    terms: tuple[str, ...]  # topic terms (stemmed), in order
    weights: dict[str, float]  # each distinct term's IDF in the index
    pairs: frozenset[tuple[str, str]]  # adjacent term pairs
    all_words: tuple[str, ...]  # every word, lower-cased, in order (for the longest phrase)
    numbers: frozenset[str]  # the figures it states
    counted: frozenset[str]  # stemmed words of what a count question counts (empty for other kinds)
    words: tuple[str, ...]  # topic words as written (lower-cased), for soft matching
    word_weights: np.ndarray  # the IDF of each word's term
    word_vectors: np.ndarray  # one unit row per word
    known_share: float  # IDF-weighted share of its terms that some chunk of the index holds


@dataclass(frozen=True)
class Signals:
    """What the second stage, confidence, highlighting and "sources differ" read of one chunk for one question."""

    sentences: tuple[SentenceTerms, ...]  # the chunk's sentences, in reading order
    sentence_similarity: np.ndarray  # cosine of the question and each sentence
    related: np.ndarray  # each sentence's coverage of the question by related words (`soft_coverages`)
    coverage: float  # IDF-weighted share of question terms in the chunk (with its headline)
    bigrams: float  # share of the question's adjacent term pairs that stand together in the chunk
    sentence_coverage: float  # the same as coverage, for the chunk's best sentence
    sentence_dense: float  # cosine of the question and the closest sentence, or the whole chunk if closer
    soft_coverage: float  # the best sentence's coverage by related words
    phrase: float  # longest run of the question's words, in order, in the best sentence (share of the question)
    answer_type: float  # the best sentences hold an answer of the kind asked for
    title_coverage: float  # coverage by the headline or title alone
    numbers: float  # a quantity or date question and a chunk with figures
    question_numbers: float  # share of the question's own figures found in the chunk (1 when it has none)
    comment: float
    boilerplate: float
    headline: float  # the chunk is only a title or a roundup's Source line
    log_words: float


class Candidate(NamedTuple):
    """A chunk in the running for an answer, with the scores that placed it.

    A named tuple, like the rest immutable (`_replace` gives a changed copy),
    and cheap: fusion makes a couple of hundred per question.
    """

    chunk_id: int
    score: float  # what the final order sorts by
    dense: float  # cosine similarity, 0 when outside the dense list
    lexical: float  # BM25 score
    dense_rank: int = 0  # 1-based rank in the dense list, 0 when outside it
    lexical_rank: int = 0  # 1-based rank in the BM25 list, 0 when outside it
    signals: Signals | None = None  # set by the second stage (`Featurizer.with_signals`)
    reading: Reading | None = None  # set by the reader stage: where the chunk answers the question, if it does


@dataclass(frozen=True)
class Evidence:
    """A question and its candidates, best first: what `ask` cuts passages from and decides on."""

    question: Question
    candidates: tuple[Candidate, ...]
    best_dense: float  # cosine of the closest chunk of the index (0 when the index is empty)
