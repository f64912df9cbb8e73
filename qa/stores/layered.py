"""A session's uploads over a store in another process (Milvus): searched together, that store never written.

Over the local store, uploads are one more in-memory segment of it (`LocalStore.with_segment`).  A store in
another process cannot take a segment, so the uploads are a small in-memory local store of their own (``top``),
searched beside it: dense hits merge by cosine (one model's cosines compare across both); the uploads' BM25 is
computed with both stores' chunk counts and document frequencies, so that a word rare in the archive weighs as
rare in an upload.  The uploads' chunk ids are negative (``-1 - id``), so that they never meet the store's.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Sequence

import numpy as np

from qa.chunking import Chunk
from qa.documents import Document
from qa.filters import NO_FILTERS, Filters
from qa.stores import Hits, Store, StoreInfo
from qa.stores import lexical as bm25
from qa.stores.local import LocalStore


def _top_id(chunk_id: int) -> int:
    return -1 - chunk_id


class Layered:
    """``base`` with the uploads ``top`` over it, as one `Store`."""

    def __init__(self, base: Store, top: LocalStore):
        self.base, self.top = base, top

    @property
    def info(self) -> StoreInfo:
        return self.base.info

    @property
    def skipped(self) -> dict[str, str]:
        return self.top.skipped

    def __len__(self) -> int:
        return len(self.base) + len(self.top)

    def chunk(self, chunk_id: int) -> Chunk:
        return self.top.chunk(_top_id(chunk_id)) if chunk_id < 0 else self.base.chunk(chunk_id)

    def chunk_ids(self) -> Iterator[int]:
        yield from sorted(_top_id(i) for i in self.top.chunk_ids())
        yield from self.base.chunk_ids()

    def document(self, doc_id: str) -> Document:
        return self.top.document(doc_id) if self.top.has_document(doc_id) else self.base.document(doc_id)

    def has_document(self, doc_id: str) -> bool:
        return self.top.has_document(doc_id) or self.base.has_document(doc_id)

    def doc_ids(self) -> Iterator[str]:
        return heapq.merge(self.base.doc_ids(), self.top.doc_ids())

    def sources(self) -> list[str]:
        return sorted({*self.base.sources(), *self.top.sources()})

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.top.sentences_of(_top_id(chunk_id)) if chunk_id < 0 else self.base.sentences_of(chunk_id)

    def vector(self, chunk_id: int) -> np.ndarray:
        return self.top.vector(_top_id(chunk_id)) if chunk_id < 0 else self.base.vector(chunk_id)

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        counts = dict(self.base.document_frequencies(terms))
        for term, n in self.top.document_frequencies(terms).items():
            counts[term] = counts.get(term, 0) + n
        return counts

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        return _merged(self.base.dense_search(vector, n, filters), self.top.dense_search(vector, n, filters), n)

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        top = self._top_bm25(text, allowed=self.top._allowed(filters))
        return _merged(self.base.lexical_search(text, n, filters), Hits(*bm25.top(top, self.top._parts, n)), n)

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        mine = ids >= 0
        if mine.any():
            out[mine] = self.base.lexical_scores(text, ids[mine])
        if (~mine).any():
            wanted = np.asarray(sorted({_top_id(int(i)) for i in ids[~mine]}), dtype=np.int64)
            parts = self.top._parts
            only = [_within(wanted, p.first_id, len(p.postings.lengths)) for p in parts]
            scored = self._top_bm25(text, only=only)
            found = {
                int(row) + part.first_id: float(v)
                for (rows, values), part in zip(scored, self.top._parts, strict=True)
                for row, v in zip(rows, values, strict=True)
            }
            out[~mine] = [found.get(_top_id(int(i)), 0.0) for i in ids[~mine]]
        return out

    def prefetch(self, chunk_ids: Sequence[int]) -> None:
        self.base.prefetch([i for i in chunk_ids if i >= 0])

    def _top_bm25(self, text: str, **which) -> list[tuple[np.ndarray, np.ndarray]]:
        """The uploads' BM25 scores, with both stores' chunk counts and document frequencies."""
        own = self.top._statistics
        stats = bm25.Statistics(len(self.base) + own.chunks, own.average_length)
        return bm25.scores(
            self.top._parts, stats, bm25.tokenize([text])[0], frequencies=self.document_frequencies, **which
        )


def _within(ids: np.ndarray, first: int, rows: int) -> np.ndarray:
    """The rows of a part (``rows`` of them from id ``first``) that ``ids`` names."""
    return ids[(ids >= first) & (ids < first + rows)] - first


def _merged(base: Hits, top: Hits, n: int) -> Hits:
    """Both lists as one, best first (ties: the lower id, as each store orders its own), the uploads' ids negative."""
    ids = np.concatenate([base.ids, -1 - top.ids])
    scores = np.concatenate([base.scores, top.scores])
    order = np.lexsort((ids, -scores))[:n]
    return Hits(ids[order], scores[order].astype(np.float32))


__all__ = ["Layered"]
