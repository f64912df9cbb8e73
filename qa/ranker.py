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
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from qa.answer_type import answer_type_present, question_kind
from qa.cache import ChunkCache
from qa.disagreement import counted_terms
from qa.evidence import Candidate, Question, Signals
from qa.highlight import SentenceTerms, coverage, score_sentences, sentence_terms
from qa.linear import LinearModel
from qa.models import Embedder
from qa.stores import Store
from qa.stores.lexical import lexical_text, tokenize

RANKER_FILE = Path(__file__).with_name("ranker.json")
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
    "numbers",  # a count or date question and a chunk with figures
    "question_numbers",  # share of the question's own figures found in the chunk (1 when it has none)
    "comment",
    "boilerplate",
    "headline",  # the chunk is only a title or a roundup's Source line
    "log_words",
)
LIST_FEATURES = ("dense", "dense_gap", "lexical", "dense_rank", "lexical_rank")  # read off the candidate list
GAPS = ("coverage", "sentence_coverage", "sentence_dense", "soft_coverage")  # each also as "<name>_gap"
SIGNAL_FEATURES = tuple(f for f in FEATURES if f not in LIST_FEATURES and f.removesuffix("_gap") not in GAPS) + GAPS
_FIGURE = re.compile(r"\d")
_NUMBER = re.compile(r"\d[\d,.]*")
_WORD = re.compile(r"\w+")
_SOFT_WORD = re.compile(r"[^\W\d_][\w'-]*|\d[\d,.]*")


def bm25_idf(df: int, n: int) -> float:
    """BM25's IDF of a term in ``df`` of ``n`` chunks (the Lucene form, as bm25s scores by default)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def longest_run(question_words: Sequence[str], sentence: str) -> float:
    """The longest run of ``question_words`` standing in the same order in ``sentence``, as a share of them.

    Questions written from a sentence often keep a phrase of it ("the first
    Super Bowl to be played in"); term coverage alone ignores word order.
    """
    if not question_words:
        return 0.0
    words = [w.lower() for w in _WORD.findall(sentence)]
    match = SequenceMatcher(None, list(question_words), words, autojunk=False).find_longest_match()
    return match.size / len(question_words)


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


def _pairs(tokens: Sequence[str]) -> frozenset[tuple[str, str]]:
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


class Featurizer:
    """Analyses questions and computes each candidate's `Signals` and `FEATURES` over one index.

    It holds the index and what depends on the index alone (term weights,
    bounded caches of each chunk's sentences, words and terms); everything
    about a question is in the `Question` it returns and is passed back in.
    """

    def __init__(self, store: Store, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self._n = len(store)
        self.sentences = ChunkCache(self._sentences)
        self.sentence_words = ChunkCache(self._sentence_words)
        self._chunk_terms = ChunkCache(self._terms)

    def question(self, text: str, vector: np.ndarray) -> Question:
        """``text`` (already checked) analysed for every stage, with its embedding ``vector``."""
        words = [w for w in (w.lower() for w in _SOFT_WORD.findall(text)) if w not in _QUESTION_STOPSET]
        stems = tokenize([text, *words], stopwords=QUESTION_STOPWORDS)
        df = self.store.document_frequencies({t for terms in stems for t in terms})
        weights = {t: bm25_idf(df.get(t, 0), self._n) for t in set(stems[0])}
        total = sum(weights.values())
        known = sum(w for t, w in weights.items() if t in df) / total if total else 0.0
        kind = question_kind(text)
        return Question(
            text=text,
            vector=vector,
            kind=kind,
            terms=tuple(stems[0]),
            weights=weights,
            pairs=_pairs(stems[0]),
            all_words=tuple(w.lower() for w in _WORD.findall(text)),
            numbers=frozenset(_NUMBER.findall(text)),
            counted=frozenset(counted_terms(text)) if kind == "count" else frozenset(),
            words=tuple(words),
            word_weights=np.asarray([bm25_idf(df.get(t[0], 0), self._n) if t else 0.0 for t in stems[1:]]),
            word_vectors=self.embedder.word_vectors(words),
            known_share=known,
        )

    def _sentences(self, chunk_id: int) -> list[SentenceTerms]:
        """A chunk's sentences with their terms (read through the cache `sentences`)."""
        spans, _ = self.store.sentences_of(chunk_id)
        return sentence_terms(self.store.document(self.store.chunk(chunk_id).doc_id).text, spans)

    def _sentence_words(self, chunk_id: int) -> list[list[str]]:
        """The words of each of the chunk's sentences, lower-cased (read through the cache `sentence_words`)."""
        text = self.store.document(self.store.chunk(chunk_id).doc_id).text
        return [[w.lower() for w in _SOFT_WORD.findall(text[s.start : s.end])] for s in self.sentences(chunk_id)]

    def _terms(self, chunk_id: int) -> _ChunkTerms:
        """A chunk's terms and term pairs (with its context), its headline's terms, whether it states figures."""
        chunk = self.store.chunk(chunk_id)
        doc = self.store.document(chunk.doc_id)
        full = lexical_text(doc, chunk)
        terms, head = tokenize([full, full.split("\n", 1)[0]], stopwords=QUESTION_STOPWORDS)
        figures = bool(_FIGURE.search(doc.text, chunk.start, chunk.end))
        return _ChunkTerms(frozenset(terms), _pairs(terms), frozenset(head), figures)

    def _related(self, question: Question, chunk_id: int) -> np.ndarray:
        """`soft_coverages` of the chunk's sentences; their word vectors are not kept (150 words: 230 KB)."""
        sentences = self.sentence_words(chunk_id)
        vectors = self.embedder.word_vectors([w for words in sentences for w in words])
        per_sentence = np.split(vectors, np.cumsum([len(words) for words in sentences])[:-1]) if sentences else []
        return soft_coverages(question.word_vectors, question.word_weights, per_sentence)

    def signals(self, question: Question, candidate: Candidate) -> Signals:
        """What ranking, confidence and highlighting read of ``candidate`` for ``question``."""
        chunk_id = candidate.chunk_id
        chunk = self.store.chunk(chunk_id)
        document = self.store.document(chunk.doc_id)
        text = document.text[chunk.start : chunk.end]
        terms = self._chunk_terms(chunk_id)
        sentences = tuple(self.sentences(chunk_id))
        scored = score_sentences(question.weights, list(sentences))[:2]
        best = [document.text[s.start : s.end] for s in scored]
        _, sentence_vectors = self.store.sentences_of(chunk_id)
        similarity = sentence_vectors.astype(np.float32) @ np.asarray(question.vector, dtype=np.float32)
        related = self._related(question, chunk_id)
        numbers = question.numbers
        return Signals(
            sentences=sentences,
            sentence_similarity=similarity,
            related=related,
            coverage=coverage(question.weights, terms.terms),
            bigrams=len(question.pairs & terms.pairs) / len(question.pairs) if question.pairs else 0.0,
            sentence_coverage=scored[0].score if scored else 0.0,
            sentence_dense=float(similarity.max(initial=candidate.dense)),
            soft_coverage=float(related.max(initial=0.0)),
            phrase=longest_run(question.all_words, best[0]) if best else 0.0,
            answer_type=answer_type_present(question.kind, question.text, best),
            title_coverage=coverage(question.weights, terms.head),
            numbers=float(question.kind in ("count", "date") and terms.figures),
            question_numbers=(sum(n in text for n in numbers) / len(numbers)) if numbers else 1.0,
            comment=1.0 if chunk.section == "comment" else 0.0,
            boilerplate=1.0 if chunk.section == "boilerplate" else 0.0,
            headline=1.0 if document.headline_only(chunk.start, chunk.end) else 0.0,
            log_words=math.log(1 + len(text.split())),
        )

    def with_signals(self, question: Question, candidate: Candidate) -> Candidate:
        """``candidate`` carrying its signals for ``question`` (itself when it already does)."""
        if candidate.signals is not None:
            return candidate
        return candidate._replace(signals=self.signals(question, candidate))

    def featurize(self, question: Question, candidates: Sequence[Candidate]) -> tuple[list[Candidate], np.ndarray]:
        """The candidates with their signals, and one row of `FEATURES` each, built by name.

        The second stage at serving time and its training script both call
        this on the same fused top ``rerank_depth``, so they see the same rows.
        """
        self.store.prefetch([c.chunk_id for c in candidates if c.signals is None])
        with_signals = [self.with_signals(question, c) for c in candidates]
        best_dense = max((c.dense for c in with_signals), default=0.0)
        best_lexical = max((c.lexical for c in with_signals), default=0.0) or 1.0
        missing = self._n + 1  # rank of a chunk outside a list
        rows = []
        for c in with_signals:
            named = {name: float(getattr(c.signals, name)) for name in SIGNAL_FEATURES}
            named |= {
                "dense": c.dense,
                "dense_gap": c.dense - best_dense,
                "lexical": c.lexical / best_lexical,
                "dense_rank": math.log(c.dense_rank or missing),
                "lexical_rank": math.log(c.lexical_rank or missing),
            }
            rows.append(named)
        for name in GAPS:
            best = max((row[name] for row in rows), default=0.0)
            for row in rows:
                row[f"{name}_gap"] = row[name] - max(best, 0.0)
        return with_signals, np.asarray([[row[f] for f in FEATURES] for row in rows], dtype=np.float64).reshape(
            len(rows), len(FEATURES)
        )
