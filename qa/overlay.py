"""A session's own files over a shared index: searched together, the shared index never copied or written.

`Layered` puts a small in-memory `Index` of the session's files (its own
FAISS and BM25) after a base index: chunk ids below ``len(base.chunks)`` are
the base's, the rest the overlay's.  Cosines of one model compare across the
two, so the dense lists merge by score; BM25 scores of two indexes do not
(each has its own statistics), so the two BM25 lists merge by rank, taking
each list's next chunk in turn.  The term weights of a question count the
chunks of both.  Dropping the layered index frees the overlay; the base is
shared, read-only, by every session.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.chunking import Chunk, ChunkingSettings
from qa.collection import safe_name, unused_name
from qa.documents import CorpusError, Document, UnusableFile, load_document, unsupported_format
from qa.index import Index, Manifest
from qa.models import Embedder
from qa.progress import Callback, silent


def overlay_index(
    base, paths: Sequence[str | Path], *, progress: Callback = silent, names: Sequence[str] | None = None
) -> Layered:
    """``base`` with ``paths`` indexed in memory after it; `CorpusError` when none of them can be used.

    Each file's doc id is ``names``' (checked: as many, distinct, none of the
    base's), else its safe name made unique against the base's
    (``report-2.pdf``); the files that cannot be used are listed in
    `Layered.skipped` with the reason.
    """
    documents, skipped = read_uploads([Path(p) for p in paths], taken=set(base.documents), names=names)
    if not documents:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items()) or "no files given"
        raise CorpusError(f"none of the files can be searched: {reasons}")
    extra = Index.of_documents(
        documents,
        embedder=base.model,
        settings=ChunkingSettings(**base.manifest.chunking),
        progress=progress,
        corpus_label="uploaded files",
        skipped=skipped,
    )
    return Layered(base, extra)


def read_uploads(
    paths: Sequence[Path], taken: Collection[str], names: Sequence[str] | None = None
) -> tuple[list[Document], dict[str, str]]:
    """The usable documents of ``paths`` under doc ids unused in ``taken`` (``names``, or `upload_names`), and why
    each other file is not one."""
    if names is None:
        names = upload_names(paths, taken)
    elif len(names) != len(paths) or len(set(names)) != len(names) or set(names) & set(taken):
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


def upload_names(paths: Sequence[str | Path], taken: Collection[str]) -> list[str]:
    """The doc id each of ``paths`` gets in an overlay: its safe name, made unique against ``taken`` and the others."""
    names, used = [], set(taken)
    for path in paths:
        names.append(unused_name(safe_name(Path(path).name), used))
        used.add(names[-1])
    return names


class Chunks(Sequence[Chunk]):
    """The base's chunks, then the overlay's, as one list (nothing copied)."""

    def __init__(self, base: Sequence[Chunk], extra: Sequence[Chunk]):
        self.base, self.extra = base, extra

    def __len__(self) -> int:
        return len(self.base) + len(self.extra)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        n = len(self.base)
        return self.base[i] if i < n else self.extra[i - n]

    def __iter__(self) -> Iterator[Chunk]:
        yield from self.base
        yield from self.extra


class Frequencies(Mapping[str, int]):
    """Chunks per term over both indexes, summed when asked (the base's table is not copied)."""

    def __init__(self, base: Mapping[str, int], extra: Mapping[str, int]):
        self.base, self.extra = base, extra

    def __getitem__(self, term: str) -> int:
        count = self.base.get(term, 0) + self.extra.get(term, 0)
        if not count:
            raise KeyError(term)
        return count

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        yield from (t for t in self.extra if t not in self.base)

    def __len__(self) -> int:
        return len(self.base) + sum(1 for t in self.extra if t not in self.base)


@dataclass(frozen=True)
class Sentences:
    """Each chunk's sentence spans and vectors, from whichever index holds the chunk."""

    base: object
    extra: object
    offset: int

    def of_chunk(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        if chunk_id < self.offset:
            return self.base.of_chunk(chunk_id)
        return self.extra.of_chunk(chunk_id - self.offset)


class Layered:
    """A base index and an overlay index, answered as one index (what `Engine` reads of an index)."""

    def __init__(self, base: Index, extra: Index):
        self.base, self.extra = base, extra
        self.offset = len(base.chunks)
        self.chunks = Chunks(base.chunks, extra.chunks)
        self.documents: Mapping = ChainMap(extra.documents, base.documents)  # base's first when listed
        self.document_frequencies = Frequencies(base.document_frequencies, extra.document_frequencies)
        self.sentences = Sentences(base.sentences, extra.sentences, self.offset)

    @property
    def manifest(self) -> Manifest:
        """The base's manifest: the model and settings both were built with."""
        return self.base.manifest

    @property
    def skipped(self) -> dict[str, str]:
        """The overlay's files that could not be used, and why."""
        return dict(self.extra.manifest.skipped)

    @property
    def model(self) -> Embedder:
        return self.base.model

    def encode_query(self, question: str) -> np.ndarray:
        return self.base.encode_query(question)

    def dense_search(
        self, query_vector: np.ndarray, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` nearest chunks (of the ``allowed`` ids) of both indexes by cosine, best first (ties: base's)."""
        base_allowed = extra_allowed = None
        if allowed is not None:
            base_allowed, extra_allowed = allowed[allowed < self.offset], allowed[allowed >= self.offset] - self.offset
        base_ids, base_scores = self.base.dense_search(query_vector, n, base_allowed)
        extra_ids, extra_scores = self.extra.dense_search(query_vector, n, extra_allowed)
        ids = np.concatenate([base_ids, extra_ids + self.offset])
        scores = np.concatenate([base_scores, extra_scores])
        order = np.argsort(-scores, kind="stable")[:n]
        return ids[order], scores[order]

    def lexical_scores(self, question: str) -> np.ndarray:
        """Each index's BM25 scores, the base's then the overlay's (comparable within one index only)."""
        return np.concatenate([self.base.lexical_scores(question), self.extra.lexical_scores(question)])

    def lexical_top(self, scores: np.ndarray, n: int) -> np.ndarray:
        """The two indexes' BM25 lists merged by rank: the first of each, then the second of each, …"""
        base = self.base.lexical_top(scores[: self.offset], n)
        extra = self.extra.lexical_top(scores[self.offset :], n) + self.offset
        merged = np.empty(len(base) + len(extra), dtype=np.int64)
        both = min(len(base), len(extra))
        merged[0 : 2 * both : 2], merged[1 : 2 * both : 2] = base[:both], extra[:both]
        merged[2 * both :] = base[both:] if len(base) > both else extra[both:]
        return merged[:n]

    def vector(self, chunk_id: int) -> np.ndarray:
        if chunk_id < self.offset:
            return self.base.vector(chunk_id)
        return self.extra.vector(chunk_id - self.offset)
