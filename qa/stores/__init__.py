"""The store seam: what the engine, its second stage and an overlay read of an index, and nothing more.

A store holds a corpus's documents, their chunks (verbatim spans), each
chunk's sentences and vectors, and searches them; the `Engine` holds the
configuration and the models and talks to a store only through `Store`.
Stores follow the protocol by contract, not by subclassing (the same tests
run against each: ``tests/test_store_contract.py``), so a store that lives in
another process (Milvus) fits as well as the local one.

Chunk ids are ints that stay valid within one store object: a write gives a
new store object (a snapshot), and an engine answers each call from one.

>>> import qa
>>> store = qa.load().store
>>> hits = store.lexical_search("Tartus bombing", 3)
>>> store.chunk(int(hits.ids[0])).doc_id in set(store.doc_ids())
True
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import numpy as np

from qa.chunking import Chunk
from qa.documents import Document
from qa.filters import NO_FILTERS, Filters

if TYPE_CHECKING:
    from qa.stores.segment import Contents, FileStat, SkippedFile


class IndexFormatError(RuntimeError):
    """An index is missing, incomplete, corrupt or edited; the message names the file."""


class StaleIndexError(RuntimeError):
    """An index does not match its corpus, model or chunking settings."""


class IndexVersionError(StaleIndexError):
    """An index written in another format version: stale, so rebuilt like one whose corpus changed."""


class Hits(NamedTuple):
    """Chunk ids and their scores, best first (ties: lower id first)."""

    ids: np.ndarray  # int64
    scores: np.ndarray  # float32

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


@dataclass(frozen=True)
class StoreInfo:
    """What decides a store's content: the model that embedded it and how documents were chunked."""

    model: str
    model_version: str
    dim: int
    runtime: str  # the embedding path (`qa.models.load_embedder`): questions are embedded the same way
    chunking: dict  # `ChunkingSettings.to_dict()`


@runtime_checkable
class Store(Protocol):
    """The read side of an index, as the engine uses it; see the module's docstring."""

    @property
    def info(self) -> StoreInfo: ...

    @property
    def skipped(self) -> dict[str, str]:
        """doc id -> why that corpus file is not indexed."""
        ...

    def __len__(self) -> int:
        """How many chunks are searchable (the N of BM25's IDF)."""
        ...

    def chunk(self, chunk_id: int) -> Chunk: ...

    def chunk_ids(self) -> Iterator[int]:
        """Every searchable chunk's id, ascending (for tests and benchmarks: a question never lists them all)."""
        ...

    def document(self, doc_id: str) -> Document:
        """The document whose text chunk offsets point into; `KeyError` naming it when there is none."""
        ...

    def has_document(self, doc_id: str) -> bool: ...

    def doc_ids(self) -> Iterator[str]:
        """Every indexed document's id, in corpus order."""
        ...

    def sources(self) -> list[str]:
        """The outlets chunks name, sorted."""
        ...

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's sentences: their document spans ``(n, 2)`` and unit vectors ``(n, dim)``, in reading order."""
        ...

    def vector(self, chunk_id: int) -> np.ndarray:
        """A chunk's stored unit vector."""
        ...

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        """How many chunks hold each of ``terms`` (as BM25 tokenizes them); terms no chunk holds are left out."""
        ...

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        """The ``n`` chunks closest to a unit ``vector`` by cosine, among those ``filters`` allow."""
        ...

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        """The ``n`` best chunks by BM25 for ``text`` with a positive score, among those ``filters`` allow."""
        ...

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        """The BM25 score for ``text`` of each chunk of ``ids`` (0 where no term matches)."""
        ...

    def prefetch(self, chunk_ids: Sequence[int]) -> None:
        """A hint that these chunks, their sentences and their documents are read next: a store in another
        process reads them in a few calls instead of a few per chunk; one in this process has nothing to do."""
        ...


@runtime_checkable
class WritableStore(Store, Protocol):
    """A store the pipeline (`qa.index.sync`) writes: what it records of the corpus's files, and commits.

    Each write is one commit and gives the new state as a new object; killed at any moment, the store holds
    the state before it or after it.  A store being built is not ``complete`` until its last commit.
    """

    @property
    def complete(self) -> bool:
        """False while a build runs: a killed build is resumed, never answered from."""
        ...

    @property
    def metadata_sha256(self) -> str | None:
        """The hash of the corpus's metadata.json the documents were read with (None: there was none)."""
        ...

    @property
    def skipped_files(self) -> Mapping[str, SkippedFile]:
        """The corpus files that are not indexed, with why and their stat."""
        ...

    @property
    def document_count(self) -> int: ...

    def recorded(self, doc_id: str) -> FileStat | None:
        """The recorded stat of a document's file (indexed or skipped), or None."""
        ...

    def recorded_ids(self) -> list[str]:
        """Every doc id the store records, indexed or skipped."""
        ...

    def recorded_stats(self, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The recorded size and modification time of each file (-1 for one not recorded)."""
        ...

    def write(
        self,
        *,
        add: Contents | None = None,
        remove: Collection[str] = (),
        skip: Mapping[str, SkippedFile] | None = None,
        complete: bool | None = None,
        metadata_sha256: str | None | bool = False,
    ) -> WritableStore:
        """The next state, committed: ``add`` indexed (a document indexed before is replaced), ``remove`` (doc
        ids, indexed or skipped) gone, ``skip`` recorded as skipped; ``complete`` and ``metadata_sha256`` set
        unless None / False."""
        ...

    def merged(self) -> WritableStore:
        """The same contents, reorganised where the store gains by it (small segments merged); may be itself."""
        ...

    def tidy(self) -> None:
        """Remove what no commit names (what a killed write left)."""
        ...

    def corpus_path(self) -> Path:
        """The corpus folder the store indexes."""
        ...


__all__ = ["Hits", "IndexFormatError", "IndexVersionError", "StaleIndexError", "Store", "StoreInfo", "WritableStore"]
