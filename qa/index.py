"""Build, save, load and check the dense (FAISS) + lexical (BM25) index of a corpus.

An index folder (format 3) holds everything needed to answer without the corpus files:

- ``manifest.json``: what determines the index (format, model, chunking, corpus
  file hashes, the files skipped) and a checksum of every other file, so a
  stale, foreign or damaged index is detected, never silently used;
- ``documents.jsonl``: each document's text and labelled segments;
- ``chunks.jsonl``: one chunk span per line, chunk id ``i`` on line ``i``;
- ``dense.faiss``: unit vectors under inner product (cosine), row ``i`` chunk
  ``i`` but in an HNSW index after removals: ``dense_rows.npy`` then maps rows
  to chunks (`qa.dense`);
- ``sentence_spans.npz``: each chunk's sentence spans (``spans``, ``offsets``),
  and ``sentence_vectors.npy`` their unit vectors (float16), for sentence-level
  evidence in the second stage and highlights;
- ``document_frequencies.json``: how many chunks each BM25 token occurs in;
- ``bm25/``: the bm25s index of the same chunks.

Files that hold text, spans or offsets are hashed in full; the two vector files,
by far the largest, by a sample (size, both ends, 64 blocks between), so that
verifying costs little more than reading.  Loading also checks the structure
(every chunk inside one segment of its document, every sentence inside its
chunk) and that each document's text is the corpus file the manifest hashed.

A save writes a hidden sibling folder and swaps it into place (one atomic
``renameat2(RENAME_EXCHANGE)`` on Linux, two renames elsewhere) under a lock
file, so a save killed at any moment leaves the old or the new index, and the
next save or load tidies up what it left.

This module is the index itself; `qa.folders` keeps its folder safe on disk
(checksums, lock, atomic swap, recovery), `qa.integrity` checks that its parts
agree with each other and with the corpus.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import zipfile
from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from qa import dense as dense_store
from qa import folders, integrity
from qa.chunking import Chunk, ChunkingSettings, Sentence, chunk_sentences
from qa.dense import Dense
from qa.documents import (
    METADATA_FILE,
    CorpusError,
    Document,
    Segment,
    corpus_files,
    doc_id_of,
    file_sha256,
    read_corpus,
)
from qa.filters import NO_FILTERS, Filters, only
from qa.models import DEFAULT_MODEL, Done, Embedder, PoolingEmbedder, installed_version, load_embedder
from qa.progress import Callback, Progress, silent
from qa.stores import Hits, StoreInfo
from qa.stores.lexical import Postings
from qa.stores.segment import Contents, FileStat

log = logging.getLogger("qa")

FORMAT_VERSION = 3  # 2: sentence spans and vectors; 3: checksums, split sentence files, document frequencies
_TOKEN_PATTERN = r"(?u)\b\w+\b"  # keep one-character tokens: "4 million", "6 bombings"

MANIFEST = "manifest.json"
DOCUMENTS = "documents.jsonl"
CHUNKS = "chunks.jsonl"
DENSE = dense_store.FILE
SENTENCE_SPANS = "sentence_spans.npz"
SENTENCE_VECTORS = "sentence_vectors.npy"
FREQUENCIES = "document_frequencies.json"
BM25 = "bm25"
REQUIRED_FILES = (DOCUMENTS, CHUNKS, DENSE, SENTENCE_SPANS, SENTENCE_VECTORS, FREQUENCIES)
SAMPLED_FILES = frozenset({DENSE, SENTENCE_VECTORS, dense_store.ROWS_FILE})  # large and numeric: a sampled checksum
LAYOUT = folders.Layout(
    record=MANIFEST, noun="index", record_label="the manifest", required=REQUIRED_FILES, sampled=SAMPLED_FILES
)

LOCK_TIMEOUT = 30.0  # seconds a save waits while another process saves the same index
_LOAD_ATTEMPTS = 3  # a load that overlapped a save of the same folder reads it again


class IndexFormatError(RuntimeError):
    """An index folder is missing, incomplete, corrupt or edited."""


class StaleIndexError(RuntimeError):
    """An index does not match its corpus, model or chunking settings."""


class IndexVersionError(StaleIndexError):
    """An index written in another format version: stale, so rebuilt like one whose corpus changed."""


IndexLockedError = folders.FolderLockedError  # another process kept the index's lock longer than a save waits


# --- the manifest ---------------------------------------------------------------


def read_manifest_data(path: Path) -> dict:
    """A manifest file's fields as stored; `IndexFormatError` when there is none or it is not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexFormatError(
            f"{path.parent}: no index here ({MANIFEST} is missing); build one with `qa index`"
        ) from exc
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: not a valid index manifest ({exc}); rebuild it with `qa index`") from exc
    if not isinstance(data, dict):
        raise IndexFormatError(f"{path}: not a valid index manifest (not an object); rebuild it with `qa index`")
    return data


def saved_checksums(index_dir: Path) -> object:
    """The checksums the manifest in ``index_dir`` records now (None when it cannot be read): which index is there."""
    try:
        return read_manifest_data(index_dir / MANIFEST).get("checksums")
    except IndexFormatError:
        return None


@dataclass
class Manifest:
    """Everything that determines an index's content, and the checksums of its files."""

    model: str
    model_version: str
    dim: int
    chunking: dict
    corpus_dir: str  # as given at build time; relative paths are relative to the index's parent
    files: dict[str, str]  # doc id -> sha256 of the file (skipped files included)
    metadata_sha256: str | None = None
    n_chunks: int = 0
    faiss: str = "Flat"
    skipped: dict[str, str] = field(default_factory=dict)  # doc id -> why it is not indexed
    checksums: dict[str, dict] = field(default_factory=dict)  # file of the index -> `folders.file_checksum`
    format_version: int = FORMAT_VERSION
    runtime: str = "torch"  # the embedding path that built it (`qa.models.load_embedder`); questions use it too

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """The manifest at ``path``; `IndexVersionError` for another format, `IndexFormatError` if unreadable."""
        data = read_manifest_data(path)
        version = data.get("format_version")
        if not isinstance(version, int):
            raise IndexFormatError(f"{path}: not a valid index manifest (no format version); rebuild it")
        if version != FORMAT_VERSION:
            raise IndexVersionError(f"{path.parent}: index format {version}, this version reads {FORMAT_VERSION}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise IndexFormatError(f"{path}: not a valid index manifest ({exc}); rebuild it") from exc


def corpus_fingerprint(corpus_dir: Path, exclude: Collection[str] = ()) -> tuple[dict[str, str], str | None]:
    """Hashes of every document file (skipped ones too) but ``exclude``, and of the metadata file if there is one."""
    files = {doc_id_of(p, corpus_dir): file_sha256(p) for p in corpus_files(corpus_dir, exclude)}
    meta = corpus_dir / METADATA_FILE
    return files, (file_sha256(meta) if meta.exists() else None)


def corpus_path(recorded: str, index_dir: str | Path) -> Path:
    """The corpus folder a manifest records (relative paths: from the index's parent)."""
    path = Path(recorded)
    return path if path.is_absolute() else Path(index_dir).resolve().parent / path


# --- what the embedder and BM25 read ----------------------------------------------

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


def embedding_text(document: Document, chunk: Chunk) -> str:
    """What the embedder reads for a chunk: the chunk, white space collapsed."""
    return " ".join(document.text[chunk.start : chunk.end].split())


_NON_SPACE = re.compile(r"\S+")


def embedding_text_and_spans(
    document: Document, chunk: Chunk, sentences: list[Sentence]
) -> tuple[str, list[tuple[int, int]]]:
    """`embedding_text` of a chunk, and where each of its sentences lies in that text."""
    words = list(_NON_SPACE.finditer(document.text, chunk.start, chunk.end))
    text = " ".join(w.group() for w in words)
    starts = [w.start() for w in words]
    collapsed = list(itertools.accumulate((len(w.group()) + 1 for w in words[:-1]), initial=0))

    def at(offset: int) -> int:  # a document offset inside the chunk -> the same place in ``text``
        i = max(bisect_right(starts, offset) - 1, 0)
        return collapsed[i] + min(max(offset - starts[i], 0), len(words[i].group()))

    return text, [(at(s.start), at(s.end - 1) + 1) for s in sentences]


def _embed_pooled(
    documents: dict[str, Document], fresh: dict[Chunk, list[Sentence]], embedder: PoolingEmbedder, progress: Callback
) -> tuple[dict[Chunk, np.ndarray], dict[Chunk, tuple[np.ndarray, np.ndarray]]]:
    """Chunk vectors and their sentences' vectors from one pass (sentences pooled in context)."""
    progress(Progress("embedding", 0, len(fresh)))
    if not fresh:
        return {}, {}
    texts, spans = zip(*(embedding_text_and_spans(documents[c.doc_id], c, s) for c, s in fresh.items()), strict=True)
    vectors, parts = embedder.encode_pooled(
        list(texts), list(spans), progress=lambda n: progress(Progress("embedding", n, len(fresh)))
    )
    embedded = dict(zip(fresh, vectors, strict=True))
    pooled = {
        c: (np.asarray([(s.start, s.end) for s in sentences], dtype=np.int64).reshape(-1, 2), part)
        for (c, sentences), part in zip(fresh.items(), parts, strict=True)
    }
    return embedded, pooled


def _embed_twice(
    documents: dict[str, Document],
    chunks: list[Chunk],
    fresh: dict[Chunk, list[Sentence]],
    embedder: Embedder,
    progress: Callback,
    known: dict[Chunk, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[Chunk, np.ndarray], Sentences]:
    """Chunk vectors, then every sentence embedded on its own (the torch reference path)."""
    prepared = Sentences.prepare(documents, fresh)  # fresh chunks have no known sentences either
    texts = [embedding_text(documents[c.doc_id], c) for c in fresh]
    total = len(texts) + sum(len(t) for _, t in prepared.values())
    progress(Progress("embedding", 0, total))
    embedded = {}
    if texts:
        chunk_vectors = embedder.encode(texts, progress=lambda n: progress(Progress("embedding", n, total)))
        embedded = dict(zip(fresh, chunk_vectors, strict=True))
    sentences = Sentences.of(
        chunks, prepared, embedder, lambda n: progress(Progress("embedding", len(texts) + n, total)), known
    )
    return embedded, sentences


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
    return " | ".join(context) + "\n" + embedding_text(document, chunk)


def document_frequencies(tokens: list[list[str]]) -> dict[str, int]:
    """How many chunks each token occurs in, from the token lists BM25 indexes (the second stage's IDF)."""
    counts = Counter(t for chunk in tokens for t in set(chunk))
    return dict(sorted(counts.items()))


@dataclass
class Sentences:
    """Every chunk's sentences: document spans and unit vectors, chunk ``i`` owning rows ``offsets[i]:offsets[i+1]``.

    Stored at index time because embedding a candidate's sentences per
    question would cost a second per question on a CPU.
    """

    spans: np.ndarray  # (n, 2) int64 document offsets
    offsets: np.ndarray  # (chunks + 1,) int64
    vectors: np.ndarray  # (n, dim) float16

    @staticmethod
    def prepare(
        documents: dict[str, Document], chunks: dict[Chunk, list[Sentence]]
    ) -> dict[Chunk, tuple[list, list[str]]]:
        """Each chunk's sentence spans and the texts the embedder reads of them."""
        out = {}
        for c, sentences in chunks.items():
            text = documents[c.doc_id].text
            out[c] = (
                [(s.start, s.end) for s in sentences],
                [" ".join(text[s.start : s.end].split()) for s in sentences],
            )
        return out

    @classmethod
    def of(
        cls,
        chunks: list[Chunk],
        fresh: dict[Chunk, tuple[list, list[str]]],
        embedder: Embedder,
        progress: Done | None = None,
        known: dict[Chunk, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> Sentences:
        """The table of every chunk's sentences: those of ``fresh`` (`prepare`) embedded, the ``known`` ones reused."""
        known = known or {}
        texts = [t for c in chunks if c not in known for t in fresh[c][1]]
        embedded = embedder.encode(texts, progress=progress) if texts else np.zeros((0, embedder.dim))
        spans, offsets, parts, first = [], [0], [], 0
        for c in chunks:
            if c in known:
                chunk_spans, chunk_vectors = known[c]
                spans.extend(map(tuple, chunk_spans.tolist()))
                parts.append(np.asarray(chunk_vectors, dtype=np.float32))
            else:
                chunk_spans = fresh[c][0]
                spans.extend(chunk_spans)
                parts.append(embedded[first : first + len(chunk_spans)])
                first += len(chunk_spans)
            offsets.append(len(spans))
        vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim))
        return cls(
            np.asarray(spans, dtype=np.int64).reshape(-1, 2),
            np.asarray(offsets, dtype=np.int64),
            np.asarray(vectors, dtype=np.float16).reshape(len(spans), embedder.dim),
        )

    def write(self, folder: Path) -> None:
        """Spans and offsets in one file (hashed in full), the vectors in another (sampled)."""
        np.savez(folder / SENTENCE_SPANS, spans=self.spans, offsets=self.offsets)
        np.save(folder / SENTENCE_VECTORS, self.vectors)

    @classmethod
    def read(cls, folder: Path) -> Sentences:
        with np.load(folder / SENTENCE_SPANS, allow_pickle=False) as table:
            spans, offsets = table["spans"], table["offsets"]
        return cls(spans, offsets, np.load(folder / SENTENCE_VECTORS, mmap_mode=None, allow_pickle=False))

    def of_chunk(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The spans and vectors of one chunk's sentences, in reading order."""
        lo, hi = self.offsets[chunk_id], self.offsets[chunk_id + 1]
        return self.spans[lo:hi], self.vectors[lo:hi]

    def check(self, n_chunks: int, dim: int) -> str | None:
        """What is inconsistent about the table's shapes and types, or None."""
        n = len(self.spans)
        if self.spans.dtype.kind != "i" or self.offsets.dtype.kind != "i" or self.vectors.dtype != np.float16:
            return f"sentence table types disagree ({self.spans.dtype}, {self.offsets.dtype}, {self.vectors.dtype})"
        if self.offsets.shape != (n_chunks + 1,) or self.offsets[0] != 0 or self.offsets[-1] != n:
            return f"sentence offsets do not cover {n_chunks} chunks and {n} sentences"
        if np.any(np.diff(self.offsets) < 0) or self.spans.shape != (n, 2) or self.vectors.shape != (n, dim):
            return f"sentence table shapes disagree ({self.spans.shape} spans, {self.vectors.shape} vectors)"
        return None


@dataclass(frozen=True)
class Check:
    """What comparing an index with its corpus found; the two lists call for different errors."""

    stale: list[str]  # the corpus, model or settings changed since the build: `StaleIndexError`, rebuild
    problems: list[str]  # the index contradicts unchanged corpus files: `IndexFormatError`, it is damaged or forged


@dataclass(frozen=True)
class Reuse:
    """What an earlier index already holds of the documents that read as they did: chunks and vectors."""

    chunks: dict[str, list[Chunk]]  # doc id -> its chunks, when the chunking settings are the same
    vectors: dict[Chunk, np.ndarray]  # chunk -> its unit vector
    sentences: dict[Chunk, tuple[np.ndarray, np.ndarray]]  # chunk -> its sentence spans and vectors
    ids: dict[Chunk, int]  # chunk -> its id in the earlier index (whose dense index may be kept)

    @classmethod
    def of(
        cls, previous: Index | None, documents: dict[str, Document], embedder: Embedder, settings: ChunkingSettings
    ) -> Reuse:
        """The reusable parts of ``previous``: none unless it was built by the same model and version.

        A chunk is reused only when its document's text is exactly the earlier
        one's: its span then holds the same words, so its vectors are the same.
        """
        m = previous.manifest if previous is not None else None
        if m is None or (m.model, m.model_version, m.dim, m.runtime) != (
            embedder.name,
            embedder.version,
            embedder.dim,
            embedder.runtime,
        ):
            return cls({}, {}, {}, {})
        same = {d for d, doc in previous.documents.items() if d in documents and documents[d].text == doc.text}
        same_chunking = m.chunking == settings.to_dict()
        kept = [i for i, chunk in enumerate(previous.chunks) if chunk.doc_id in same]
        stored = previous.dense.vectors() if kept else None
        chunks: dict[str, list[Chunk]] = {}
        vectors, sentences, ids = {}, {}, {}
        for i in kept:
            chunk = previous.chunks[i]
            vectors[chunk], ids[chunk] = stored[i], i
            sentences[chunk] = previous.sentences.of_chunk(i)
            if same_chunking:
                chunks.setdefault(chunk.doc_id, []).append(chunk)
        return cls(chunks, vectors, sentences, ids)

    @staticmethod
    def documents(
        previous: Index | None, files: dict[str, str], metadata_sha256: str | None
    ) -> dict[str, Document | str]:
        """doc id -> the earlier document, or why the file was skipped, for each file whose hash is the one recorded.

        Such a file need not be read again (a changed ``metadata.json`` can
        change any document's title: then every file is read).
        """
        if previous is None or previous.manifest.metadata_sha256 != metadata_sha256:
            return {}
        m = previous.manifest
        unchanged = [d for d, h in files.items() if m.files.get(d) == h]
        known: dict[str, Document | str] = {d: m.skipped[d] for d in unchanged if d in m.skipped}
        return known | {d: previous.documents[d] for d in unchanged if d in previous.documents}


@dataclass
class Index:
    """A corpus's documents, chunks, dense vectors and BM25 index, searchable together."""

    manifest: Manifest
    documents: dict[str, Document]
    chunks: list[Chunk]
    dense: Dense
    lexical: bm25s.BM25
    sentences: Sentences
    frequencies: dict[str, int]  # token -> chunks holding it, as BM25 tokenized them
    embedder: Embedder | None = field(default=None, repr=False)
    _model_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # --- building ---------------------------------------------------------

    @classmethod
    def build(
        cls,
        corpus_dir: str | Path,
        *,
        embedder: Embedder | None = None,
        settings: ChunkingSettings = ChunkingSettings(),
        progress: Callback = silent,
        corpus_label: str | None = None,
        strict: bool = False,
        previous: Index | None = None,
        exclude: Collection[str] = (),
    ) -> Index:
        """Read, chunk, embed and index every usable document of ``corpus_dir`` (``strict``: every one).

        ``previous``: an earlier index of the corpus; the vectors of every
        document that reads and chunks exactly as it did are taken from it,
        so only new and changed documents are embedded (BM25 and the document
        frequencies are always recomputed: they are corpus-wide and cheap).
        ``exclude``: doc ids left out as if their files were gone.
        ``progress`` hears each phase's steps (`qa.progress`).
        """
        corpus_dir = Path(corpus_dir)
        embedder = embedder or load_embedder(DEFAULT_MODEL)
        files, meta_sha = corpus_fingerprint(corpus_dir, exclude)
        known = Reuse.documents(previous, files, meta_sha)
        corpus = read_corpus(corpus_dir, strict=strict, exclude=exclude, progress=progress, known=known)
        return cls.of_documents(
            corpus.documents,
            embedder=embedder,
            settings=settings,
            progress=progress,
            previous=previous,
            corpus_label=corpus_label or str(corpus_dir),
            files=files,
            metadata_sha256=meta_sha,
            skipped=corpus.skipped,
        )

    @classmethod
    def of_documents(
        cls,
        documents: list[Document],
        *,
        embedder: Embedder,
        settings: ChunkingSettings = ChunkingSettings(),
        progress: Callback = silent,
        previous: Index | None = None,
        corpus_label: str = "",
        files: dict[str, str] | None = None,
        metadata_sha256: str | None = None,
        skipped: dict[str, str] | None = None,
    ) -> Index:
        """The index of documents already read: chunked, embedded (but what ``previous`` holds), BM25-indexed."""
        by_id = {d.doc_id: d for d in documents}
        known = Reuse.of(previous, by_id, embedder, settings)
        packed = _chunk_all(documents, settings, progress, known.chunks)
        chunks = [c for d in documents for c in packed[d.doc_id]]
        if not chunks:
            raise CorpusError(f"{corpus_label or 'these documents'}: the documents hold no indexable text")
        fresh = [c for c in chunks if c not in known.vectors]
        log.info("embedding %d new or changed chunks, reusing %d", len(fresh), len(chunks) - len(fresh))
        fresh_sentences = {c: packed[c.doc_id][c] for c in fresh}
        if isinstance(embedder, PoolingEmbedder) and embedder.pools_sentences:
            embedded, pooled = _embed_pooled(by_id, fresh_sentences, embedder, progress)
            sentences = Sentences.of(chunks, {}, embedder, None, known.sentences | pooled)
        else:
            embedded, sentences = _embed_twice(by_id, chunks, fresh_sentences, embedder, progress, known.sentences)
        vectors = np.asarray([known.vectors.get(c, embedded.get(c)) for c in chunks], dtype=np.float32)
        progress(Progress("lexical index", 0, len(chunks)))
        vectors = vectors.reshape(len(chunks), embedder.dim)
        dense = previous.dense.updated([known.ids.get(c) for c in chunks], vectors) if known.ids else Dense.of(vectors)
        lexical, frequencies = _lexical_index(by_id, chunks)
        progress(Progress("lexical index", len(chunks), len(chunks)))
        manifest = Manifest(
            model=embedder.name,
            model_version=embedder.version,
            dim=embedder.dim,
            runtime=embedder.runtime,
            chunking=settings.to_dict(),
            corpus_dir=corpus_label,
            files=dict(files or {}),
            metadata_sha256=metadata_sha256,
            n_chunks=len(chunks),
            faiss=dense.kind,
            skipped=dict(skipped or {}),
        )
        return cls(manifest, by_id, chunks, dense, lexical, sentences, frequencies, embedder)

    # --- saving and loading -------------------------------------------------

    def save(self, index_dir: str | Path, *, lock_timeout: float | None = None, progress: Callback = silent) -> None:
        """Write the index into a hidden sibling folder and swap it in, holding the index's lock throughout.

        ``lock_timeout`` (default `LOCK_TIMEOUT`) is how long to wait for
        another process's save of the same folder before `IndexLockedError`.
        """
        self.manifest = folders.replace_folder(
            Path(index_dir),
            lambda new: _write_index(self, new, progress),
            _complete,
            LOCK_TIMEOUT if lock_timeout is None else lock_timeout,
            LAYOUT.noun,
        )

    @classmethod
    def load(cls, index_dir: str | Path, *, embedder: Embedder | None = None) -> Index:
        """Read and verify an index folder; `IndexFormatError` if anything is missing, corrupt or edited."""
        index_dir = Path(index_dir)
        folders.tidy(index_dir, _complete, LOCK_TIMEOUT, LAYOUT.noun)
        index = _read_verified(cls, index_dir)
        manifest = index.manifest
        if embedder is not None and (embedder.name, embedder.dim) != (manifest.model, manifest.dim):
            raise StaleIndexError(
                f"{index_dir}: built with {manifest.model} ({manifest.dim}-d), not {embedder.name} ({embedder.dim}-d)"
            )
        index.embedder = embedder
        return index

    # --- staleness and integrity against the corpus ---------------------------

    def corpus_path(self, index_dir: str | Path) -> Path:
        """The corpus folder this index was built from (relative paths: from the index's parent)."""
        return corpus_path(self.manifest.corpus_dir, index_dir)

    def check(
        self, corpus_dir: str | Path, *, settings: ChunkingSettings | None = None, model: str | None = None
    ) -> Check:
        """Why this index no longer matches ``corpus_dir``, and where it contradicts the files that did not change.

        A corpus file whose hash is the one recorded is the truth: the stored
        text of its document must be that file's text.  Each file is read once.
        """
        try:
            files, meta_sha = corpus_fingerprint(Path(corpus_dir))
        except CorpusError as exc:
            return Check(stale=[str(exc)], problems=[])
        unchanged = {f: h for f, h in files.items() if self.manifest.files.get(f) == h}
        problems = [
            f"{doc_id}: the index holds other text than this unchanged corpus file"
            for doc_id in integrity.text_mismatches(self.documents, unchanged)
        ]
        return Check(stale=self._stale(files, meta_sha, settings, model), problems=problems)

    def stale_reasons(
        self, corpus_dir: Path, *, settings: ChunkingSettings | None = None, model: str | None = None
    ) -> list[str]:
        """Why this index no longer matches ``corpus_dir`` (empty when it is current); see `check`."""
        return self.check(corpus_dir, settings=settings, model=model).stale

    def _stale(
        self, files: dict[str, str], meta_sha: str | None, settings: ChunkingSettings | None, model: str | None
    ) -> list[str]:
        """What changed since the build: corpus files, metadata, settings, model."""
        reasons = []
        old = self.manifest.files
        added, removed = sorted(set(files) - set(old)), sorted(set(old) - set(files))
        changed = sorted(f for f in set(files) & set(old) if files[f] != old[f])
        for label, names in (("added", added), ("removed", removed), ("changed", changed)):
            if names:
                reasons.append(f"{len(names)} document(s) {label}: {', '.join(names[:5])}")
        if meta_sha != self.manifest.metadata_sha256:
            reasons.append(f"{METADATA_FILE} changed")
        if settings is not None and settings.to_dict() != self.manifest.chunking:
            reasons.append("chunking settings changed")
        if model is not None and model != self.manifest.model:
            reasons.append(f"model changed: index has {self.manifest.model}, asked for {model}")
        installed = installed_version(self.manifest.model)
        if installed is not None and installed != self.manifest.model_version:
            reasons.append(f"model package changed: built with {self.manifest.model_version}, installed {installed}")
        return reasons

    # --- the store protocol (`qa.stores.Store`) -------------------------------

    @property
    def info(self) -> StoreInfo:
        m = self.manifest
        return StoreInfo(m.model, m.model_version, m.dim, m.runtime, dict(m.chunking))

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.manifest.skipped)

    def __len__(self) -> int:
        return len(self.chunks)

    def chunk(self, chunk_id: int) -> Chunk:
        return self.chunks[chunk_id]

    def document(self, doc_id: str) -> Document:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in this index") from None

    def has_document(self, doc_id: str) -> bool:
        return doc_id in self.documents

    def doc_ids(self) -> Iterator[str]:
        return iter(self.documents)

    def sources(self) -> list[str]:
        return self._sources

    @cached_property
    def _sources(self) -> list[str]:
        return sorted({c.source for c in self.chunks if c.source})

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.sentences.of_chunk(chunk_id)

    def vector(self, chunk_id: int) -> np.ndarray:
        return self.dense.vector(chunk_id)

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        return {t: self.frequencies[t] for t in terms if t in self.frequencies}

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        ids, scores = self.dense.search(vector, min(n, len(self.chunks)), filters.allowed_ids(self.chunks))
        return Hits(ids, scores)

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        scores = only(self._bm25(text), filters.allowed_ids(self.chunks))
        top = top_scores(scores, n)
        return Hits(top, scores[top])

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        return self._bm25(text)[np.asarray(ids, dtype=np.int64)]

    def _bm25(self, text: str) -> np.ndarray:
        """BM25 score of every chunk for ``text`` (zeros when no term is known)."""
        vocab = self.lexical.vocab_dict
        tokens = [t for t in tokenize([text])[0] if t in vocab]
        if not tokens:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self.lexical.get_scores(tokens)

    # --- the embedder ---------------------------------------------------------

    @property
    def model(self) -> Embedder:
        """The embedder the index was built with, loaded once on first use (threads may ask at once)."""
        if self.embedder is None:
            with self._model_lock:
                if self.embedder is None:
                    self.embedder = load_embedder(self.manifest.model, self.manifest.runtime)
        return self.embedder


def top_scores(scores: np.ndarray, n: int) -> np.ndarray:
    """The ids of the ``n`` highest positive scores, best first (ties: lower id first)."""
    top = np.argsort(-scores, kind="stable")[:n]
    return top[scores[top] > 0]


def _chunk_all(
    documents: list[Document], settings: ChunkingSettings, progress: Callback, known: dict[str, list[Chunk]]
) -> dict[str, dict[Chunk, list[Sentence] | None]]:
    """doc id -> its chunks in reading order, each with its sentences (None for the ``known`` chunks, reused)."""
    chunks: dict[str, dict[Chunk, list[Sentence] | None]] = {}
    progress(Progress("chunking", 0, len(documents)))
    for done, document in enumerate(documents, 1):
        if document.doc_id in known:
            chunks[document.doc_id] = dict.fromkeys(known[document.doc_id])
        else:
            chunks[document.doc_id] = dict(chunk_sentences(document, settings))
        progress(Progress("chunking", done, len(documents)))
    return chunks


def _lexical_index(documents: dict[str, Document], chunks: list[Chunk]) -> tuple[bm25s.BM25, dict[str, int]]:
    """The BM25 index of the chunks and the document frequencies of the very tokens it was given."""
    tokens = tokenize([lexical_text(documents[c.doc_id], c) for c in chunks])
    lexical = bm25s.BM25()
    lexical.index(tokens, show_progress=False)
    return lexical, document_frequencies(tokens)


# --- reading and verifying ------------------------------------------------------

_READ_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError, EOFError, zipfile.BadZipFile)


def _read_verified(cls: type[Index], index_dir: Path) -> Index:
    """The index in ``index_dir``, read again when a save replaced the folder while it was being read."""
    for attempt in range(_LOAD_ATTEMPTS):
        identity = _identity(index_dir)
        try:
            return _read_once(cls, index_dir)
        except IndexFormatError:
            if attempt + 1 == _LOAD_ATTEMPTS or _identity(index_dir) == identity:
                raise
    raise AssertionError("unreachable")


def _identity(path: Path) -> tuple[int, int] | None:
    """Which folder is at ``path`` now (a swap puts another one there)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _read_once(cls: type[Index], index_dir: Path) -> Index:
    """Verify the checksums, then read the files and check what they say against each other."""
    manifest = Manifest.read(index_dir / MANIFEST)
    if problem := folders.checksum_problem(index_dir, manifest.checksums, LAYOUT):
        raise IndexFormatError(f"{problem}; the index is damaged: rebuild it with `qa index`")
    try:
        chunks = [Chunk(**row) for row in _read_jsonl(index_dir / CHUNKS)]
        index = cls(
            manifest,
            _read_documents(index_dir / DOCUMENTS),
            chunks,
            Dense.read(index_dir),
            bm25s.BM25.load(str(index_dir / BM25)),
            Sentences.read(index_dir),
            _read_frequencies(index_dir / FREQUENCIES, len(chunks)),
        )
        problem = integrity.integrity_problem(index)
    except IndexFormatError:
        raise
    except _READ_ERRORS as exc:
        raise IndexFormatError(f"{index_dir}: corrupt or incomplete index ({exc}); rebuild it with `qa index`") from exc
    if problem:
        raise IndexFormatError(f"{index_dir}: {problem}; rebuild it with `qa index`")
    return index


def _read_documents(path: Path) -> dict[str, Document]:
    documents = {}
    for row in _read_jsonl(path):
        row["segments"] = [Segment(**s) for s in row["segments"]]
        documents[row["doc_id"]] = Document(**row)
    return documents


def _read_frequencies(path: Path, n_chunks: int) -> dict[str, int]:
    """The stored document frequencies; `ValueError` unless they are counts of ``n_chunks`` chunks."""
    data = json.loads(path.read_text(encoding="utf-8"))
    df = data["df"]
    if data["n_chunks"] != n_chunks or not isinstance(df, dict):
        raise ValueError(f"{path.name} counts {data['n_chunks']} chunks, {CHUNKS} holds {n_chunks}")
    if not all(isinstance(v, int) and 0 < v <= n_chunks for v in df.values()):
        raise ValueError(f"{path.name} holds counts that are not between 1 and {n_chunks}")
    return df


# --- writing ----------------------------------------------------------------------


def _write_index(index: Index, folder: Path, progress: Callback = silent) -> Manifest:
    """Every file of the index into a new ``folder``, the manifest with their checksums last; returns it.

    `folders.replace_folder` flushes the folder to disk before swapping it in.
    """
    folder.mkdir()
    steps = [
        lambda: index.dense.write(folder),
        lambda: index.lexical.save(str(folder / BM25)),
        lambda: index.sentences.write(folder),
        lambda: _write_jsonl(folder / CHUNKS, (asdict(c) for c in index.chunks)),
        lambda: _write_jsonl(folder / DOCUMENTS, (asdict(d) for d in index.documents.values())),
        lambda: _write_json(folder / FREQUENCIES, {"n_chunks": len(index.chunks), "df": index.frequencies}),
    ]
    progress(Progress("saving", 0, len(steps) + 1))
    for done, step in enumerate(steps, 1):
        step()
        progress(Progress("saving", done, len(steps) + 1))
    manifest = replace(index.manifest, checksums=folders.checksums(folder, LAYOUT))
    _write_json(folder / MANIFEST, asdict(manifest), indent=2)
    progress(Progress("saving", len(steps) + 1, len(steps) + 1))
    return manifest


def _write_json(path: Path, data: dict, indent: int | None = None) -> None:
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _complete(folder: Path) -> bool:
    """Whether a hidden copy is a whole index: its manifest (written last) is there and every checksum holds."""
    try:
        manifest = Manifest.read(folder / MANIFEST)
        return folders.checksum_problem(folder, manifest.checksums, LAYOUT) is None
    except (IndexFormatError, StaleIndexError, OSError):
        return False


def segment_contents(
    documents: list[Document],
    files: list[FileStat],
    *,
    embedder: Embedder,
    settings: ChunkingSettings = ChunkingSettings(),
    progress: Callback = silent,
) -> Contents:
    """What a segment of the local store holds for ``documents``: chunked, embedded, tokenized for BM25, in memory.

    The same chunks, sentence vectors, chunk vectors and BM25 tokens as an `Index` of the same documents.
    """
    by_id = {d.doc_id: d for d in documents}
    packed = _chunk_all(documents, settings, progress, {})
    chunks = [c for d in documents for c in packed[d.doc_id]]
    fresh = {c: packed[c.doc_id][c] for c in chunks}
    if isinstance(embedder, PoolingEmbedder) and embedder.pools_sentences:
        embedded, pooled = _embed_pooled(by_id, fresh, embedder, progress)
        sentences = Sentences.of(chunks, {}, embedder, None, pooled)
    else:
        embedded, sentences = _embed_twice(by_id, chunks, fresh, embedder, progress, {})
    vectors = np.asarray([embedded[c] for c in chunks], dtype=np.float32).reshape(len(chunks), embedder.dim)
    tokens = tokenize([lexical_text(by_id[c.doc_id], c) for c in chunks])
    return Contents(
        documents, files, chunks, sentences.spans, sentences.offsets, sentences.vectors, vectors, Postings.of(tokens)
    )
