"""BM25 over segments: each segment's postings written once, scored with every live chunk's statistics at query time.

bm25s fixes its IDF when it indexes, so it cannot add or delete a chunk
without indexing everything again.  Here a segment stores, for each term,
the rows that hold it and how often (postings sorted by row), and each
row's length; a query sums the document frequencies, chunk count and
lengths of the live rows of every segment, so the scores are those of bm25s
("lucene" BM25, k1 1.5, b 0.75) over the same live chunks, whatever was
added or deleted since.

Terms are kept as 64-bit hashes in a sorted array (opened memory-mapped and
searched with ``searchsorted``), so opening a segment reads no vocabulary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from qa.chunking import Chunk
from qa.documents import Document

K1, B = 1.5, 0.75  # bm25s' defaults, which the shipped ranker and calibrators were fitted on
FILES = ("lexical_keys.npy", "lexical_starts.npy", "lexical_rows.npy", "lexical_counts.npy", "lexical_lengths.npy")


_TOKEN_PATTERN = r"(?u)\b\w+\b"  # keep one-character tokens: "4 million", "6 bombings"
_stemmer = Stemmer.Stemmer("english")


def tokenize(texts: list[str], stopwords: str | list[str] = "en") -> list[list[str]]:
    """Lower-cased, stop-worded, stemmed tokens, the same for chunks and questions."""
    return bm25s.tokenize(
        texts,
        token_pattern=_TOKEN_PATTERN,
        stopwords=stopwords,
        stemmer=_stemmer,
        return_ids=False,
        show_progress=False,
    )


def lexical_text(document: Document, chunk: Chunk) -> str:
    """What BM25 reads: the chunk after its headline (or title) and outlet.

    A byline or a one-line credit says little on its own; the words of the
    piece it belongs to let "who reported the story on X" find it.  (On the
    seed dev set this context helps BM25 but hurts the dense side.)
    """
    segment = document.segment_at(chunk.start)
    context = [segment.headline if segment and segment.headline else document.title]
    if chunk.source:
        context.append(chunk.source)
    return " | ".join(context) + "\n" + " ".join(document.text[chunk.start : chunk.end].split())


def term_keys(terms: Sequence[str]) -> np.ndarray:
    """A 64-bit key per term (blake2b): a collision among a few million terms is about one in 10^7."""
    return np.asarray(
        [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in terms], dtype=np.uint64
    )


def idf(df: np.ndarray | int, n: int) -> np.ndarray | float:
    """bm25s' "lucene" IDF: log(1 + (N - df + 0.5) / (df + 0.5))."""
    return np.log1p((n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Postings:
    """One segment's postings: term ``keys[i]`` is in rows ``rows[starts[i]:starts[i+1]]``, ``counts`` times each."""

    keys: np.ndarray  # (terms,) uint64, ascending
    starts: np.ndarray  # (terms + 1,) int64
    rows: np.ndarray  # (postings,) int32, ascending within a term
    counts: np.ndarray  # (postings,) uint16: occurrences of the term in the row
    lengths: np.ndarray  # (rows,) int32: tokens in each row

    @classmethod
    def of(cls, tokens: Sequence[Sequence[str]]) -> Postings:
        """The postings of rows of tokens (`qa.index.tokenize`d lexical texts), row ``i`` = ``tokens[i]``."""
        lengths = np.asarray([len(t) for t in tokens], dtype=np.int32)
        vocabulary = sorted({t for row in tokens for t in row})
        if not vocabulary:
            empty = np.zeros(0, dtype=np.int64)
            return cls(
                empty.astype(np.uint64), np.zeros(1, np.int64), empty.astype(np.int32), empty.astype(np.uint16), lengths
            )
        column = {t: i for i, t in enumerate(vocabulary)}
        flat_terms = np.fromiter((column[t] for row in tokens for t in row), dtype=np.int64, count=int(lengths.sum()))
        flat_rows = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
        pairs, counts = np.unique(flat_terms * len(tokens) + flat_rows, return_counts=True)  # by term, then row
        terms, rows = np.divmod(pairs, len(tokens))
        keys = term_keys(vocabulary)
        order = np.argsort(keys, kind="stable")  # terms by key; each term's postings stay in row order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        by_key = np.argsort(rank[terms], kind="stable")
        sizes = np.bincount(rank[terms], minlength=len(vocabulary))
        return cls(
            keys[order],
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            rows[by_key].astype(np.int32),
            np.minimum(counts[by_key], np.iinfo(np.uint16).max).astype(np.uint16),
            lengths,
        )

    def write(self, folder: Path) -> None:
        for name, array in zip(FILES, (self.keys, self.starts, self.rows, self.counts, self.lengths), strict=True):
            np.save(folder / name, array)

    @classmethod
    def open(cls, folder: Path) -> Postings:
        """The postings in ``folder``, memory-mapped: nothing is read until a query asks for a term."""
        return cls(*(np.load(folder / name, mmap_mode="r", allow_pickle=False) for name in FILES))

    def problem(self, n_rows: int) -> str | None:
        """How the arrays contradict each other or ``n_rows`` rows, or None (cheap: shapes and ends only)."""
        if self.lengths.shape != (n_rows,) or self.starts.shape != (len(self.keys) + 1,):
            return f"lexical postings cover {len(self.lengths)} rows and {len(self.starts) - 1} terms, not {n_rows}"
        if self.starts[0] != 0 or self.starts[-1] != len(self.rows) or len(self.rows) != len(self.counts):
            return "lexical postings do not add up"
        return None

    def find(self, keys: np.ndarray) -> list[slice | None]:
        """Where each key's postings lie (None for a term this segment lacks)."""
        at = np.searchsorted(self.keys, keys)
        found = []
        for key, i in zip(keys.tolist(), at.tolist(), strict=True):
            found.append(
                slice(int(self.starts[i]), int(self.starts[i + 1]))
                if i < len(self.keys) and self.keys[i] == key
                else None
            )
        return found


@dataclass(frozen=True)
class Part:
    """A segment's postings as a query sees them: which rows are live, and the id of its first row."""

    postings: Postings
    live: np.ndarray | None  # bool per row; None: every row is live
    first_id: int

    def live_rows(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.live is None else rows[self.live[rows]]


@dataclass(frozen=True)
class Statistics:
    """What BM25 reads of every live chunk: how many there are and their average length."""

    chunks: int
    average_length: float

    @classmethod
    def of(cls, parts: Sequence[Part]) -> Statistics:
        chunks = length = 0
        for part in parts:
            lengths = part.postings.lengths if part.live is None else part.postings.lengths[part.live]
            chunks += len(lengths)
            length += int(lengths.sum(dtype=np.int64))
        return cls(chunks, length / chunks if chunks else 1.0)


def document_frequencies(parts: Sequence[Part], terms: Sequence[str]) -> dict[str, int]:
    """Live chunks holding each term; terms no live chunk holds are left out."""
    terms = list(dict.fromkeys(terms))
    counts = np.zeros(len(terms), dtype=np.int64)
    keys = term_keys(terms)
    for part in parts:
        for i, where in enumerate(part.postings.find(keys)):
            if where is not None:
                rows = part.postings.rows[where]
                counts[i] += len(rows) if part.live is None else int(part.live[rows].sum())
    return {t: int(c) for t, c in zip(terms, counts.tolist(), strict=True) if c}


def scores(
    parts: Sequence[Part],
    stats: Statistics,
    tokens: Sequence[str],
    allowed: Sequence[np.ndarray | None] | None = None,
    only: Sequence[np.ndarray | None] | None = None,
    frequencies: Callable[[list[str]], dict[str, int]] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each part's scored rows and their BM25 scores (rows ascending, scores positive), live rows only.

    ``tokens`` may repeat a term: each occurrence counts, as in bm25s.
    ``allowed``: per part, a bool mask of the rows a filter lets through
    (None: all).  ``only``: per part, the rows to score (None: every row
    holding a term).  ``frequencies``: where to look the document frequencies up (default: counted now).
    """
    if not tokens or not stats.chunks:
        return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in parts]
    unique = list(dict.fromkeys(tokens))
    df = frequencies(unique) if frequencies is not None else document_frequencies(parts, unique)
    # As bm25s computes them, to the last bit: the IDF kept as float32, each (term, chunk) score rounded to
    # float32, then summed in float32 in the order of the question's tokens.
    weight = {t: float(np.float32(idf(df.get(t, 0), stats.chunks))) for t in unique}
    out = []
    for p, part in enumerate(parts):
        postings, rows_parts, score_parts = part.postings, [], []
        wanted = only[p] if only is not None else None
        found = dict(zip(unique, postings.find(term_keys(unique)), strict=True))
        for token in tokens:
            where = found[token]
            if where is None:
                continue
            if wanted is not None:  # a posting list is sorted by row: look the wanted rows up in it, in place
                listed = postings.rows[where]
                at = np.minimum(np.searchsorted(listed, wanted.astype(listed.dtype)), len(listed) - 1)
                hit = listed[at] == wanted
                rows, tf = wanted[hit], np.asarray(postings.counts[where][at[hit]], dtype=np.float32)
            else:
                rows = np.asarray(postings.rows[where], dtype=np.int64)
                tf = np.asarray(postings.counts[where], dtype=np.float32)
            norm = K1 * ((1 - B) + B * postings.lengths[rows] / stats.average_length)
            rows_parts.append(rows)
            score_parts.append((weight[token] * (tf / (norm + tf))).astype(np.float32))
        if not rows_parts:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.float32)))
            continue
        rows, summed = _summed(rows_parts, score_parts, len(postings.lengths))
        keep = np.ones(len(rows), dtype=bool)
        if part.live is not None:
            keep &= part.live[rows]
        if allowed is not None and allowed[p] is not None:
            keep &= allowed[p][rows]
        out.append((rows[keep], summed[keep]))
    return out


def _summed(rows_parts: list[np.ndarray], score_parts: list[np.ndarray], n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's scores summed in float32 in the order of the question's tokens, as bm25s adds them.

    A term's postings name a row once, so adding them into one array of every row is exact; that costs a
    pass over the segment's rows but no sort, and wins once the postings are more than a few percent of the rows
    (common terms over a large segment), where sorting them was most of a question's BM25 time.
    """
    postings = sum(len(r) for r in rows_parts)
    if postings * 16 < n_rows:  # a few postings: sort them
        rows, inverse = np.unique(np.concatenate(rows_parts), return_inverse=True)
        summed = np.zeros(len(rows), dtype=np.float32)
        np.add.at(summed, inverse, np.concatenate(score_parts))
        return rows, summed
    every = np.zeros(n_rows, dtype=np.float32)
    for rows, values in zip(rows_parts, score_parts, strict=True):
        every[rows] += values
    rows = np.flatnonzero(every)
    return rows, every[rows]


def top(
    scored: Sequence[tuple[np.ndarray, np.ndarray]], parts: Sequence[Part], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best (id, score) of every part's scored rows, best first, ties by lower id."""
    ids = np.concatenate(
        [rows + part.first_id for (rows, _), part in zip(scored, parts, strict=True)] or [np.zeros(0, np.int64)]
    )
    values = np.concatenate([s for _, s in scored] or [np.zeros(0, np.float32)])
    positive = values > 0
    ids, values = ids[positive], values[positive]
    if len(values) > n:
        cut = np.argpartition(-values, n - 1)[:n]
        threshold = values[cut].min()
        keep = values >= threshold  # every tie of the last one, so that the lower ids win below
        ids, values = ids[keep], values[keep]
    order = np.lexsort((ids, -values))[:n]
    return ids[order], values[order]
