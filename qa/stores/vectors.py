"""A segment's chunk vectors and how they are searched: exactly when small, by PQ candidates scored again when large.

A segment below `PQ_FROM` chunks is searched exactly (FAISS ``Flat``, inner
product on unit vectors: cosine).  A larger one keeps a 4-bit product-quantized
fast scan (``PQFastScan``, 2 dimensions a code: 192 bytes a 384-d vector) that
picks `CANDIDATES` candidates, which are then scored exactly from a float16
copy of the vectors, memory-mapped.  Measured on 200,000 HashEmbedder(384)
passages of SQuAD and Wikipedia with SQuAD questions, whose neighbours are
near-ties (the 10th and 11th differ by 0.001 at the median): recall@10 against
exact search 0.997 at 1.3-1.6 ms a query on one core, where HNSW needed
efSearch 1,024 for 0.964 at 3-5 ms and IVF a quarter of its lists for 0.95
(benchmarks/README.md, "Scale").  It also builds in seconds, where HNSW took
minutes, and answers a filter by scoring the allowed rows exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

PQ_FROM = 50_000  # chunks in a segment from which it is searched by PQ candidates rather than exactly
CANDIDATES = 300  # PQ candidates scored exactly per segment (at least n)
EXACT_BELOW = 20_000  # allowed rows under which a filtered search of a large segment scores them all exactly
TRAIN_ROWS = 65_536  # vectors the quantizer is trained on
INDEX, EXACT = "dense.faiss", "vectors.npy"


@dataclass(frozen=True)
class Vectors:
    """Unit vectors of a segment's chunks, row ``i`` chunk ``i``, searchable by cosine."""

    index: faiss.Index  # Flat (exact), or PQFastScan (candidates)
    exact: np.ndarray | None = None  # (rows, dim) float16, for a PQ index: what candidates are scored on

    @classmethod
    def of(cls, vectors: np.ndarray) -> Vectors:
        """Exact search below `PQ_FROM` rows; PQ candidates scored on float16 copies from there."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if len(vectors) < PQ_FROM:
            index = faiss.IndexFlatIP(dim)
            index.add(vectors)
            return cls(index)
        index = faiss.IndexPQFastScan(dim, dim // 2, 4, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.sort(np.random.default_rng(0).permutation(len(vectors))[:TRAIN_ROWS])]
        index.train(np.resize(sample, (max(len(sample), 256), dim)))  # 16 centroids a part need rows to spare
        index.add(vectors)
        return cls(index, vectors.astype(np.float16))

    @property
    def dim(self) -> int:
        return self.index.d

    def __len__(self) -> int:
        return self.index.ntotal

    def vector(self, row: int) -> np.ndarray:
        if self.exact is None:
            return self.index.reconstruct(int(row))
        return np.asarray(self.exact[row], dtype=np.float32)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows``, float32."""
        if self.exact is None:
            return np.asarray([self.index.reconstruct(int(r)) for r in rows], dtype=np.float32).reshape(-1, self.dim)
        return np.asarray(self.exact[np.asarray(rows, dtype=np.int64)], dtype=np.float32)

    def search(self, vector: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the ``n`` nearest rows among ``allowed`` (a bool mask; None: all), best first."""
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        count = len(self) if allowed is None else int(allowed.sum())
        n = min(n, count)
        if n <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.exact is None:
            params = None if allowed is None else _selecting(np.flatnonzero(allowed))
            scores, rows = self.index.search(query, n, params=params)
            keep = rows[0] >= 0
            return rows[0][keep].astype(np.int64), scores[0][keep]
        if allowed is not None and count <= EXACT_BELOW:
            return self._scored(np.flatnonzero(allowed), query[0], n)
        wanted = max(CANDIDATES, n) * (1 if allowed is None else max(1, round(len(self) / count)))
        _, rows = self.index.search(query, min(wanted, len(self)))
        rows = rows[0][rows[0] >= 0]
        if allowed is not None:
            rows = rows[allowed[rows]]
            if len(rows) < n:  # the filter let too few of the candidates through: score every allowed row
                return self._scored(np.flatnonzero(allowed), query[0], n)
        return self._scored(rows, query[0], n)

    def _scored(self, rows: np.ndarray, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best of ``rows`` by their exact (float16) cosine, best first, ties by row."""
        scores = np.empty(len(rows), dtype=np.float32)
        for start in range(0, len(rows), 65_536):  # bounded memory for a large filtered scan
            part = rows[start : start + 65_536]
            scores[start : start + len(part)] = np.asarray(self.exact[part], dtype=np.float32) @ query
        order = np.lexsort((rows, -scores))[:n]
        return rows[order].astype(np.int64), scores[order]

    def write(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / INDEX))
        if self.exact is not None:
            np.save(folder / EXACT, np.asarray(self.exact, dtype=np.float16))

    @classmethod
    def open(cls, folder: Path) -> Vectors:
        """The vectors in ``folder``: the index read (small: codes or a small segment's vectors), the float16
        copies memory-mapped."""
        exact = np.load(folder / EXACT, mmap_mode="r", allow_pickle=False) if (folder / EXACT).exists() else None
        return cls(faiss.read_index(str(folder / INDEX)), exact)

    def problem(self, rows: int, dim: int) -> str | None:
        """How the vectors contradict ``rows`` chunks of ``dim`` dimensions, or None."""
        if self.index.d != dim or len(self) != rows:
            return f"{INDEX} holds {len(self)} vectors of dimension {self.index.d}, not {rows} of {dim}"
        pq = isinstance(self.index, faiss.IndexPQFastScan)
        if pq != (self.exact is not None) or (pq and self.exact.shape != (rows, dim)):
            return f"{EXACT} does not hold the float16 copies of {INDEX}'s {rows} vectors"
        return None


def _selecting(rows: np.ndarray) -> faiss.SearchParameters:
    """Search parameters that visit only ``rows`` (of a Flat index)."""
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(rows, dtype=np.int64))
    params = faiss.SearchParameters(sel=selector)
    params.selector_keepalive = selector  # the parameters hold a raw pointer to it
    return params
