"""Incremental indexing: only new and changed documents are embedded; the index is the one a fresh build gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qa
from qa.index import Index


class CountingEmbedder(qa.HashEmbedder):
    """The fake embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def encode(self, texts: list[str], *, progress=None) -> np.ndarray:
        self.embedded += len(texts)
        return super().encode(texts, progress=progress)


def same_index(a: Index, b: Index) -> None:
    assert a.chunks == b.chunks and a.documents == b.documents
    assert np.array_equal(a.dense.vectors(), b.dense.vectors())
    assert np.array_equal(a.sentences.spans, b.sentences.spans)
    assert np.array_equal(a.sentences.offsets, b.sentences.offsets)
    assert np.array_equal(a.sentences.vectors, b.sentences.vectors)
    assert a.frequencies == b.frequencies


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


def chunks_and_sentences(index: Index, doc_id: str) -> int:
    ids = [i for i, c in enumerate(index.chunks) if c.doc_id == doc_id]
    return len(ids) + sum(len(index.sentences.of_chunk(i)[0]) for i in ids)


def test_editing_one_file_re_embeds_only_its_chunks(tiny_corpus: Path, index_dir: Path, counting):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    first = counting.embedded
    beta = tiny_corpus / "beta.txt"
    beta.write_text(beta.read_text().replace("six hours", "seven hours"))
    counting.embedded = 0
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == chunks_and_sentences(engine.index, "beta.txt") < first
    fresh = qa.build(tiny_corpus, index_dir.with_name("fresh"), embedder=qa.HashEmbedder(), incremental=False)
    same_index(engine.index, fresh.index)
    assert "seven hours" in engine.ask("How long was Catania airport closed?").passages[0].text


def test_an_unchanged_corpus_embeds_nothing_and_added_and_removed_files_are_handled(
    tiny_corpus: Path, index_dir: Path, counting
):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    counting.embedded = 0
    qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == 0
    (tiny_corpus / "sub" / "gamma.md").unlink()
    (tiny_corpus / "delta.txt").write_text("Glacier Log\n\nThe Aletsch glacier lost two metres of ice this summer.\n")
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == chunks_and_sentences(engine.index, "delta.txt")
    assert engine.documents == ["alpha.txt", "beta.txt", "delta.txt"]
    fresh = qa.build(tiny_corpus, index_dir.with_name("fresh"), embedder=qa.HashEmbedder(), incremental=False)
    same_index(engine.index, fresh.index)


def test_another_model_embeds_everything_again(tiny_corpus: Path, index_dir: Path):
    qa.build(tiny_corpus, index_dir, embedder=qa.HashEmbedder(32))
    counting = CountingEmbedder()
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == len(engine.index.chunks) + len(engine.index.sentences.spans)


def test_a_damaged_index_is_not_reused(tiny_corpus: Path, index_dir: Path, counting):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    (index_dir / "chunks.jsonl").write_text("")
    counting.embedded = 0
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == len(engine.index.chunks) + len(engine.index.sentences.spans)


def test_a_stale_index_is_read_once_and_its_unchanged_documents_keep_their_vectors(
    tiny_corpus: Path, index_dir: Path, counting, monkeypatch
):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    (tiny_corpus / "delta.txt").write_text("Glacier Log\n\nThe Aletsch glacier lost two metres of ice this summer.\n")
    reads, read = [], Index.load.__func__

    def counted_load(cls, folder, **kwargs):
        reads.append(folder)
        return read(cls, folder, **kwargs)

    monkeypatch.setattr(Index, "load", classmethod(counted_load))
    counting.embedded = 0
    engine = qa.load(index_dir, embedder=counting)
    assert len(reads) == 1
    assert counting.embedded == chunks_and_sentences(engine.index, "delta.txt")
