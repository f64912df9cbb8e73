"""`Engine`: answers questions from an index; `load` and `build` make one."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from qa.answer import Answer, Passage
from qa.confidence import Calibrator, confidence_features, load_calibrator
from qa.disagreement import Disagreement, find_disagreement, first_figure, is_quantity_question
from qa.documents import Document
from qa.highlight import highlight
from qa.index import Index
from qa.ranker import Featurizer, Ranker, load_ranker
from qa.retrieval import Candidate, RetrievalSettings, diversify, fuse, single_list

log = logging.getLogger("qa")


class Engine:
    """Answers questions with verbatim, cited passages of one index.

    >>> import qa
    >>> engine = qa.load()
    >>> answer = engine.ask("Where did Bashar al-Assad work as a surgeon?", k=3)
    >>> answer.answered, answer.passages[0].section
    (True, 'comment')
    """

    def __init__(
        self,
        index: Index,
        settings: RetrievalSettings = RetrievalSettings(),
        ranker: Ranker | None | Literal["shipped"] = "shipped",
        calibrator: Calibrator | None | Literal["shipped"] = "shipped",
    ):
        self.index = index
        self.settings = settings
        self._ranker = ranker
        self._calibrator = calibrator
        self._featurizer: Featurizer | None = None
        self._last_query: tuple[str, np.ndarray] | None = None

    @property
    def ranker(self) -> Ranker | None:
        """The second stage's model, the shipped one read on first use (so training scripts can replace it)."""
        if self._ranker == "shipped":
            self._ranker = load_ranker()
        return self._ranker

    @property
    def calibrator(self) -> Calibrator | None:
        """The confidence model, the shipped one read on first use."""
        if self._calibrator == "shipped":
            self._calibrator = load_calibrator()
        return self._calibrator

    @property
    def featurizer(self) -> Featurizer:
        if self._featurizer is None:
            self._featurizer = Featurizer(self.index)
        return self._featurizer

    @property
    def documents(self) -> list[str]:
        return list(self.index.documents)

    def document(self, doc_id: str) -> Document:
        """The document whose text passage offsets point into."""
        try:
            return self.index.documents[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in this index") from None

    def search(self, question: str, n: int = 100) -> list[Candidate]:
        """Chunks ranked for ``question``, best first, before passages are cut and checked.

        This is the ranking that `ask` shows and that benchmarks score; the
        stage (``settings.stage``) decides whether it is one list, both fused,
        or fused and re-ranked.
        """
        question = _checked(question)
        index, settings = self.index, self.settings
        dense_ids, dense_scores = index.dense_search(self._query_vector(question), max(n, settings.candidates))
        lexical = index.lexical_scores(question)
        if settings.stage == "dense":
            return single_list(
                dense_ids[:n], dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True)), lexical, "dense"
            )
        if settings.stage == "lexical":
            top = np.argsort(-lexical, kind="stable")[:n]
            return single_list(top[lexical[top] > 0], {}, lexical, "lexical")
        fused = fuse(dense_ids, dense_scores, lexical, settings)
        if settings.stage == "ranked" and self.ranker is not None:
            fused = self.rerank(question, fused)
        return fused[:n]

    def rerank(self, question: str, candidates: list[Candidate]) -> list[Candidate]:
        """The top ``settings.rerank_depth`` candidates re-ordered by the learned ranker; the rest keep fused order.

        The ranker sees the fused ranks among its features, so its score replaces
        the fused order outright (on held-out folds, neither a blend with the
        fused position nor a prior for it did better).
        """
        depth = self.settings.rerank_depth
        top, rest = candidates[:depth], candidates[depth:]
        if not top:
            return candidates
        learned = self.ranker.score(self.featurizer.features(question, self._query_vector(question), top))
        for c, s in zip(top, learned, strict=True):
            c.score = float(s)
        top.sort(key=lambda c: (-c.score, c.chunk_id))
        floor = top[-1].score
        for i, c in enumerate(rest, 1):  # keep them below every re-ranked one, in fused order
            c.score = floor - i
        return top + rest

    def ask(self, question: str, k: int = 5) -> Answer:
        """The ``k`` best passages for ``question``, whether they answer it, and where sources differ."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive integer, not {k!r}")
        question = _checked(question)
        candidates = self.search(question, self.settings.candidates)
        chosen = diversify(candidates, self.index, k, self.settings)
        best = max((c.dense for c in candidates), default=0.0)
        confidence, answered = self.confidence(question, chosen[0] if chosen else None, best)
        weights = self.featurizer.weights(question)
        passages = []
        for c in chosen:
            related = self.featurizer.soft_coverages(question, c.chunk_id)
            marked = highlight(weights, self.featurizer.sentences(c.chunk_id), related)
            passages.append(self._passage(c.chunk_id, c.score, marked))
        disagreement = self._disagreement(question, chosen, passages) if answered else None
        return Answer(
            question,
            answered,
            passages,
            confidence=round(confidence, 4),
            disagreements=[disagreement] if disagreement else [],
        )

    def confidence(self, question: str, top: Candidate | None, best_dense: float) -> tuple[float, bool]:
        """How likely the corpus answers ``question``, and whether that is enough to say it does.

        Below ``settings.min_dense`` nothing is close in meaning and the answer
        is always no; above it, the shipped calibrator decides (or, before one
        is trained, the cosine itself).
        """
        close = best_dense >= self.settings.min_dense
        if self.calibrator is None:
            return max(0.0, min(1.0, best_dense)), close
        features = confidence_features(self.featurizer, question, self._query_vector(question), top, best_dense)
        p = self.calibrator.probability(features)
        return p, close and p >= self.calibrator.threshold

    def _disagreement(self, question: str, chosen: list[Candidate], passages: list[Passage]) -> Disagreement | None:
        """Different figures stated by the passages' sentences closest in meaning to a quantity question."""
        if not is_quantity_question(question):
            return None
        query = self._query_vector(question)
        statements, similarity = [], []
        for number, (c, p) in enumerate(zip(chosen, passages, strict=True)):
            if p.section == "boilerplate":  # captions and credits describe related material, not the story's claims
                continue
            text = self.document(p.doc_id).text
            sentences = self.featurizer.sentences(c.chunk_id)
            closeness = self.featurizer.sentence_similarities(c.chunk_id, query)
            for s, sim in zip(sentences, closeness, strict=True):
                if first_figure(text[s.start : s.end]):
                    statements.append((number, p.source, s.start, s.end, text[s.start : s.end]))
                    similarity.append(float(sim))
        if len(statements) < 2:
            return None
        floor = max(self.settings.statement_similarity, max(similarity) - self.settings.statement_margin)
        return find_disagreement(question, [s for s, sim in zip(statements, similarity, strict=True) if sim >= floor])

    def _query_vector(self, question: str) -> np.ndarray:
        """The question's vector; the last one is kept, as `ask` needs it twice."""
        if self._last_query is None or self._last_query[0] != question:
            self._last_query = (question, self.index.encode_query(question))
        return self._last_query[1]

    def _passage(self, chunk_id: int, score: float, highlights: list[tuple[int, int]]) -> Passage:
        chunk = self.index.chunks[chunk_id]
        doc = self.index.documents[chunk.doc_id]
        segment = doc.segment_at(chunk.start)
        head = doc.text[: chunk.start].split("\n")
        return Passage(
            doc_id=chunk.doc_id,
            start=chunk.start,
            end=chunk.end,
            text=doc.text[chunk.start : chunk.end],
            score=round(score, 6),
            title=(segment.headline if segment and segment.headline else doc.title),
            source=chunk.source,
            section=chunk.section,
            highlights=highlights,
            paragraph=sum(1 for line in head[:-1] if line.strip()) + 1,
        )


def _checked(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the question is empty")
    return question.strip()
