"""A session's own files over a shared index: searched together, the shared index never copied or written.

`Layered` puts a small in-memory `Index` of the session's files (its own
FAISS and BM25) after a base store: chunk ids below ``len(base)`` are
the base's, the rest the overlay's.  Cosines of one model compare across the
two, so the dense lists merge by score; BM25 scores of two indexes do not
(each has its own statistics), so the two BM25 lists merge by rank, taking
each list's next chunk in turn.  The term weights of a question count the
chunks of both.  Dropping the layered index frees the overlay; the base is
shared, read-only, by every session.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.chunking import Chunk, ChunkingSettings
from qa.collection import safe_name, unused_name
from qa.documents import CorpusError, Document, UnusableFile, load_document, unsupported_format
from qa.filters import NO_FILTERS, Filters
from qa.index import Index
from qa.models import Embedder
from qa.progress import Callback, silent
from qa.stores import Hits, Store, StoreInfo


def overlay_index(
    base: Store,
    embedder: Embedder,
    paths: Sequence[str | Path],
    *,
    progress: Callback = silent,
    names: Sequence[str] | None = None,
) -> Layered:
    """``base`` with ``paths`` indexed in memory after it; `CorpusError` when none of them can be used.

    Each file's doc id is ``names``' (checked: as many, distinct, none of the
    base's), else its safe name made unique against the base's
    (``report-2.pdf``); the files that cannot be used are listed in
    `Layered.skipped` with the reason.
    """
    documents, skipped = read_uploads([Path(p) for p in paths], taken=DocIds(base), names=names)
    if not documents:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items()) or "no files given"
        raise CorpusError(f"none of the files can be searched: {reasons}")
    extra = Index.of_documents(
        documents,
        embedder=embedder,
        settings=ChunkingSettings(**base.info.chunking),
        progress=progress,
        corpus_label="uploaded files",
        skipped=skipped,
    )
    return Layered(base, extra)


def read_uploads(
    paths: Sequence[Path], taken: Container[str], names: Sequence[str] | None = None
) -> tuple[list[Document], dict[str, str]]:
    """The usable documents of ``paths`` under doc ids unused in ``taken`` (``names``, or `upload_names`), and why
    each other file is not one."""
    if names is None:
        names = upload_names(paths, taken)
    elif len(names) != len(paths) or len(set(names)) != len(names) or any(n in taken for n in names):
        raise ValueError(f"names must be one distinct new doc id per file, not {list(names)!r}")
    documents, skipped = [], {}
    for path, name in zip(paths, names, strict=True):
        if reason := unsupported_format(path):
            skipped[name] = reason
            continue
        try:
            documents.append(replace(load_document(path, path.parent), doc_id=name))
        except UnusableFile as exc:
            skipped[name] = exc.reason
    return documents, skipped


def upload_names(paths: Sequence[str | Path], taken: Container[str]) -> list[str]:
    """The doc id each of ``paths`` gets in an overlay: its safe name, made unique against ``taken`` and the others."""
    names: list[str] = []
    for path in paths:
        names.append(unused_name(safe_name(Path(path).name), Either(taken, names)))
    return names


class DocIds(Container[str]):
    """A store's doc ids as a container: each asked for, never all listed."""

    def __init__(self, store: Store):
        self.store = store

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.store.has_document(doc_id)


class Either(Container[str]):
    """In one container or the other."""

    def __init__(self, first: Container[str], second: Container[str]):
        self.first, self.second = first, second

    def __contains__(self, item: object) -> bool:
        return item in self.first or item in self.second


class Layered:
    """A base store and an overlay index searched as one store (`qa.stores.Store`); the base is never copied.

    Chunk ids below ``offset`` are the base's, the rest the overlay's.
    """

    def __init__(self, base: Store, extra: Index):
        self.base, self.extra = base, extra
        self.offset = len(base)

    def _split(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        return ids[ids < self.offset], ids[ids >= self.offset] - self.offset

    @property
    def info(self) -> StoreInfo:
        """The base's: the model and settings both were built with."""
        return self.base.info

    @property
    def skipped(self) -> dict[str, str]:
        """The overlay's files that could not be used, and why."""
        return self.extra.skipped

    def __len__(self) -> int:
        return len(self.base) + len(self.extra)

    def chunk(self, chunk_id: int) -> Chunk:
        return self.base.chunk(chunk_id) if chunk_id < self.offset else self.extra.chunk(chunk_id - self.offset)

    def document(self, doc_id: str) -> Document:
        return self.extra.document(doc_id) if self.extra.has_document(doc_id) else self.base.document(doc_id)

    def has_document(self, doc_id: str) -> bool:
        return self.extra.has_document(doc_id) or self.base.has_document(doc_id)

    def doc_ids(self) -> Iterator[str]:
        """The base's, then the overlay's."""
        yield from self.base.doc_ids()
        yield from self.extra.doc_ids()

    def sources(self) -> list[str]:
        return sorted({*self.base.sources(), *self.extra.sources()})

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        if chunk_id < self.offset:
            return self.base.sentences_of(chunk_id)
        return self.extra.sentences_of(chunk_id - self.offset)

    def vector(self, chunk_id: int) -> np.ndarray:
        return self.base.vector(chunk_id) if chunk_id < self.offset else self.extra.vector(chunk_id - self.offset)

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        """Chunks per term over both (the term weights of a question count the chunks of both)."""
        base, extra = self.base.document_frequencies(terms), self.extra.document_frequencies(terms)
        return {t: base.get(t, 0) + extra.get(t, 0) for t in base.keys() | extra.keys()}

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        """The ``n`` nearest chunks of both by cosine, best first (ties: the base's)."""
        base, extra = self.base.dense_search(vector, n, filters), self.extra.dense_search(vector, n, filters)
        ids = np.concatenate([base.ids, extra.ids + self.offset])
        scores = np.concatenate([base.scores, extra.scores])
        order = np.argsort(-scores, kind="stable")[:n]
        return Hits(ids[order], scores[order])

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        """The two BM25 lists merged by rank, the first of each, then the second of each, … (the scores of two
        indexes do not compare: each has its own statistics)."""
        base, extra = self.base.lexical_search(text, n, filters), self.extra.lexical_search(text, n, filters)
        both = min(len(base.ids), len(extra.ids))
        ids = np.empty(len(base.ids) + len(extra.ids), dtype=np.int64)
        scores = np.empty(len(ids), dtype=np.float32)
        ids[0 : 2 * both : 2], ids[1 : 2 * both : 2] = base.ids[:both], extra.ids[:both] + self.offset
        scores[0 : 2 * both : 2], scores[1 : 2 * both : 2] = base.scores[:both], extra.scores[:both]
        longer, shift = (base, 0) if len(base.ids) > both else (extra, self.offset)
        ids[2 * both :], scores[2 * both :] = longer.ids[both:] + shift, longer.scores[both:]
        return Hits(ids[:n], scores[:n])

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        below = ids < self.offset
        out[below] = self.base.lexical_scores(text, ids[below])
        out[~below] = self.extra.lexical_scores(text, ids[~below] - self.offset)
        return out
