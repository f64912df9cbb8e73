"""Build, save, load and check the dense (FAISS) + lexical (BM25) index of a corpus.

An index folder holds everything needed to answer without the corpus files:

- ``manifest.json``: what determines the index (format, model, chunking, corpus
  file hashes), so a stale or foreign index is detected, never silently used;
- ``documents.jsonl``: each document's text and labelled segments;
- ``chunks.jsonl``: one chunk span per line, row ``i`` is vector ``i``;
- ``dense.faiss``: unit vectors under inner product (cosine);
- ``sentences.npz``: each chunk's sentence spans and their unit vectors
  (float16), for sentence-level evidence in the second stage and highlights;
- ``bm25/``: the bm25s index of the same chunks.

Writes go to a temporary sibling folder that is renamed into place, so a
crash never leaves half an index behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import bm25s
import faiss
import numpy as np
import Stemmer

from qa.chunking import Chunk, ChunkingSettings, chunk_document, split_sentences
from qa.documents import METADATA_FILE, CorpusError, Document, Segment, corpus_files, file_sha256, load_corpus
from qa.models import DEFAULT_MODEL, Embedder, installed_version, load_embedder

FORMAT_VERSION = 2  # 2: sentence spans and vectors
HNSW_FROM = 200_000  # chunks; below this, exact search is fast enough
_TOKEN_PATTERN = r"(?u)\b\w+\b"  # keep one-character tokens: "4 million", "6 bombings"


class IndexFormatError(RuntimeError):
    """An index folder is missing, incomplete or corrupt."""


class StaleIndexError(RuntimeError):
    """An index does not match its corpus, model or chunking settings."""


@dataclass
class Manifest:
    """Everything that determines an index's content."""

    model: str
    model_version: str
    dim: int
    chunking: dict
    corpus_dir: str  # as given at build time; relative paths are relative to the index's parent
    files: dict[str, str]  # doc id -> sha256 of the file
    metadata_sha256: str | None = None
    n_chunks: int = 0
    faiss: str = "Flat"
    format_version: int = FORMAT_VERSION

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError as exc:
            raise IndexFormatError(
                f"{path.parent}: no index here (manifest.json is missing); build one with `qa index`"
            ) from exc
        except (OSError, ValueError, TypeError) as exc:
            raise IndexFormatError(f"{path}: not a valid index manifest ({exc})") from exc


def corpus_fingerprint(corpus_dir: Path) -> tuple[dict[str, str], str | None]:
    """Hashes of every document file, and of the metadata file if there is one."""
    files = {p.relative_to(corpus_dir).as_posix(): file_sha256(p) for p in corpus_files(corpus_dir)}
    meta = corpus_dir / METADATA_FILE
    return files, (file_sha256(meta) if meta.exists() else None)


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


@dataclass
class Sentences:
    """Every chunk's sentences: document spans and unit vectors, chunk ``i`` owning rows ``offsets[i]:offsets[i+1]``.

    Stored at index time because embedding a candidate's sentences per
    question would cost a second per question on a CPU.
    """

    spans: np.ndarray  # (n, 2) int64 document offsets
    offsets: np.ndarray  # (chunks + 1,) int64
    vectors: np.ndarray  # (n, dim) float16

    @classmethod
    def of(
        cls, documents: dict[str, Document], chunks: list[Chunk], embedder: Embedder, show_progress: bool = False
    ) -> Sentences:
        """Split every chunk into sentences and embed them."""
        spans, offsets, texts = [], [0], []
        for c in chunks:
            text = documents[c.doc_id].text
            for s in split_sentences(text, c.start, c.end):
                spans.append((s.start, s.end))
                texts.append(" ".join(text[s.start : s.end].split()))
            offsets.append(len(spans))
        vectors = embedder.encode(texts, show_progress=show_progress) if texts else np.zeros((0, embedder.dim))
        return cls(
            np.asarray(spans, dtype=np.int64).reshape(-1, 2),
            np.asarray(offsets, dtype=np.int64),
            np.asarray(vectors, dtype=np.float16).reshape(len(spans), embedder.dim),
        )

    def of_chunk(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The spans and vectors of one chunk's sentences, in reading order."""
        lo, hi = self.offsets[chunk_id], self.offsets[chunk_id + 1]
        return self.spans[lo:hi], self.vectors[lo:hi]

    def check(self, n_chunks: int, dim: int) -> str | None:
        """What is inconsistent about the table, or None."""
        n = len(self.spans)
        if self.offsets.shape != (n_chunks + 1,) or self.offsets[0] != 0 or self.offsets[-1] != n:
            return f"sentence offsets do not cover {n_chunks} chunks and {n} sentences"
        if np.any(np.diff(self.offsets) < 0) or self.spans.shape != (n, 2) or self.vectors.shape != (n, dim):
            return f"sentence table shapes disagree ({self.spans.shape} spans, {self.vectors.shape} vectors)"
        return None


@dataclass
class Index:
    """A corpus's documents, chunks, dense vectors and BM25 index, searchable together."""

    manifest: Manifest
    documents: dict[str, Document]
    chunks: list[Chunk]
    dense: faiss.Index
    lexical: bm25s.BM25
    sentences: Sentences
    embedder: Embedder | None = field(default=None, repr=False)

    # --- building ---------------------------------------------------------

    @classmethod
    def build(
        cls,
        corpus_dir: str | Path,
        *,
        embedder: Embedder | None = None,
        settings: ChunkingSettings = ChunkingSettings(),
        show_progress: bool = False,
        corpus_label: str | None = None,
    ) -> Index:
        """Read, chunk, embed and index every document of ``corpus_dir``."""
        corpus_dir = Path(corpus_dir)
        embedder = embedder or load_embedder(DEFAULT_MODEL)
        docs = load_corpus(corpus_dir)
        files, meta_sha = corpus_fingerprint(corpus_dir)
        chunks = [c for d in docs for c in chunk_document(d, settings)]
        if not chunks:
            raise CorpusError(f"{corpus_dir}: the documents hold no indexable text")
        by_id = {d.doc_id: d for d in docs}
        vectors = embedder.encode([embedding_text(by_id[c.doc_id], c) for c in chunks], show_progress=show_progress)
        dense, kind = _dense_index(vectors)
        lexical = bm25s.BM25()
        lexical.index(tokenize([lexical_text(by_id[c.doc_id], c) for c in chunks]), show_progress=False)
        sentences = Sentences.of(by_id, chunks, embedder, show_progress)
        manifest = Manifest(
            model=embedder.name,
            model_version=embedder.version,
            dim=embedder.dim,
            chunking=settings.to_dict(),
            corpus_dir=corpus_label or str(corpus_dir),
            files=files,
            metadata_sha256=meta_sha,
            n_chunks=len(chunks),
            faiss=kind,
        )
        return cls(manifest, by_id, chunks, dense, lexical, sentences, embedder)

    # --- saving and loading -------------------------------------------------

    def save(self, index_dir: str | Path) -> None:
        """Write the index atomically: a temporary folder renamed over ``index_dir``."""
        index_dir = Path(index_dir)
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.", dir=index_dir.parent))
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; the index is as public as the folder it replaces
        try:
            faiss.write_index(self.dense, str(tmp / "dense.faiss"))
            self.lexical.save(str(tmp / "bm25"))
            np.savez(tmp / "sentences.npz", **asdict(self.sentences))
            _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in self.chunks))
            _write_jsonl(tmp / "documents.jsonl", (asdict(d) for d in self.documents.values()))
            (tmp / "manifest.json").write_text(json.dumps(asdict(self.manifest), indent=2, ensure_ascii=False) + "\n")
            _replace_dir(tmp, index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, index_dir: str | Path, *, embedder: Embedder | None = None) -> Index:
        """Read an index folder; `IndexFormatError` if anything is missing or corrupt."""
        index_dir = Path(index_dir)
        manifest = Manifest.read(index_dir / "manifest.json")
        if manifest.format_version != FORMAT_VERSION:
            raise StaleIndexError(
                f"{index_dir}: index format {manifest.format_version}, this version reads {FORMAT_VERSION}; rebuild it"
            )
        try:
            chunks = [Chunk(**row) for row in _read_jsonl(index_dir / "chunks.jsonl")]
            documents = {}
            for row in _read_jsonl(index_dir / "documents.jsonl"):
                row["segments"] = [Segment(**s) for s in row["segments"]]
                documents[row["doc_id"]] = Document(**row)
            dense = faiss.read_index(str(index_dir / "dense.faiss"))
            lexical = bm25s.BM25.load(str(index_dir / "bm25"))
            with np.load(index_dir / "sentences.npz", allow_pickle=False) as table:
                sentences = Sentences(table["spans"], table["offsets"], table["vectors"])
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
            raise IndexFormatError(
                f"{index_dir}: corrupt or incomplete index ({exc}); rebuild it with `qa index`"
            ) from exc
        if not (len(chunks) == manifest.n_chunks == dense.ntotal) or dense.d != manifest.dim:
            raise IndexFormatError(
                f"{index_dir}: index files disagree ({len(chunks)} chunks, {dense.ntotal} vectors of "
                f"dimension {dense.d}, manifest says {manifest.n_chunks} of {manifest.dim}); rebuild it"
            )
        if problem := sentences.check(len(chunks), manifest.dim):
            raise IndexFormatError(f"{index_dir}: {problem}; rebuild it")
        if embedder is not None and (embedder.name, embedder.dim) != (manifest.model, manifest.dim):
            raise StaleIndexError(
                f"{index_dir}: built with {manifest.model} ({manifest.dim}-d), not {embedder.name} ({embedder.dim}-d)"
            )
        return cls(manifest, documents, chunks, dense, lexical, sentences, embedder)

    # --- staleness --------------------------------------------------------

    def corpus_path(self, index_dir: str | Path) -> Path:
        """The corpus folder this index was built from (relative paths: from the index's parent)."""
        path = Path(self.manifest.corpus_dir)
        return path if path.is_absolute() else Path(index_dir).resolve().parent / path

    def stale_reasons(
        self, corpus_dir: Path, *, settings: ChunkingSettings | None = None, model: str | None = None
    ) -> list[str]:
        """Why this index no longer matches ``corpus_dir`` (empty when it is current)."""
        reasons = []
        try:
            files, meta_sha = corpus_fingerprint(corpus_dir)
        except CorpusError as exc:
            return [str(exc)]
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

    # --- searching --------------------------------------------------------

    @property
    def model(self) -> Embedder:
        """The embedder the index was built with, loaded on first use."""
        if self.embedder is None:
            self.embedder = load_embedder(self.manifest.model)
        return self.embedder

    def encode_query(self, question: str) -> np.ndarray:
        return self.model.encode([question])[0]

    def dense_search(self, query_vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and cosine similarities of the ``n`` nearest chunks, best first."""
        n = min(n, len(self.chunks))
        scores, ids = self.dense.search(query_vector.reshape(1, -1).astype(np.float32), n)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def lexical_scores(self, question: str) -> np.ndarray:
        """BM25 score of every chunk for ``question`` (zeros when no term is known)."""
        vocab = self.lexical.vocab_dict
        tokens = [t for t in tokenize([question])[0] if t in vocab]
        if not tokens:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self.lexical.get_scores(tokens)

    def vector(self, chunk_id: int) -> np.ndarray:
        """The stored unit vector of a chunk."""
        return self.dense.reconstruct(int(chunk_id))


def _dense_index(vectors: np.ndarray) -> tuple[faiss.Index, str]:
    """Exact search for small corpora, HNSW from `HNSW_FROM` chunks on."""
    dim = vectors.shape[1]
    if len(vectors) >= HNSW_FROM:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
        kind = "HNSW32"
    else:
        index, kind = faiss.IndexFlatIP(dim), "Flat"
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, kind


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``; the old one is removed only once the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        if old is not None:
            old.rename(target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
