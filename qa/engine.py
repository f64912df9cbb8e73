"""`Engine`: answers questions from an index with verbatim, cited passages.

A call builds its `Evidence` once (`qa.evidence`) and every stage reads it:
retrieval and fusion, the second stage, the cut to ``k`` distinct passages,
confidence, highlights, "sources differ".  The engine holds only what does
not depend on a question (the index, settings, models, bounded caches of
chunk text), so many threads may call `ask` and `search` on one engine.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from qa.actors import named_actors
from qa.answer import Answer, Passage
from qa.answer_checks import failed_checks, qualified
from qa.catalog import find_documents
from qa.collection import add_files, remove_documents
from qa.confidence import Calibrator, confidence_features, shipped_calibrator
from qa.disagreement import (
    Disagreement,
    Statement,
    asked_places,
    asks_who,
    find_disagreement,
    find_name_disagreement,
    first_figure,
    question_measure,
)
from qa.documents import Document, Section
from qa.evidence import Candidate, Evidence, Question
from qa.filters import NO_FILTERS, Filters
from qa.followup import Turn, read_in_context
from qa.highlight import highlight, holding
from qa.models import Deferred, Embedder, ModelError
from qa.overlay import overlay_store
from qa.progress import Callback, silent
from qa.ranker import Featurizer, Ranker, load_ranker
from qa.reader import PassageReader, fingerprint, reader_shipped, shipped_reader, shipped_weights
from qa.retrieval import RetrievalSettings, by_reading, diversify, fuse, single_list
from qa.stores import Store, WritableStore
from qa.stores.local import LocalStore

log = logging.getLogger("qa")

MAX_QUESTION_CHARS = 2000  # after stripping; a question, not a document
MAX_K = 50  # passages one answer may hold
MAX_N = 10_000  # candidates one search may list


def checked_question(question: object) -> str:
    """``question`` stripped, or a `TypeError` / `ValueError` that says what is allowed (never echoing it back)."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a str, not {type(question).__name__}")
    stripped = question.strip()
    if not stripped:
        raise ValueError("question is empty: ask with 1 to 2,000 characters")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise ValueError(f"question is {len(stripped):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    return stripped


MAX_HISTORY = 10  # earlier questions read for a follow-up (only the last ones matter)


def checked_history(history: object) -> list[Turn]:
    """The last `MAX_HISTORY` earlier turns, each a question (stripped, non-empty) with the exact answer it got (None
    when it got none or the item is a bare question); `TypeError` unless a list of questions, `Answer`s or
    (question, answer) pairs."""
    if history is None:
        return []
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):  # a set or generator is no conversation
        raise TypeError(f"history must be a list of earlier questions, not {type(history).__name__}")
    turns = []
    for item in history:
        if isinstance(item, Answer):
            item = (item.question, item.passages[0].answer_text if item.answered and item.passages else None)
        elif isinstance(item, str):
            item = (item, None)
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and _text_or_none(item[1])):
            raise TypeError(f"history must be a list of earlier questions; got {type(item).__name__} {_short(item)}")
        if item[0].strip():
            turns.append((item[0].strip()[:MAX_QUESTION_CHARS], item[1]))
    return turns[-MAX_HISTORY:]


def _text_or_none(value: object) -> bool:
    return value is None or isinstance(value, str)


def checked_count(value: object, name: str, most: int) -> int:
    """``value`` if it is an int (not a bool) from 1 to ``most``; else a `TypeError` / `ValueError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int from 1 to {most}, not {type(value).__name__} {_short(value)}")
    if not 1 <= value <= most:
        raise ValueError(f"{name} must be an int from 1 to {most}, not {value}")
    return value


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
        store: Store,
        settings: RetrievalSettings = RetrievalSettings(),
        ranker: Ranker | None | Literal["shipped"] = "shipped",
        calibrator: Calibrator | None | Literal["shipped"] = "shipped",
        *,
        reader: PassageReader | None | Literal["shipped"] = "shipped",
        embedder: Embedder | None = None,
    ):
        self.settings = settings
        self._reader = reader  # "shipped": loaded on the first question that needs it (a fast start)
        self.ranker = load_ranker() if ranker == "shipped" else ranker
        self._calibrator = calibrator
        if calibrator == "shipped":
            weights = reader.record.get("weights_sha256") if reader not in ("shipped", None) else None
            self.calibrator = shipped_calibrator(shipped_weights() if reader == "shipped" else weights)
        else:
            self.calibrator = calibrator
        readerless = reader is None or reader == "shipped" and not reader_shipped()
        if self.calibrator is not None and self.calibrator.reads and readerless:
            raise ValueError("this calibrator was fitted on a reader's evidence: give the engine a reader")
        info = store.info
        self.embedder = embedder or Deferred(info.model, info.runtime, info.model_version, info.dim)
        self._snapshot = Snapshot.of(store, self.embedder)
        self._writing = threading.Lock()  # one `add` / `remove` of this engine at a time
        self.catching_up: threading.Thread | None = None  # `qa.load(check="later")`'s scan of the corpus, if any

    @property
    def reader(self) -> PassageReader | None:
        """The reader that marks each passage's exact answer and weighs in on ranking and confidence (None: off)."""
        if self._reader == "shipped":
            return shipped_reader()
        return self._reader

    @property
    def store(self) -> Store:
        """The store answering now (`add` and `remove` swap in another)."""
        return self._snapshot.store

    @property
    def index(self) -> Store:
        """`store`, under its earlier name."""
        return self._snapshot.store

    @property
    def featurizer(self) -> Featurizer:
        return self._snapshot.featurizer

    @property
    def documents(self) -> list[str]:
        """The doc ids of the index, in corpus order."""
        return list(self._snapshot.store.doc_ids())

    def find_documents(self, text: str, limit: int = 20) -> list[str]:
        """Up to ``limit`` doc ids found by file name, then by the words of their titles and passages
        (`qa.catalog.find_documents`): for picking documents in an archive too large to list.

        >>> engine.find_documents("bombings", limit=2)  # doctest: +SKIP
        ['000_ef7ab4103cac12f9.txt', '002_d6c5143299779081.txt']
        """
        return find_documents(self._snapshot.store, text, limit)

    @property
    def sources(self) -> list[str]:
        """The outlets the passages name, sorted: the values ``ask(sources=...)`` accepts."""
        return self._snapshot.store.sources()

    def document(self, doc_id: str) -> Document:
        """The document whose text passage offsets point into."""
        return self._snapshot.document(doc_id)

    def staged(self, settings: RetrievalSettings, ranker: Ranker | None = None) -> Engine:
        """An engine over this one's snapshot (index and chunk caches shared), ranking with ``settings``.

        For comparing stages on one index: ``engine.staged(RetrievalSettings(stage="fused"))``.
        """
        return self._sharing(settings, ranker, self._reader)

    def reading(self, reader: PassageReader | None | Literal["shipped"]) -> Engine:
        """An engine over this one's snapshot that reads with ``reader`` (None: without a reader, as fast as before).

        Its calibrator is the one for that choice, unless this engine was given its own.

        >>> engine.reading(None).ask("Who was Zahran Alloush?").passages[0].answer  # doctest: +SKIP
        """
        return self._sharing(self.settings, self.ranker, reader)

    def _sharing(
        self, settings: RetrievalSettings, ranker: Ranker | None, reader: PassageReader | None | Literal["shipped"]
    ) -> Engine:
        """Another engine over this one's snapshot (index and caches shared, never copied)."""
        other = Engine(
            self._snapshot.store,
            settings,
            ranker,
            self._calibrator,
            reader=reader,
            embedder=self.embedder,
        )
        other._snapshot = self._snapshot
        return other

    # --- changing the corpus ----------------------------------------------------------

    def add(self, paths: Sequence[str | Path], *, progress: Callback = silent) -> list[str]:
        """Add files to the corpus folder and its saved index (only they are embedded); their doc ids.

        A file inside the corpus folder is indexed where it stands; one outside
        is copied in under a safe name.  Questions asked meanwhile are answered
        from the index as it was; the next ones, from the new one.

        >>> engine = qa.load("my-index")                              # doctest: +SKIP
        >>> engine.add(["~/Downloads/annual report.pdf"])             # doctest: +SKIP
        ['annual_report.pdf']
        """
        store = self._saved("add")
        with self._writing:
            new, doc_ids = add_files(store, paths, embedder=self.embedder, progress=progress)
            self._snapshot = Snapshot.of(new, self.embedder)
        return doc_ids

    def remove(self, doc_ids: str | Sequence[str], *, progress: Callback = silent) -> None:
        """Take documents out of the saved index and delete their files from the corpus folder.

        `KeyError` for a doc id this index does not have.
        """
        store = self._saved("remove")
        with self._writing:
            ids = [doc_ids] if isinstance(doc_ids, str) else list(doc_ids)
            new = remove_documents(store, ids)
            self._snapshot = Snapshot.of(new, self.embedder)

    def close(self) -> None:
        """Release the store (a Milvus connection, and its Lite file for the next process); a local store holds
        nothing to release."""
        if callable(close := getattr(self._snapshot.store, "close", None)):
            close()

    def refresh(self, store: LocalStore) -> None:
        """Answer from ``store`` from the next question on: a newer committed state of this engine's own store
        (`qa.load` catching up with its corpus in the background swaps it in so)."""
        current = self._saved("refresh")
        if store.folder != current.folder:
            raise ValueError(f"{store.folder} is another store than this engine's {current.folder}")
        with self._writing:
            self._snapshot = Snapshot.of(store, self.embedder)

    def overlay(
        self, paths: Sequence[str | Path], *, progress: Callback = silent, names: Sequence[str] | None = None
    ) -> Engine:
        """An engine answering over this index plus ``paths``, indexed in memory (for a chat session's uploads).

        Nothing is written; this engine's index is shared, not copied.  The
        files that cannot be used are in ``.index.skipped``; `CorpusError` when
        none can.  ``names``: the doc id of each file (default: `upload_names`),
        so that a file keeps its id when the others change.
        """
        layered = overlay_store(self._snapshot.store, self.embedder, paths, progress=progress, names=names)
        return Engine(
            layered, self.settings, self.ranker, self._calibrator, reader=self._reader, embedder=self.embedder
        )

    def _saved(self, verb: str) -> WritableStore:
        """The store answering now, if it is saved (in a folder, or in Milvus); else `TypeError` (an overlay is
        never saved)."""
        store = self._snapshot.store
        if not isinstance(store, WritableStore) or getattr(store, "folder", True) is None:
            raise TypeError(
                f"cannot {verb} documents: this engine has no saved index (open one with qa.load or qa.build; "
                "an overlay is never saved)"
            )
        return store

    # --- the evidence of one question ---------------------------------------------

    def question(self, question: str) -> Question:
        """``question`` checked and analysed once for every stage (`TypeError` / `ValueError` if it is no question)."""
        return self._snapshot.question(question)

    def evidence(
        self,
        question: str,
        n: int | None = None,
        *,
        documents: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        sections: Sequence[Section] | None = None,
    ) -> Evidence:
        """The question and its ranked candidates, best first (at least ``settings.candidates`` deep, or ``n``).

        The stage (``settings.stage``) decides whether the ranking is one list,
        both fused, or fused and re-ranked; the re-ranked top candidates carry
        their `Signals`.  ``documents``, ``sources``, ``sections``: see `ask`.
        """
        snapshot = self._snapshot
        filters = Filters.of(snapshot.store, documents=documents, sources=sources, sections=sections)
        return self._evidence(snapshot, question, n, filters)

    def _evidence(self, snapshot: Snapshot, question: str, n: int | None, filters: Filters = NO_FILTERS) -> Evidence:
        asked = snapshot.question(question)
        store, settings = snapshot.store, self.settings
        depth = max(checked_count(n, "n", MAX_N) if n is not None else 0, settings.candidates)
        dense = store.dense_search(asked.vector, depth, filters)
        best_dense = float(dense.scores[0]) if len(dense.scores) else 0.0
        if settings.stage == "lexical":
            lexical = store.lexical_search(asked.text, depth, filters)
            scores = dict(zip(lexical.ids.tolist(), lexical.scores.tolist(), strict=True))
            ranked = single_list(lexical, {}, scores, "lexical")
        else:
            lexical = store.lexical_search(asked.text, settings.candidates, filters)
            listed = set(lexical.ids.tolist())
            dense_ids = dense.ids if settings.stage == "dense" else dense.ids[: settings.candidates]
            unlisted = np.asarray([i for i in dense_ids.tolist() if i not in listed], dtype=np.int64)
            lexical_of = dict(zip(lexical.ids.tolist(), lexical.scores.tolist(), strict=True))
            lexical_of |= dict(zip(unlisted.tolist(), store.lexical_scores(asked.text, unlisted).tolist(), strict=True))
            if settings.stage == "dense":
                dense_of = dict(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
                ranked = single_list(dense, dense_of, lexical_of, "dense")
            else:
                ranked = fuse(dense, lexical, lexical_of, settings)
                if settings.stage == "ranked" and self.ranker is not None:
                    ranked = self._rerank(snapshot.featurizer, asked, ranked)
        return Evidence(asked, tuple(ranked[:depth]), best_dense)

    def search(
        self,
        question: str,
        n: int = 100,
        *,
        documents: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        sections: Sequence[Section] | None = None,
    ) -> list[Candidate]:
        """Chunks ranked for ``question``, best first, at most ``n`` (1 to 10,000): the ranking `ask` cuts from."""
        n = checked_count(n, "n", MAX_N)
        evidence = self.evidence(question, n, documents=documents, sources=sources, sections=sections)
        return list(evidence.candidates[:n])

    def _rerank(self, featurizer: Featurizer, question: Question, candidates: list[Candidate]) -> list[Candidate]:
        """The top ``settings.rerank_depth`` candidates re-ordered by the learned ranker; the rest keep fused order.

        The ranker sees the fused ranks among its features, so its score replaces
        the fused order outright (on held-out folds, neither a blend with the
        fused position nor a prior for it did better).
        """
        depth = self.settings.rerank_depth
        top, rest = candidates[:depth], candidates[depth:]
        if not top:
            return candidates
        top, x = featurizer.featurize(question, top)
        learned = self.ranker.score(x)
        top = sorted(
            (c._replace(score=float(s)) for c, s in zip(top, learned, strict=True)),
            key=lambda c: (-c.score, c.chunk_id),
        )
        floor = top[-1].score  # the rest stay below every re-ranked one, in fused order
        return top + [c._replace(score=floor - i) for i, c in enumerate(rest, 1)]

    # --- the answer -------------------------------------------------------------------

    def ask(
        self,
        question: str,
        k: int = 5,
        *,
        documents: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        sections: Sequence[Section] | None = None,
        history: Sequence[str | Answer | Turn] | None = None,
    ) -> Answer:
        """The ``k`` best passages (1 to 50) for ``question``, whether they answer it, and where sources differ.

        ``history``: the conversation's earlier questions, oldest first, or
        the `Answer`s they got (or ``(question, exact answer)`` pairs).  A
        follow-up that leans on them ("And how many were wounded?") is
        retrieved with what it refers to (`qa.followup`: "the city" after
        "Which port city…?" is the city the answer named); `Answer.context`
        then says how it was read.  A question that stands alone is not changed.

        ``documents``, ``sources``, ``sections``: lists of the doc ids, outlets
        and sections (``"article"``, ``"comment"``, ``"boilerplate"``) the
        passages may come from, matched exactly (``None``: any).  They apply
        before the top-``k`` cut, and to the decision whether the corpus
        answers.  A value no passage has is `ValueError`.

        >>> engine.ask("How many were killed?", sections=["article"]).passages  # doctest: +SKIP
        """
        k = checked_count(k, "k", MAX_K)
        snapshot = self._snapshot  # the whole answer comes from one index, whatever `add` swaps in meanwhile
        filters = Filters.of(snapshot.store, documents=documents, sources=sources, sections=sections)
        text = checked_question(question)
        reading = read_in_context(text, checked_history(history))
        read_as = reading.text if reading.carried and len(reading.text) <= MAX_QUESTION_CHARS else text
        evidence = self._evidence(snapshot, read_as, None, filters)
        asked = evidence.question
        considered, reader = self._choose(snapshot, evidence, k)  # at least k when the reader read more
        confidence, answered = self.confidence(evidence, considered)
        chosen = considered[:k]
        margin, bold = self.settings.answer_margin, confidence >= self.settings.bold_confidence
        passages = [snapshot.passage(c, asked, answered, margin, bold) for c in chosen]
        disagreement = self._disagreement(snapshot, asked, chosen, passages) if answered else None
        if disagreement:  # where sources differ on what is asked, no one answer is picked out in bold
            passages = [replace(p, answer=None) for p in passages]
        return Answer(
            text,
            answered,
            passages,
            confidence=round(confidence, 4),
            disagreements=[disagreement] if disagreement else [],
            context=read_as if read_as != text else None,
            considered=len(evidence.candidates),
            reader=fingerprint(reader) if reader is not None else None,
        )

    def choose(self, evidence: Evidence, k: int = 5) -> list[Candidate]:
        """The candidates `ask` decides on for ``evidence``, best first; its ``k`` passages are the first ``k``.

        Distinct passages (`diversify`), with their signals; when the engine
        has a reader and something is close in meaning, the first
        ``settings.reader_passages`` (which may be more than ``k``: then so
        many are returned) carry its `Reading` and are re-ordered by it
        (`by_reading`).  `confidence` reads them all.  For benchmarks that
        change the evidence (leave a document out) and still decide as `ask` does.
        """
        return self._choose(self._snapshot, evidence, checked_count(k, "k", MAX_K))[0]

    def _choose(self, snapshot: Snapshot, evidence: Evidence, k: int) -> tuple[list[Candidate], PassageReader | None]:
        """`choose`, and the reader that read them (None: none did)."""
        asked = evidence.question
        reading = self._reader is not None and evidence.best_dense >= self.settings.min_dense
        depth = max(k, self.settings.reader_passages) if reading else k  # the reader may lift one from below k
        distinct = diversify(list(evidence.candidates), snapshot.store, depth, self.settings)
        snapshot.store.prefetch([c.chunk_id for c in distinct if c.signals is None])
        chosen = [snapshot.featurizer.with_signals(asked, c) for c in distinct]
        reader = self.reader if reading else None  # loaded only when it will read
        if reader is None or not chosen:
            return chosen, None
        read = chosen[: self.settings.reader_passages]
        readings = reader.read(asked.text, [snapshot.text(c) for c in read])
        chosen = [c._replace(reading=r) for c, r in zip(read, readings, strict=True)] + chosen[len(read) :]
        return by_reading(chosen, self.settings.reader_weight), reader

    def confidence(self, evidence: Evidence, chosen: list[Candidate]) -> tuple[float, bool]:
        """How likely the corpus answers the question, and whether that is enough to say it does.

        Below ``settings.min_dense`` nothing is close in meaning and the answer
        is always no; above it, the shipped calibrator decides (or, before one
        is trained, the cosine itself).  ``chosen``: the candidates best first,
        with their signals (and readings, when a reader read them).
        """
        close = evidence.best_dense >= self.settings.min_dense
        if self.calibrator is None:
            return max(0.0, min(1.0, evidence.best_dense)), close
        p = self.calibrator.probability(confidence_features(evidence, chosen))
        return p, close and p >= self.calibrator.threshold

    def _disagreement(
        self, snapshot: Snapshot, question: Question, chosen: list[Candidate], passages: list[Passage]
    ) -> Disagreement | None:
        """Different figures stated by the passages' sentences closest in meaning to a question asking for a count;
        for a question asking who did something, the different names sentences give for it.

        With a reader, a figure is a claim only in a passage it read, where its span holds the figure; and where
        it finds an answer in some passage (a margin above ``settings.answer_margin``), only such passages count:
        on SQuAD's Wikipedia paragraphs a confident answer was otherwise "contradicted" by figures of other
        things in neighbouring paragraphs (a 26-yard field goal for the 39-yard one asked about).
        """
        if question.kind != "count":
            names = self.settings.name_disagreements and asks_who(question.text)
            return self._name_disagreement(snapshot, question, chosen, passages) if names else None
        measure = question_measure(question.text)
        # a figure that counts the casualties asked says what it is about itself: a lower floor, and no margin
        floor = self.settings.statement_similarity if measure is None else self.settings.measured_similarity
        statements = []
        read = any(c.reading is not None for c in chosen)  # then a figure counts where the reader answers with it
        margins = [c.reading.margin for c in chosen if c.reading is not None and c.reading.span is not None]
        # where the reader finds an answer, a passage it finds none in is no rival: only those it answers from count
        answering = max(margins, default=-np.inf) > self.settings.answer_margin
        least = self.settings.answer_margin if answering else -np.inf
        for number, (c, p) in enumerate(zip(chosen, passages, strict=True)):
            if p.section == "boilerplate":  # captions and credits describe related material, not the story's claims
                continue
            reading = c.reading
            if reading is None and read or reading is not None and (reading.span is None or reading.margin <= least):
                continue  # unread beside passages read, no span, or no answer where the reader finds one elsewhere
            answer = (p.start + reading.span[0], p.start + reading.span[1]) if reading is not None else None
            text = snapshot.document(p.doc_id).text
            for s, sim in zip(c.signals.sentences, c.signals.sentence_similarity, strict=True):
                sentence = text[s.start : s.end]
                if answer is not None and not (s.start <= answer[0] and answer[1] <= s.end):
                    continue
                if sim >= floor and first_figure(sentence):
                    where = (answer[0] - s.start, answer[1] - s.start) if answer is not None else None
                    found = Statement(
                        number, p.source, s.start, s.end, sentence, float(sim), doc_id=p.doc_id, answer=where
                    )
                    statements.append(found)
        return find_disagreement(
            statements,
            counted=question.counted,
            measure=measure,
            margin=self.settings.statement_margin if measure is None else float("inf"),
            places=asked_places(question.text),
            accepts=lambda st, start, end: not failed_checks(question.text, st.text, start, end, st.source or ""),
        )

    def _name_disagreement(
        self, snapshot: Snapshot, question: Question, chosen: list[Candidate], passages: list[Passage]
    ) -> Disagreement | None:
        """Names that different outlets give for who did what the question asks (`qa.actors`), each from an article
        sentence close in meaning to the question.  A reader comment is nobody's report."""
        sentences = []
        for number, (c, p) in enumerate(zip(chosen, passages, strict=True)):
            if p.section != "article":
                continue
            text = snapshot.document(p.doc_id).text
            for s, sim in zip(c.signals.sentences, c.signals.sentence_similarity, strict=True):
                if sim >= self.settings.statement_similarity:
                    sentences.append(Statement(number, p.source, s.start, s.end, text[s.start : s.end], float(sim)))
        if not sentences:
            return None
        try:
            named = named_actors(question.text, [st.text for st in sentences])
        except ModelError as exc:  # names are a side note of the answer: without the parser, the answer stands
            _warn_once(f"names are not compared: {exc}")
            return None
        answers = [
            replace(st, text=actor.name, attribution=actor.attributed_to)
            for st, found in zip(sentences, named, strict=True)
            for actor in found
        ]

        def similarity(names: list[str]):
            vectors = self.embedder.encode(names)
            return vectors @ vectors.T

        return find_name_disagreement(answers, question.text, similarity)


@dataclass(frozen=True)
class Snapshot:
    """One store and what is computed from it alone: everything one call reads, from its start to its end."""

    store: Store
    featurizer: Featurizer
    embedder: Embedder

    @classmethod
    def of(cls, store: Store, embedder: Embedder) -> Snapshot:
        return cls(store, Featurizer(store, embedder), embedder)

    def document(self, doc_id: str) -> Document:
        return self.store.document(doc_id)

    def question(self, question: str) -> Question:
        text = checked_question(question)
        return self.featurizer.question(text, self.embedder.encode([text])[0])

    def text(self, candidate: Candidate) -> str:
        """The candidate chunk's verbatim text."""
        chunk = self.store.chunk(candidate.chunk_id)
        return self.store.document(chunk.doc_id).text[chunk.start : chunk.end]

    def passage(
        self,
        candidate: Candidate,
        question: Question,
        answered: bool = True,
        answer_margin: float = 0.0,
        bold: bool = True,
    ) -> Passage:
        """The cited passage of a candidate: its verbatim text, where it stands, and (``answered``) its exact answer,
        marked when the reader's margin is above ``answer_margin``, ``bold`` (the answer is confident enough) and
        the span passes every check of `qa.answer_checks`.

        The highlight is the sentence holding the reader's span (`holding`) when there is one, marked or not; else
        the sentence that best covers the question's terms (`highlight`).
        """
        chunk = self.store.chunk(candidate.chunk_id)
        doc = self.store.document(chunk.doc_id)
        segment = doc.segment_at(chunk.start)
        title = segment.headline if segment and segment.headline else doc.title
        page, page_end = doc.page_at(chunk.start), doc.page_at(chunk.end - 1)
        head = doc.text[: chunk.start].split("\n")
        reading = candidate.reading
        sentences = list(candidate.signals.sentences)
        answer = highlights = None
        if answered and reading is not None and reading.span is not None and reading.margin > answer_margin:
            span = (chunk.start + reading.span[0], chunk.start + reading.span[1])
            highlights = holding(span, sentences)
            first, last = (highlights or [span])[0][0], (highlights or [span])[-1][1]
            sentence, at, to = doc.text[first:last], span[0] - first, span[1] - first
            if bold and not failed_checks(question.text, sentence, at, to, f"{chunk.source or ''} {title}"):
                answer = (first + qualified(sentence, at, to), span[1])  # its qualifier from its own sentence
        highlights = highlights or highlight(question.weights, sentences, candidate.signals.related)
        return Passage(
            doc_id=chunk.doc_id,
            start=chunk.start,
            end=chunk.end,
            text=doc.text[chunk.start : chunk.end],
            score=round(candidate.score, 6),
            title=title,
            source=chunk.source,
            section=chunk.section,
            highlights=highlights,
            paragraph=sum(1 for line in head[:-1] if line.strip()) + 1,
            page=page,
            page_end=page_end if page_end != page else None,
            answer=answer,
        )
