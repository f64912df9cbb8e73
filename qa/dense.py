"""The chunk vectors' FAISS index, which can drop chunks without rebuilding a graph.

Exact search (``Flat``) below `HNSW_FROM` chunks, HNSW from there on.  An
incremental build makes a flat index anew from the kept vectors (a copy).
An HNSW graph cannot delete a node, and building one over 200,000 vectors
takes minutes, so an incremental build takes a copy of the previous graph,
adds the new chunks' vectors and masks the rows of the removed ones
(`Dense.rows`), until masked rows are `MAX_MASKED` of all: then it builds
the graph anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

HNSW_FROM = 200_000  # chunks; below this, exact search is fast enough
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128
MAX_MASKED = 0.25  # share of masked rows at which an HNSW index is built anew
FILE = "dense.faiss"
ROWS_FILE = "dense_rows.npy"  # only for an index with masked rows


def exact_or_hnsw(vectors: np.ndarray, hnsw_from: int) -> faiss.Index:
    """A FAISS index of unit ``vectors`` by inner product: exact below ``hnsw_from`` rows, an HNSW graph from there."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) >= hnsw_from:
        index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def selecting(index: faiss.Index, rows: np.ndarray) -> faiss.SearchParameters:
    """Search parameters that visit only ``rows`` of ``index``."""
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    if isinstance(index, faiss.IndexHNSWFlat):
        params = faiss.SearchParametersHNSW(sel=selector)
        params.efSearch = HNSW_EF_SEARCH
    else:
        params = faiss.SearchParameters(sel=selector)
    params.selector_keepalive = selector  # the parameters hold a raw pointer to it
    return params


@dataclass(frozen=True)
class Dense:
    """Unit vectors of the chunks, searchable by inner product (cosine).

    ``rows``: the chunk id each FAISS row holds, -1 for a removed chunk's
    row; None when row ``i`` holds chunk ``i`` (every index but an HNSW one
    after removals).  Never changed in place: a snapshot of the engine may
    be searching it.
    """

    index: faiss.Index
    rows: np.ndarray | None = None

    @classmethod
    def of(cls, vectors: np.ndarray) -> Dense:
        """A new index of ``vectors`` (row ``i`` = chunk ``i``): exact, or HNSW from `HNSW_FROM` rows."""
        return cls(exact_or_hnsw(vectors, HNSW_FROM))

    @property
    def kind(self) -> str:
        """What the manifest records: ``Flat`` or ``HNSW32``."""
        return f"HNSW{HNSW_NEIGHBOURS}" if isinstance(self.index, faiss.IndexHNSWFlat) else "Flat"

    @property
    def masked(self) -> int:
        """Rows held for removed chunks."""
        return 0 if self.rows is None else int((self.rows < 0).sum())

    @cached_property
    def chunk_rows(self) -> np.ndarray:
        """The row of each chunk id (computed once: the index never changes)."""
        if self.rows is None:
            return np.arange(self.index.ntotal)
        live = np.flatnonzero(self.rows >= 0)
        rows = np.empty(len(live), dtype=np.int64)
        rows[self.rows[live]] = live
        return rows

    def updated(self, previous_ids: Sequence[int | None], vectors: np.ndarray) -> Dense:
        """The index of a new list of chunks: chunk ``i`` is this index's chunk ``previous_ids[i]``, or new.

        ``vectors[i]`` is chunk ``i``'s vector either way.  A flat index is
        made anew; an HNSW one is copied, given the new vectors, and masks
        the chunks not kept (unless that would mask too many rows).
        """
        if not isinstance(self.index, faiss.IndexHNSWFlat) or len(previous_ids) < HNSW_FROM:
            return Dense.of(vectors)
        rows_of_old = self.chunk_rows
        total = self.index.ntotal
        fresh = [i for i, old in enumerate(previous_ids) if old is None]
        rows = np.full(total + len(fresh), -1, dtype=np.int64)
        for new, old in enumerate(previous_ids):
            if old is not None:
                rows[rows_of_old[old]] = new
        if (rows[:total] < 0).sum() > MAX_MASKED * len(rows):
            return Dense.of(vectors)
        index = faiss.clone_index(self.index)
        index.hnsw.efSearch = HNSW_EF_SEARCH
        if fresh:
            index.add(np.ascontiguousarray(np.asarray(vectors)[fresh], dtype=np.float32))
        rows[total:] = fresh
        return Dense(index, rows)

    def search(
        self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and cosine similarities of (up to) the ``n`` nearest chunks, best first.

        ``allowed``: the only chunk ids to consider (the search visits no other).
        """
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        if allowed is None:
            k, params = min(n + self.masked, self.index.ntotal), None
        else:
            k, params = min(n, len(allowed)), selecting(self.index, self.chunk_rows[allowed])
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, rows = self.index.search(query, k, params=params)
        rows, scores = rows[0], scores[0]
        ids = rows if self.rows is None else np.where(rows >= 0, self.rows[np.maximum(rows, 0)], -1)
        keep = ids >= 0
        return ids[keep][:n], scores[keep][:n]

    def vector(self, chunk_id: int) -> np.ndarray:
        """The stored unit vector of a chunk."""
        return self.index.reconstruct(int(self.chunk_rows[chunk_id]))

    def vectors(self) -> np.ndarray:
        """Every chunk's stored vector, in chunk order."""
        return self.index.reconstruct_n(0, self.index.ntotal)[self.chunk_rows]

    def problem(self, n_chunks: int, dim: int) -> str | None:
        """How the index contradicts ``n_chunks`` chunks of ``dim`` dimensions, or None."""
        total = self.index.ntotal
        if self.index.d != dim:
            return f"{FILE} holds vectors of dimension {self.index.d}, the manifest says {dim}"
        if self.rows is None:
            return None if total == n_chunks else f"{FILE} holds {total} vectors for {n_chunks} chunks"
        live = self.rows[self.rows >= 0]
        if len(self.rows) != total or self.rows.min(initial=0) < -1:
            return f"{ROWS_FILE} maps {len(self.rows)} rows, {FILE} holds {total}"
        if len(live) != n_chunks or not np.array_equal(np.bincount(live, minlength=n_chunks), np.ones(n_chunks)):
            return f"{ROWS_FILE} does not give each of the {n_chunks} chunks one row"
        return None

    def write(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / FILE))
        if self.rows is not None:
            np.save(folder / ROWS_FILE, self.rows)

    @classmethod
    def read(cls, folder: Path) -> Dense:
        rows_file = folder / ROWS_FILE
        rows = np.load(rows_file, allow_pickle=False) if rows_file.exists() else None
        if rows is not None and (rows.ndim != 1 or rows.dtype != np.int64):
            raise ValueError(f"{ROWS_FILE} is not a list of row numbers")
        return cls(faiss.read_index(str(folder / FILE)), rows)
