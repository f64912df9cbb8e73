"""Second-stage ranking: re-score the fused candidates with features and a small learned model.

No cross-encoder ships here, so the second stage combines what we can compute
cheaply for a question and a candidate chunk: the dense and BM25 scores and
ranks, how much of the question (IDF-weighted) the chunk and its best sentence
cover, exactly or by related words (word vectors from the embedder's first
layer, for questions that paraphrase), the longest phrase of the question a
sentence keeps, whether the best sentences hold an answer of the asked kind,
the section, whether the chunk is only a headline, the length.  A linear
model over these features is trained listwise by ``benchmarks/train_ranker.py``
on SQuAD dev and the seed dev set and shipped as ``qa/ranker.json`` (about a
kilobyte).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from qa.answer_type import answer_type_present
from qa.highlight import SentenceTerms, coverage, score_sentences, sentence_terms
from qa.index import Index, lexical_text, tokenize
from qa.linear import LinearModel
from qa.retrieval import Candidate

RANKER_FILE = Path(__file__).with_name("ranker.json")
CHUNKS_CACHED = 4096  # chunks whose sentences, words and terms a featurizer keeps (a few KB each)
T = TypeVar("T")
# Words that carry no topic in a question ("what", "from", "did"…); BM25 keeps its shorter list.
QUESTION_STOPWORDS = list(STOPWORDS_EN_PLUS)
_QUESTION_STOPSET = frozenset(QUESTION_STOPWORDS)

FEATURES = (
    "dense",  # cosine of question and chunk
    "dense_gap",  # cosine minus the best candidate's
    "lexical",  # BM25 over the best candidate's BM25
    "dense_rank",  # log of the rank in the dense list
    "lexical_rank",  # log of the rank in the BM25 list
    "coverage",  # IDF-weighted share of question terms in the chunk (with its headline)
    "bigrams",  # share of the question's adjacent term pairs that stand together in the chunk
    "sentence_coverage",  # the same, for the chunk's best sentence
    "sentence_dense",  # cosine of question and the chunk's closest sentence, or the whole chunk if closer
    "sentence_dense_gap",  # that minus the best candidate's
    "coverage_gap",  # coverage minus the best candidate's
    "sentence_coverage_gap",  # sentence coverage minus the best candidate's
    "soft_coverage",  # like sentence coverage, each question word credited with its closest word's similarity
    "soft_coverage_gap",  # that minus the best candidate's
    "phrase",  # longest run of the question's words, in order, in the best sentence (share of the question)
    "answer_type",  # the best sentences hold an answer of the kind asked for (a figure, a date, a new name)
    "title_coverage",  # the same, for the headline or title alone
    "numbers",  # a quantity question and a chunk with figures
    "question_numbers",  # share of the question's own figures found in the chunk (1 when it has none)
    "comment",
    "boilerplate",
    "headline",  # the chunk is only a title or a roundup's Source line
    "log_words",
)

_QUANTITY = re.compile(
    r"\b(how (many|much|long|far|old|big|large)|what (number|percentage|proportion|fraction|share|amount)|"
    r"death toll|toll|population|when|what year|what date|which year)\b",
    re.I,
)
_FIGURE = re.compile(r"\d")
_NUMBER = re.compile(r"\d[\d,.]*")
_WORD = re.compile(r"\w+")
_SOFT_WORD = re.compile(r"[^\W\d_][\w'-]*|\d[\d,.]*")


def longest_run(question_words: list[str], sentence: str) -> float:
    """The longest run of ``question_words`` standing in the same order in ``sentence``, as a share of them.

    Questions written from a sentence often keep a phrase of it ("the first
    Super Bowl to be played in"); term coverage alone ignores word order.
    """
    if not question_words:
        return 0.0
    words = [w.lower() for w in _WORD.findall(sentence)]
    match = SequenceMatcher(None, question_words, words, autojunk=False).find_longest_match()
    return match.size / len(question_words)


@dataclass(frozen=True)
class _Question:
    """What the features need of a question, computed once per question."""

    text: str
    terms: list[str]  # topic terms (stemmed), in order
    weights: dict[str, float]  # each distinct term's IDF in the index
    pairs: frozenset[tuple[str, str]]  # adjacent term pairs
    all_words: list[str]  # every word, lower-cased, in order (for the longest phrase)
    numbers: frozenset[str]  # the figures it states
    quantity: bool  # it asks for a quantity or a date
    words: list[str]  # topic words as written (lower-cased), for soft matching
    word_weights: np.ndarray  # the IDF of each word's term
    word_vectors: np.ndarray  # one row per word
    soft: dict[int, np.ndarray] = field(default_factory=dict)  # chunk id -> its sentences' soft coverages
    columns: dict[int, list[float]] = field(default_factory=dict)  # chunk id -> `Featurizer.chunk_columns`


def soft_coverages(question_vectors: np.ndarray, weights: np.ndarray, sentences: list[np.ndarray]) -> np.ndarray:
    """Each sentence's IDF-weighted share of the question, each word credited with its closest word's cosine.

    Term coverage gives nothing for "angry locals" against "the anger of
    residents"; word vectors give "angry"~"anger" 0.7 and "locals"~"residents"
    0.4 (unrelated words stay near 0).  ``sentences``: one matrix of word
    vectors per sentence.
    """
    total = float(weights.sum())
    if not total or not len(question_vectors):
        return np.zeros(len(sentences))
    closest = [np.clip((question_vectors @ w.T).max(axis=1), 0.0, 1.0) if len(w) else None for w in sentences]
    return np.asarray([float(weights @ c) / total if c is not None else 0.0 for c in closest])


@dataclass(frozen=True)
class _ChunkTerms:
    terms: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    head: frozenset[str]
    figures: bool


def _pairs(tokens: list[str]) -> frozenset[tuple[str, str]]:
    return frozenset(zip(tokens, tokens[1:], strict=False))


class Ranker(LinearModel):
    """The second stage's model: `score` rises with how likely a candidate, among its list, holds the answer."""

    FEATURES = FEATURES

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.logit(x)


@lru_cache(maxsize=2)
def load_ranker(path: str = str(RANKER_FILE)) -> Ranker | None:
    """The shipped ranker, or None before one is trained."""
    return Ranker.load(path) if Path(path).exists() else None


class ChunkCache(Generic[T]):
    """``compute(chunk_id)``, remembered for the most recently used chunks.

    Bounded, so a long-running app over a large corpus does not end up
    holding the terms and words of every chunk it ever ranked.
    """

    def __init__(self, compute: Callable[[int], T], size: int = CHUNKS_CACHED):
        self.compute, self.size = compute, size
        self._kept: OrderedDict[int, T] = OrderedDict()

    def __call__(self, chunk_id: int) -> T:
        if chunk_id in self._kept:
            self._kept.move_to_end(chunk_id)
            return self._kept[chunk_id]
        value = self._kept[chunk_id] = self.compute(chunk_id)
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._kept)


class Featurizer:
    """Computes `FEATURES` for candidates of one index; caches what depends only on the index."""

    def __init__(self, index: Index):
        self.index = index
        n_docs = len(index.chunks)
        indptr = np.asarray(index.lexical.scores["indptr"])
        counts = np.diff(indptr)  # documents per token id
        vocab = index.lexical.vocab_dict
        df = {t: int(counts[i]) for t, i in vocab.items() if t and i < len(counts)}
        self._idf = {t: math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._default_idf = math.log(1 + (n_docs + 0.5) / 0.5)
        self.sentences = ChunkCache(self._sentences)
        self.sentence_words = ChunkCache(self._sentence_words)
        self._chunk_terms = ChunkCache(self._terms)
        self._last_question: _Question | None = None

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._default_idf)

    def _question(self, question: str) -> _Question:
        """The question's terms and words; the last question's are kept, as one `ask` needs them thrice."""
        if self._last_question is None or self._last_question.text != question:
            words = [w for w in (w.lower() for w in _SOFT_WORD.findall(question)) if w not in _QUESTION_STOPSET]
            stems = tokenize([question, *words], stopwords=QUESTION_STOPWORDS)
            word_weights = np.asarray([self.idf(t[0]) if t else 0.0 for t in stems[1:]])
            self._last_question = _Question(
                text=question,
                terms=stems[0],
                weights={t: self.idf(t) for t in set(stems[0])},
                pairs=_pairs(stems[0]),
                all_words=[w.lower() for w in _WORD.findall(question)],
                numbers=frozenset(_NUMBER.findall(question)),
                quantity=bool(_QUANTITY.search(question)),
                words=words,
                word_weights=word_weights,
                word_vectors=self.index.model.word_vectors(words),
            )
        return self._last_question

    def weights(self, question: str) -> dict[str, float]:
        """The question's terms and their IDF in this index (read only: kept for the question)."""
        return self._question(question).weights

    def known_share(self, question: str) -> float:
        """IDF-weighted share of the question's terms that some chunk of the index holds."""
        weights = self.weights(question)
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in self._idf) / total if total else 0.0

    def _sentences(self, chunk_id: int) -> list[SentenceTerms]:
        """A chunk's sentences with their terms (read through the cache `sentences`)."""
        spans, _ = self.index.sentences.of_chunk(chunk_id)
        return sentence_terms(self.index.documents[self.index.chunks[chunk_id].doc_id].text, spans)

    def sentence_similarities(self, chunk_id: int, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the question and each of the chunk's sentences, in the order of `sentences`."""
        _, vectors = self.index.sentences.of_chunk(chunk_id)
        return vectors.astype(np.float32) @ np.asarray(query_vector, dtype=np.float32)

    def _sentence_words(self, chunk_id: int) -> list[list[str]]:
        """The words of each of the chunk's sentences, lower-cased (read through the cache `sentence_words`)."""
        text = self.index.documents[self.index.chunks[chunk_id].doc_id].text
        return [[w.lower() for w in _SOFT_WORD.findall(text[s.start : s.end])] for s in self.sentences(chunk_id)]

    def soft_coverages(self, question: str, chunk_id: int) -> np.ndarray:
        """`soft_coverages` of the chunk's sentences, in the order of `sentences`.

        Kept for the question's chunks (ranking, then highlighting and
        confidence, read them); the sentences' word vectors are not kept:
        150 words of them are 230 KB.
        """
        asked = self._question(question)
        if (known := asked.soft.get(chunk_id)) is not None:
            return known
        sentences = self.sentence_words(chunk_id)
        vectors = self.index.model.word_vectors([w for words in sentences for w in words])
        per_sentence = np.split(vectors, np.cumsum([len(words) for words in sentences])[:-1]) if sentences else []
        asked.soft[chunk_id] = soft_coverages(asked.word_vectors, asked.word_weights, per_sentence)
        return asked.soft[chunk_id]

    def _terms(self, chunk_id: int) -> _ChunkTerms:
        """A chunk's terms and term pairs (with its context), its headline's terms, whether it states figures."""
        chunk = self.index.chunks[chunk_id]
        doc = self.index.documents[chunk.doc_id]
        full = lexical_text(doc, chunk)
        terms, head = tokenize([full, full.split("\n", 1)[0]], stopwords=QUESTION_STOPWORDS)
        figures = bool(_FIGURE.search(doc.text, chunk.start, chunk.end))
        return _ChunkTerms(frozenset(terms), _pairs(terms), frozenset(head), figures)

    def chunk_columns(self, question: str, chunk_id: int) -> list[float]:
        """`FEATURES` from "coverage" on, those that depend on the question and the chunk alone, kept per question.

        Ranking computes them for every candidate and confidence reads the top
        candidate's again.  The columns that depend on the candidate list or on
        the question's vector are 0 here; `features` fills them in.
        """
        asked = self._question(question)
        if (known := asked.columns.get(chunk_id)) is not None:
            return known
        weights, q_numbers = asked.weights, asked.numbers
        chunk = self.index.chunks[chunk_id]
        document = self.index.documents[chunk.doc_id]
        text = document.text[chunk.start : chunk.end]
        terms = self._chunk_terms(chunk_id)
        scored = score_sentences(weights, self.sentences(chunk_id))[:2]
        best = [document.text[s.start : s.end] for s in scored]
        asked.columns[chunk_id] = [
            coverage(weights, terms.terms),
            len(asked.pairs & terms.pairs) / len(asked.pairs) if asked.pairs else 0.0,
            scored[0].score if scored else 0.0,
            0.0,  # sentence dense
            0.0,  # sentence dense gap
            0.0,  # coverage gap
            0.0,  # sentence coverage gap
            self.soft_coverages(question, chunk_id).max(initial=0.0),
            0.0,  # soft coverage gap
            longest_run(asked.all_words, best[0]) if best else 0.0,
            answer_type_present(question, best),
            coverage(weights, terms.head),
            float(asked.quantity and terms.figures),
            (sum(n in text for n in q_numbers) / len(q_numbers)) if q_numbers else 1.0,
            1.0 if chunk.section == "comment" else 0.0,
            1.0 if chunk.section == "boilerplate" else 0.0,
            1.0 if document.headline_only(chunk.start, chunk.end) else 0.0,
            math.log(1 + len(text.split())),
        ]
        return asked.columns[chunk_id]

    def features(self, question: str, query_vector: np.ndarray, candidates: list[Candidate]) -> np.ndarray:
        """One row of `FEATURES` per candidate (``query_vector``: the question's embedding)."""
        best_dense = max((c.dense for c in candidates), default=0.0)
        best_lexical = max((c.lexical for c in candidates), default=0.0) or 1.0
        missing = len(self.index.chunks) + 1  # rank of a chunk outside a list
        rows = [
            [
                c.dense,
                c.dense - best_dense,
                c.lexical / best_lexical,
                math.log(c.dense_rank or missing),
                math.log(c.lexical_rank or missing),
                *self.chunk_columns(question, c.chunk_id),
            ]
            for c in candidates
        ]
        x = np.asarray(rows, dtype=np.float64).reshape(len(candidates), len(FEATURES))
        x[:, FEATURES.index("sentence_dense")] = [  # the closest sentence, or the whole chunk if closer
            self.sentence_similarities(c.chunk_id, query_vector).max(initial=c.dense) for c in candidates
        ]
        for of in ("coverage", "sentence_coverage", "sentence_dense", "soft_coverage"):
            column = x[:, FEATURES.index(of)]
            x[:, FEATURES.index(f"{of}_gap")] = column - column.max(initial=0.0)
        return x
