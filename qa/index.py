"""Indexing: a corpus flows scan → read → chunk → embed → write, one segment at a time.

`sync` brings a store up to date with its corpus folder: the scan
(`qa.scan`) finds the files added, changed or removed since the store
recorded them, by size and modification time; the removed ones are marked
deleted; the others are read, chunked, embedded and tokenized in batches of
about `SEGMENT_CHUNKS` chunks, each written as one segment and committed.
Memory holds one batch, never the corpus, and a build killed part-way
resumes from its last committed segment: the files it holds are unchanged.
"""

from __future__ import annotations

import itertools
import logging
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.chunking import Chunk, ChunkingSettings, Sentence, chunk_sentences
from qa.documents import (
    DOCUMENT_SUFFIXES,
    METADATA_FILE,
    CorpusError,
    Document,
    UnusableFile,
    file_sha256,
    load_document,
    read_metadata,
)
from qa.models import Done, Embedder, PoolingEmbedder
from qa.progress import Callback, Progress, silent
from qa.scan import Changes, changes_since
from qa.stores import WritableStore
from qa.stores.lexical import lexical_text, tokenize
from qa.stores.segment import Contents, FileStat, SkippedFile

log = logging.getLogger(__name__)  # "qa.index": the CLI lists skipped files itself

SEGMENT_CHUNKS = 100_000  # about this many chunks a build embeds and writes as one segment (its memory bound)
WORDS_PER_CHUNK = 130  # to estimate a document's chunks before chunking it


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
) -> tuple[dict[Chunk, np.ndarray], Sentences]:
    """Chunk vectors, then every sentence embedded on its own (the torch reference path)."""
    prepared = Sentences.prepare(documents, fresh)
    texts = [embedding_text(documents[c.doc_id], c) for c in fresh]
    total = len(texts) + sum(len(t) for _, t in prepared.values())
    progress(Progress("embedding", 0, total))
    embedded = {}
    if texts:
        chunk_vectors = embedder.encode(texts, progress=lambda n: progress(Progress("embedding", n, total)))
        embedded = dict(zip(fresh, chunk_vectors, strict=True))
    sentences = Sentences.of(
        chunks, prepared, embedder, lambda n: progress(Progress("embedding", len(texts) + n, total))
    )
    return embedded, sentences


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
        prepared: dict[Chunk, tuple[list, list[str]]],
        embedder: Embedder,
        progress: Done | None = None,
    ) -> Sentences:
        """The table of every chunk's sentences, each `prepare`d one embedded on its own."""
        texts = [t for c in chunks for t in prepared[c][1]]
        embedded = embedder.encode(texts, progress=progress) if texts else np.zeros((0, embedder.dim))
        bounds = np.cumsum([0, *(len(prepared[c][0]) for c in chunks)])
        parts = {
            c: (np.asarray(prepared[c][0], dtype=np.int64).reshape(-1, 2), embedded[a:b])
            for c, a, b in zip(chunks, bounds, bounds[1:], strict=False)
        }
        return cls.stacked(chunks, parts, embedder.dim)

    @classmethod
    def stacked(cls, chunks: list[Chunk], parts: dict[Chunk, tuple[np.ndarray, np.ndarray]], dim: int) -> Sentences:
        """The table of ``chunks``' sentences from each one's spans and vectors, in order."""
        counts = [len(parts[c][0]) for c in chunks]
        spans = np.concatenate([parts[c][0] for c in chunks] or [np.zeros((0, 2), np.int64)])
        vectors = np.concatenate([np.asarray(parts[c][1], dtype=np.float16) for c in chunks] or [np.zeros((0, dim))])
        return cls(
            spans.astype(np.int64).reshape(-1, 2),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            vectors.astype(np.float16).reshape(len(spans), dim),
        )


def _chunk_all(
    documents: list[Document], settings: ChunkingSettings, progress: Callback
) -> dict[str, dict[Chunk, list[Sentence]]]:
    """doc id -> its chunks in reading order, each with its sentences."""
    chunks: dict[str, dict[Chunk, list[Sentence]]] = {}
    progress(Progress("chunking", 0, len(documents)))
    for done, document in enumerate(documents, 1):
        chunks[document.doc_id] = dict(chunk_sentences(document, settings))
        progress(Progress("chunking", done, len(documents)))
    return chunks


def segment_contents(
    documents: list[Document],
    files: list[FileStat],
    *,
    embedder: Embedder,
    settings: ChunkingSettings = ChunkingSettings(),
    progress: Callback = silent,
) -> Contents:
    """What a segment of the local store holds for ``documents``: chunked, embedded, tokenized for BM25, in memory."""
    by_id = {d.doc_id: d for d in documents}
    packed = _chunk_all(documents, settings, progress)
    chunks = [c for d in documents for c in packed[d.doc_id]]
    fresh = {c: packed[c.doc_id][c] for c in chunks}
    if isinstance(embedder, PoolingEmbedder) and embedder.pools_sentences:
        embedded, pooled = _embed_pooled(by_id, fresh, embedder, progress)
        sentences = Sentences.stacked(chunks, pooled, embedder.dim)
    else:
        embedded, sentences = _embed_twice(by_id, chunks, fresh, embedder, progress)
    vectors = np.asarray([embedded[c] for c in chunks], dtype=np.float32).reshape(len(chunks), embedder.dim)
    progress(Progress("lexical index", 0, len(chunks)))
    tokens = tokenize([lexical_text(by_id[c.doc_id], c) for c in chunks])
    progress(Progress("lexical index", len(chunks), len(chunks)))
    return Contents(documents, files, chunks, sentences.spans, sentences.offsets, sentences.vectors, vectors, tokens)


def sync(
    store: WritableStore,
    corpus_dir: Path,
    *,
    embedder: Embedder,
    settings: ChunkingSettings,
    progress: Callback = silent,
    strict: bool = False,
    changes: Changes | None = None,
    segment_chunks: int | None = None,
) -> WritableStore:
    """``store`` brought up to date with ``corpus_dir``, committed segment by segment; the new state.

    ``changes``: what a scan already found (else the folder is scanned now).
    A changed ``metadata.json`` can change any document's title: then every
    document is read again.  ``segment_chunks``: about how many chunks go into
    one segment (default `SEGMENT_CHUNKS`).  `CorpusError` when the folder holds
    no document file, or none that can be used (``strict``: at the first that
    cannot).
    """
    metadata = read_metadata(corpus_dir)
    meta_path = corpus_dir / METADATA_FILE
    meta_sha = file_sha256(meta_path) if meta_path.exists() else None
    if changes is None:
        changes = changes_since(corpus_dir, store, store.metadata_sha256)
    # A store that records nothing yet holds only documents read with today's metadata.json: record its hash with
    # every commit, so that a killed build resumes from its last segment.  A store indexed with another
    # metadata.json keeps the old hash until every document is read again: a resumed update reads them all again.
    batch_meta: str | None | bool = meta_sha if not (store.document_count or store.skipped_files) else False
    if changes.others:
        others = ", ".join(changes.others[:10])
        log.warning("%s: skipped %d file(s) of unsupported format: %s", corpus_dir, len(changes.others), others)
    if not changes.added and not changes.changed and not store.document_count:
        raise CorpusError(f"{corpus_dir}: no {'/'.join(DOCUMENT_SUFFIXES)} documents")
    if changes.removed:
        store = store.write(remove=changes.removed, complete=False)
    todo = [*changes.added, *changes.changed]
    done = 0
    progress(Progress("reading", 0, len(todo)))
    if not todo:  # nothing to read: every later phase has nothing to do either
        for phase in ("chunking", "embedding", "lexical index", "saving"):
            progress(Progress(phase, 0, 0))
    for batch in _batches(corpus_dir, todo, segment_chunks or SEGMENT_CHUNKS):
        documents, files, skipped = [], [], {}
        for doc_id in batch:
            stat = changes.stats[doc_id]
            try:
                documents.append(load_document(corpus_dir / doc_id, corpus_dir, metadata.get(doc_id)))
                files.append(stat)
            except UnusableFile as exc:
                if strict:
                    raise
                skipped[doc_id] = SkippedFile(exc.reason, stat.size, stat.mtime_ns, stat.sha256)
            done += 1
            progress(Progress("reading", done, len(todo)))
        contents = segment_contents(documents, files, embedder=embedder, settings=settings, progress=progress)
        progress(Progress("saving", 0, 1))
        store = store.write(add=contents, skip=skipped, complete=False, metadata_sha256=batch_meta)
        progress(Progress("saving", 1, 1))
    if not store.document_count:
        reasons = ", ".join(f"{d} ({s.reason})" for d, s in list(store.skipped_files.items())[:10])
        raise CorpusError(f"{corpus_dir}: no usable documents; skipped: {reasons}")
    if store.skipped_files:
        read_now = set(todo)
        skipped_now = {d: s.reason for d, s in store.skipped_files.items() if d in read_now}
        if skipped_now:
            listed = ", ".join(f"{d} ({why})" for d, why in skipped_now.items())
            log.warning("%s: skipped %d file(s): %s", corpus_dir, len(skipped_now), listed)
    store = store.merged()
    if not store.complete or store.metadata_sha256 != meta_sha:
        store = store.write(complete=True, metadata_sha256=meta_sha)
    store.tidy()
    return store


def _batches(corpus_dir: Path, doc_ids: list[str], chunks: int) -> list[list[str]]:
    """``doc_ids`` in runs of about ``chunks`` chunks each, estimated from the files' sizes (6 bytes a word)."""
    batches: list[list[str]] = [[]]
    estimate = 0
    for doc_id in doc_ids:
        try:
            size = (corpus_dir / doc_id).stat().st_size
        except OSError:
            size = 0
        guess = max(1, size // (6 * WORDS_PER_CHUNK))
        if batches[-1] and estimate + guess > chunks:
            batches.append([])
            estimate = 0
        batches[-1].append(doc_id)
        estimate += guess
    return [b for b in batches if b]
