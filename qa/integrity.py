"""Whether an index's parts agree with each other and with the corpus files it hashed.

Checksums only show that the files are the ones the last save wrote; a forger
who edits a file and recomputes them, or a bug in a writer, is caught here:
every chunk must lie inside one segment of its document, every sentence inside
its chunk, and each document's text must be the corpus file the manifest
hashed, since answers quote that text verbatim.  All checks are O(chunks +
sentences), cheap enough to run at every load.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.chunking import Chunk
from qa.documents import TEXT_SUFFIXES, Document

if TYPE_CHECKING:  # qa.index imports this module
    from qa.index import Index, Manifest, Sentences

_DOCUMENTS = "documents.jsonl"  # qa.index.DOCUMENTS (not imported: qa.index imports this module)


def integrity_problem(index: Index) -> str | None:
    """The first way the index's parts contradict each other, or None; O(chunks + sentences)."""
    m, chunks = index.manifest, index.chunks
    if len(chunks) != m.n_chunks:
        return f"index files disagree ({len(chunks)} chunks, the manifest says {m.n_chunks})"
    return (
        index.dense.problem(len(chunks), m.dim)
        or index.sentences.check(len(chunks), m.dim)
        or _documents_problem(index.documents, m)
        or _chunks_problem(index.documents, chunks)
        or _sentences_problem(chunks, index.sentences)
    )


def text_mismatches(documents: dict[str, Document], hashes: dict[str, str]) -> list[str]:
    """Ids of the .txt/.md documents with a hash in ``hashes`` whose text is not the file so hashed."""
    return [
        doc_id
        for doc_id, doc in documents.items()
        if doc_id in hashes
        and Path(doc_id).suffix.lower() in TEXT_SUFFIXES
        and hashlib.sha256(doc.text.encode("utf-8")).hexdigest() != hashes[doc_id]
    ]


def _documents_problem(documents: dict[str, Document], manifest: Manifest) -> str | None:
    """Documents that are not the manifest's files, segments out of order, text that is not the hashed file."""
    expected = set(manifest.files) - set(manifest.skipped)
    if odd := sorted(set(documents) ^ expected):
        return f"{_DOCUMENTS} and the manifest disagree about document {odd[0]}"
    for doc in documents.values():
        if problem := _segments_problem(doc):
            return f"document {doc.doc_id}: {problem}"
    if edited := text_mismatches(documents, manifest.files):
        return f"the stored text of {edited[0]} is not the corpus file the manifest hashed (edited?)"
    return None


def _segments_problem(doc: Document) -> str | None:
    """Segments must be in order, apart, inside the text and on one page (chunks are found among them by bisection)."""
    pages = doc.page_starts
    if pages and (
        pages[0] != 0 or any(b <= a for a, b in zip(pages, pages[1:], strict=False)) or pages[-1] > len(doc.text)
    ):
        return "page starts are not increasing offsets into the text from 0"
    end = 0
    for seg in doc.segments:
        if not end <= seg.start < seg.end <= len(doc.text):
            return f"segment {seg.start}:{seg.end} is out of order or outside the text"
        if doc.page_at(seg.start) != doc.page_at(seg.end - 1):
            return f"segment {seg.start}:{seg.end} spans two pages"
        end = seg.end
    return None


def _chunks_problem(documents: dict[str, Document], chunks: list[Chunk]) -> str | None:
    """The first chunk that is not a clean span of one segment of its document, named."""
    starts = {doc_id: [s.start for s in doc.segments] for doc_id, doc in documents.items()}
    for i, chunk in enumerate(chunks):
        if problem := _chunk_problem(chunk, documents.get(chunk.doc_id), starts.get(chunk.doc_id, [])):
            return f"chunk {i} ({chunk.doc_id} {chunk.start}:{chunk.end}) {problem}"
    return None


def _chunk_problem(chunk: Chunk, doc: Document | None, starts: list[int]) -> str | None:
    """Why a chunk is not a stripped span inside one segment of its document, with that segment's labels."""
    if doc is None:
        return "belongs to no document of the index"
    if not 0 <= chunk.start < chunk.end <= len(doc.text):
        return "lies outside its document"
    at = bisect_right(starts, chunk.start) - 1
    segment = doc.segments[at] if at >= 0 else None
    if segment is None or chunk.end > segment.end:
        return "is not inside one segment"
    if (chunk.section, chunk.source) != (segment.section, segment.source):
        return "has other labels than its segment"
    if doc.text[chunk.start].isspace() or doc.text[chunk.end - 1].isspace():
        return "starts or ends with white space"
    return None


def _sentences_problem(chunks: list[Chunk], sentences: Sentences) -> str | None:
    """The first sentence span that is empty or outside the chunk that owns it (vectorised)."""
    n = len(chunks)
    owner = np.repeat(np.arange(n), np.diff(sentences.offsets))
    starts = np.fromiter((c.start for c in chunks), dtype=np.int64, count=n)[owner]
    ends = np.fromiter((c.end for c in chunks), dtype=np.int64, count=n)[owner]
    spans = sentences.spans
    bad = (spans[:, 0] < starts) | (spans[:, 1] > ends) | (spans[:, 0] >= spans[:, 1])
    if not bad.any():
        return None
    j = int(np.argmax(bad))
    return f"sentence {j} ({spans[j, 0]}:{spans[j, 1]}) is not inside chunk {owner[j]}"
