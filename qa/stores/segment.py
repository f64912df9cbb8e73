"""One immutable segment of the local store: its documents, chunks, sentences, vectors and postings.

A segment is written once into its own folder and never changed (a removal
is a deletion mark kept by the store, a merge writes a new segment), so it
can be opened memory-mapped by many processes and read while another one
writes.  Opening reads no table whole: the numeric tables are memory-mapped,
a document's text is read from ``documents.jsonl`` at its recorded offset
when it is shown, and checked against the sha256 recorded for it then.

Files (every one checksummed by the store's manifest):

- ``documents.jsonl``: one document a line (id, title, outlet, author, labelled segments, pages, text);
- ``documents.npy``: per document, the byte range of its line, its first chunk, its text's sha256, and
  the size, modification time and sha256 of its corpus file (what the corpus scan compares);
- ``doc_ids.json``: the doc ids, in row order;
- ``chunks.npy``: per chunk, its document row, span, section and outlet (an index into ``sources.json``);
- ``sentence_spans.npy``, ``sentence_offsets.npy``, ``sentence_vectors.npy``: each chunk's sentences;
- ``dense.faiss`` (and ``vectors.npy`` in a large segment): the chunk vectors (`qa.stores.vectors`);
- ``lexical_*.npy``: the BM25 postings (`qa.stores.lexical`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.cache import ChunkCache
from qa.chunking import Chunk
from qa.documents import Document, Segment
from qa.filters import SECTIONS, Filters
from qa.stores.lexical import Postings, lexical_text, tokenize
from qa.stores.vectors import EXACT, Vectors

DOCUMENTS_CACHED = 1024  # documents a segment keeps parsed (a few KB each)

DOCUMENTS, DOC_TABLE, DOC_IDS, CHUNKS, SOURCES = (
    "documents.jsonl",
    "documents.npy",
    "doc_ids.json",
    "chunks.npy",
    "sources.json",
)
SPANS, OFFSETS, SENTENCE_VECTORS, DENSE = (
    "sentence_spans.npy",
    "sentence_offsets.npy",
    "sentence_vectors.npy",
    "dense.faiss",
)
SAMPLED = frozenset({DOCUMENTS, SPANS, SENTENCE_VECTORS, DENSE, EXACT, "lexical_rows.npy", "lexical_counts.npy"})

DOC_DTYPE = np.dtype(
    [
        ("offset", "<i8"),  # of the document's line in documents.jsonl
        ("length", "<i8"),
        ("first_chunk", "<i8"),  # its chunks are rows first_chunk .. the next document's first_chunk
        ("text_sha256", "u1", (32,)),
        ("file_size", "<i8"),
        ("file_mtime_ns", "<i8"),
        ("file_sha256", "u1", (32,)),
    ]
)
CHUNK_DTYPE = np.dtype([("doc", "<i4"), ("start", "<i8"), ("end", "<i8"), ("section", "u1"), ("source", "<i4")])


class SegmentError(RuntimeError):
    """A segment's files contradict each other or what they record; the message names the file."""


@dataclass(frozen=True)
class FileStat:
    """What the corpus scan compares of a document's file: size and modification time first, then the hash."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that is not indexed, why, and its stat (so that the scan sees when it changes)."""

    reason: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size, self.mtime_ns, self.sha256)


def text_sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Contents:
    """What goes into a segment, in memory: the pipeline's output (`qa.indexing`), before it is written."""

    documents: list[Document]
    files: list[FileStat]  # of each document
    chunks: list[Chunk]  # grouped by document, in the documents' order
    sentence_spans: np.ndarray  # (sentences, 2) int64
    sentence_offsets: np.ndarray  # (chunks + 1,) int64
    sentence_vectors: np.ndarray  # (sentences, dim) float16
    vectors: np.ndarray  # (chunks, dim) float32, unit
    tokens: list[list[str]]  # each chunk's BM25 tokens (`qa.stores.lexical.tokenize` of its `lexical_text`)

    @classmethod
    def join(cls, parts: Sequence[Contents]) -> Contents:
        """The contents of several, one after the other (a merge)."""
        offsets, sentences = [np.zeros(1, dtype=np.int64)], 0
        for part in parts:  # a part may hold no chunk (a segment whose documents are all deleted)
            offsets.append(part.sentence_offsets[1:] + sentences)
            sentences += int(part.sentence_offsets[-1])
        return cls(
            [d for p in parts for d in p.documents],
            [f for p in parts for f in p.files],
            [c for p in parts for c in p.chunks],
            np.concatenate([p.sentence_spans for p in parts]).reshape(-1, 2),
            np.concatenate(offsets),
            np.concatenate([p.sentence_vectors for p in parts]),
            np.concatenate([p.vectors for p in parts]),
            [t for p in parts for t in p.tokens],
        )


@dataclass(frozen=True, eq=False)
class StoredSegment:
    """An opened (or in-memory) segment: tables by row, documents read on demand."""

    name: str
    doc_table: np.ndarray  # DOC_DTYPE
    doc_ids: list[str]
    chunks: np.ndarray  # CHUNK_DTYPE
    sources: list[str]
    spans: np.ndarray
    offsets: np.ndarray
    sentence_vectors: np.ndarray
    dense: Vectors
    postings: Postings
    reader: DocumentReader

    @cached_property
    def doc_rows(self) -> dict[str, int]:
        """doc id -> row, made when a document filter first asks (not at open: 0.1 s at 300k documents)."""
        return dict(zip(self.doc_ids, range(len(self.doc_ids)), strict=True))

    # --- rows ---------------------------------------------------------------

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    def chunk(self, row: int) -> Chunk:
        c = self.chunks[row]
        source = int(c["source"])
        return Chunk(
            self.doc_ids[int(c["doc"])],
            int(c["start"]),
            int(c["end"]),
            SECTIONS[int(c["section"])],
            self.sources[source] if source >= 0 else None,
        )

    def document(self, row: int) -> Document:
        return self.reader.read(row)

    def chunk_rows(self, doc_row: int) -> range:
        """The chunk rows of a document."""
        first = int(self.doc_table["first_chunk"][doc_row])
        last = int(self.doc_table["first_chunk"][doc_row + 1]) if doc_row + 1 < len(self.doc_table) else self.n_chunks
        return range(first, last)

    def sentences_of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return np.asarray(self.spans[lo:hi]), np.asarray(self.sentence_vectors[lo:hi])

    def vector(self, row: int) -> np.ndarray:
        return self.dense.vector(row)

    def live_contents(self, deleted: Collection[int]) -> Contents:
        """What this segment holds but the documents of rows ``deleted``, as contents for a new segment (a merge):
        nothing is embedded again."""
        rows = [r for r in range(len(self.doc_ids)) if r not in deleted]
        documents = [self.document(r) for r in rows]
        chunk_rows = [c for r in rows for c in self.chunk_rows(r)]
        chunks = [self.chunk(c) for c in chunk_rows]
        sentences = [self.sentences_of(c) for c in chunk_rows]
        counts = [len(spans) for spans, _ in sentences]
        table = self.doc_table[rows] if rows else self.doc_table[:0]
        by_id = {d.doc_id: d for d in documents}
        return Contents(
            documents,
            [FileStat(int(t["file_size"]), int(t["file_mtime_ns"]), bytes(t["file_sha256"]).hex()) for t in table],
            chunks,
            np.concatenate([spans for spans, _ in sentences] or [np.zeros((0, 2), np.int64)]).reshape(-1, 2),
            np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64),
            np.concatenate([v for _, v in sentences] or [np.zeros((0, self.dense.dim), np.float16)]),
            self.dense.vectors(np.asarray(chunk_rows, dtype=np.int64)),
            tokenize([lexical_text(by_id[c.doc_id], c) for c in chunks]),
        )

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """A bool mask of the chunk rows ``filters`` let through (None: every row), computed column by column."""
        if not filters.active:
            return None
        mask = np.ones(self.n_chunks, dtype=bool)
        if filters.documents is not None:
            rows = [self.doc_rows[d] for d in filters.documents if d in self.doc_rows]
            mask &= np.isin(self.chunks["doc"], np.asarray(rows, dtype=np.int32))
        if filters.sources is not None:
            codes = [i for i, s in enumerate(self.sources) if s in filters.sources]
            mask &= np.isin(self.chunks["source"], np.asarray(codes, dtype=np.int32))
        if filters.sections is not None:
            codes = [i for i, s in enumerate(SECTIONS) if s in filters.sections]
            mask &= np.isin(self.chunks["section"], np.asarray(codes, dtype=np.uint8))
        return mask

    def dense_search(self, vector: np.ndarray, n: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the ``n`` nearest rows among ``allowed`` (a bool mask; None: all), best first."""
        return self.dense.search(vector, n, allowed)

    # --- writing and opening --------------------------------------------------

    @classmethod
    def of(cls, name: str, contents: Contents) -> StoredSegment:
        """A segment held in memory (an upload overlay's, or one about to be written)."""
        doc_table, doc_ids, chunks, sources = _tables(contents)
        return cls(
            name,
            doc_table,
            doc_ids,
            chunks,
            sources,
            contents.sentence_spans,
            contents.sentence_offsets,
            contents.sentence_vectors,
            Vectors.of(contents.vectors),
            Postings.of(contents.tokens),
            MemoryDocuments(contents.documents),
        )

    def write(self, folder: Path) -> None:
        """Every file of the segment into a new ``folder`` (the store checksums them and commits)."""
        folder.mkdir(parents=True)
        with (folder / DOCUMENTS).open("wb") as f:
            for row in range(len(self.doc_ids)):
                f.write(_document_line(self.document(row)))
        np.save(folder / DOC_TABLE, self.doc_table)
        (folder / DOC_IDS).write_text(json.dumps(self.doc_ids, ensure_ascii=False), encoding="utf-8")
        np.save(folder / CHUNKS, self.chunks)
        (folder / SOURCES).write_text(json.dumps(self.sources, ensure_ascii=False), encoding="utf-8")
        np.save(folder / SPANS, np.asarray(self.spans, dtype=np.int64))
        np.save(folder / OFFSETS, np.asarray(self.offsets, dtype=np.int64))
        np.save(folder / SENTENCE_VECTORS, np.asarray(self.sentence_vectors, dtype=np.float16))
        self.dense.write(folder)
        self.postings.write(folder)

    @classmethod
    def open(cls, name: str, folder: Path) -> StoredSegment:
        """The segment in ``folder``, memory-mapped; `SegmentError` naming the file that contradicts the others."""

        def array(file: str) -> np.ndarray:
            return np.load(folder / file, mmap_mode="r", allow_pickle=False)

        try:
            doc_table, chunks = array(DOC_TABLE), array(CHUNKS)
            doc_ids = json.loads((folder / DOC_IDS).read_text(encoding="utf-8"))
            sources = json.loads((folder / SOURCES).read_text(encoding="utf-8"))
            segment = cls(
                name,
                doc_table,
                doc_ids,
                chunks,
                sources,
                array(SPANS),
                array(OFFSETS),
                array(SENTENCE_VECTORS),
                Vectors.open(folder),
                Postings.open(folder),
                FileDocuments(folder / DOCUMENTS, doc_table),
            )
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise SegmentError(f"{folder}: unreadable segment ({exc})") from exc
        if problem := segment.problem():
            raise SegmentError(f"{folder}: {problem}")
        return segment

    def problem(self) -> str | None:
        """How the tables contradict each other, or None: shapes and types only, never a scan of the rows."""
        n_docs, n_chunks = len(self.doc_ids), len(self.chunks)
        if self.doc_table.dtype != DOC_DTYPE or self.chunks.dtype != CHUNK_DTYPE or len(self.doc_table) != n_docs:
            return f"{DOC_TABLE}, {DOC_IDS} and {CHUNKS} disagree"
        if self.offsets.shape != (n_chunks + 1,) or int(self.offsets[-1]) != len(self.spans):
            return f"{OFFSETS} does not cover {n_chunks} chunks and {len(self.spans)} sentences"
        dim = self.dense.dim
        if self.sentence_vectors.shape[0] != len(self.spans) or self.sentence_vectors.shape[1:] != (dim,):
            return f"{SENTENCE_VECTORS} holds {self.sentence_vectors.shape}, not {len(self.spans)} x {dim}"
        if problem := self.dense.problem(n_chunks, dim):
            return problem
        return self.postings.problem(n_chunks)


def _document_line(document: Document) -> bytes:
    return (json.dumps(asdict(document), ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")


def _tables(contents: Contents) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """The document and chunk tables of ``contents``, its doc ids and its outlets."""
    doc_ids = [d.doc_id for d in contents.documents]
    row_of = {d: i for i, d in enumerate(doc_ids)}
    sources = sorted({c.source for c in contents.chunks if c.source})
    code = {s: i for i, s in enumerate(sources)}
    chunks = np.zeros(len(contents.chunks), dtype=CHUNK_DTYPE)
    for i, c in enumerate(contents.chunks):
        chunks[i] = (row_of[c.doc_id], c.start, c.end, SECTIONS.index(c.section), code.get(c.source, -1))
    lines = [_document_line(d) for d in contents.documents]
    doc_table = np.zeros(len(doc_ids), dtype=DOC_DTYPE)
    doc_table["length"] = [len(line) for line in lines]
    doc_table["offset"] = np.concatenate([[0], np.cumsum(doc_table["length"])[:-1]]) if lines else []
    doc_table["first_chunk"] = np.searchsorted(chunks["doc"], np.arange(len(doc_ids)))
    for i, (document, stat) in enumerate(zip(contents.documents, contents.files, strict=True)):
        doc_table["text_sha256"][i] = np.frombuffer(text_sha256(document.text), dtype=np.uint8)
        doc_table["file_size"][i], doc_table["file_mtime_ns"][i] = stat.size, stat.mtime_ns
        doc_table["file_sha256"][i] = np.frombuffer(bytes.fromhex(stat.sha256), dtype=np.uint8)
    return doc_table, doc_ids, chunks, sources


class DocumentReader:
    """Reads a segment's documents by row."""

    def read(self, row: int) -> Document:
        raise NotImplementedError


class MemoryDocuments(DocumentReader):
    def __init__(self, documents: Sequence[Document]):
        self.documents = list(documents)

    def read(self, row: int) -> Document:
        return self.documents[row]


class FileDocuments(DocumentReader):
    """Documents read from ``documents.jsonl`` at their recorded offsets, checked against their recorded sha256.

    The file is opened once and kept open: a segment merged away and deleted
    meanwhile is still readable by a process that opened it.  Parsed
    documents are kept in a bounded cache.
    """

    def __init__(self, path: Path, doc_table: np.ndarray):
        self.path = path
        self.doc_table = doc_table
        self._file = path.open("rb")
        self.read = ChunkCache(self._read, DOCUMENTS_CACHED)

    def _read(self, row: int) -> Document:
        entry = self.doc_table[row]
        data = _pread(self._file, int(entry["offset"]), int(entry["length"]))
        try:
            fields = json.loads(data)
            fields["segments"] = [Segment(**s) for s in fields["segments"]]
            document = Document(**fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise SegmentError(f"{self.path}: document {row} is unreadable ({exc}); rebuild the index") from exc
        if text_sha256(document.text) != bytes(entry["text_sha256"]):
            raise SegmentError(
                f"{self.path}: the text of {document.doc_id!r} is not the text indexed (edited?); rebuild the index"
            )
        return document


def _pread(file, offset: int, length: int) -> bytes:
    return os.pread(file.fileno(), length, offset)
