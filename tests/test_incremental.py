"""Incremental indexing: only new and changed documents are read and embedded; the store is the one a fresh build gives.

Costs are counted, never timed: the texts the embedder is asked for, the
corpus files the scan hashes, the segment files a build writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import qa
import qa.scan
from qa.stores.lexical import lexical_text, tokenize
from qa.stores.local import SEGMENTS, LocalStore

QUESTIONS = ["How long was Catania airport closed?", "quokka rangers island", "sourdough starter", "glacier ice"]


class CountingEmbedder(qa.HashEmbedder):
    """The fake embedder, counting the texts it is asked to embed."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.embedded = 0

    def encode(self, texts: list[str], *, progress=None) -> np.ndarray:
        self.embedded += len(texts)
        return super().encode(texts, progress=progress)


def live_ids(store) -> list[int]:
    """Every searchable chunk id of ``store``, ascending (a dense search as deep as the store, deleted rows masked)."""
    hits = store.dense_search(np.zeros(store.info.dim, dtype=np.float32), max(len(store), 1))
    return sorted(hits.ids.tolist())


def by_document(store) -> dict[str, list[int]]:
    """doc id -> its live chunk ids, in reading order."""
    out: dict[str, list[int]] = {}
    for i in live_ids(store):
        out.setdefault(store.chunk(i).doc_id, []).append(i)
    return out


def same_store(a, b) -> None:
    """``a`` and ``b`` hold the same documents, chunks, vectors, sentences and BM25 statistics, whatever their
    chunk ids and segments."""
    assert list(a.doc_ids()) == list(b.doc_ids()) and len(a) == len(b)
    assert a.skipped == b.skipped
    chunks_a, chunks_b = by_document(a), by_document(b)
    assert sorted(chunks_a) == list(a.doc_ids())
    for doc_id in a.doc_ids():
        assert a.document(doc_id) == b.document(doc_id)
        ids_a, ids_b = chunks_a[doc_id], chunks_b[doc_id]
        assert [a.chunk(i) for i in ids_a] == [b.chunk(i) for i in ids_b]
        for i, j in zip(ids_a, ids_b, strict=True):
            assert np.array_equal(a.vector(i), b.vector(j))
            (spans_a, vectors_a), (spans_b, vectors_b) = a.sentences_of(i), b.sentences_of(j)
            assert np.array_equal(spans_a, spans_b) and np.array_equal(vectors_a, vectors_b)
    terms = sorted({t for i in live_ids(a) for t in chunk_tokens(a, i)} | {"nowhere"})
    assert a.document_frequencies(terms) == b.document_frequencies(terms)
    for question in QUESTIONS:
        hits_a, hits_b = a.lexical_search(question, 10), b.lexical_search(question, 10)
        assert [a.chunk(i) for i in hits_a.ids] == [b.chunk(i) for i in hits_b.ids]
        assert np.allclose(hits_a.scores, hits_b.scores, rtol=1e-6)


def chunk_tokens(store, chunk_id: int) -> list[str]:
    chunk = store.chunk(chunk_id)
    return tokenize([lexical_text(store.document(chunk.doc_id), chunk)])[0]


def chunks_and_sentences(store, doc_id: str) -> int:
    """The texts a build embeds for one document: its chunks and their sentences."""
    ids = by_document(store)[doc_id]
    return len(ids) + sum(len(store.sentences_of(i)[0]) for i in ids)


def everything(store) -> int:
    return sum(chunks_and_sentences(store, d) for d in store.doc_ids())


def vectors_of(store, doc_id: str) -> np.ndarray:
    return np.stack([store.vector(i) for i in by_document(store)[doc_id]])


def segment_files(index_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``<index>/segments/``: its inode, modification time and size."""
    out = {}
    for path in sorted((index_dir / SEGMENTS).rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(index_dir).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


@pytest.fixture
def counting() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def hashed(monkeypatch) -> list[Path]:
    """The corpus files the scan hashes, in order."""
    calls: list[Path] = []
    real = qa.scan.file_sha256

    def counted(path: Path) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(qa.scan, "file_sha256", counted)
    return calls


def test_editing_one_file_re_embeds_only_its_chunks(tiny_corpus: Path, index_dir: Path, counting):
    first = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == everything(first.store) > 0
    beta = tiny_corpus / "beta.txt"
    beta.write_text(beta.read_text().replace("six hours", "seven hours"))
    before = segment_files(index_dir)
    counting.embedded = 0
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == chunks_and_sentences(engine.store, "beta.txt") < everything(engine.store)
    after = segment_files(index_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # no segment file rewritten
    assert len({k.split("/")[1] for k in after} - {k.split("/")[1] for k in before}) == 1  # one new segment
    for doc_id in ["alpha.txt", "sub/gamma.md"]:
        assert np.array_equal(vectors_of(engine.store, doc_id), vectors_of(first.store, doc_id))
    fresh = qa.build(tiny_corpus, index_dir.with_name("fresh"), embedder=qa.HashEmbedder(), incremental=False)
    same_store(engine.store, fresh.store)
    assert "seven hours" in engine.ask("How long was Catania airport closed?").passages[0].text


def test_an_unchanged_corpus_embeds_nothing_and_added_and_removed_files_are_handled(
    tiny_corpus: Path, index_dir: Path, counting
):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    counting.embedded = 0
    generation = LocalStore.open(index_dir).manifest.generation
    qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == 0
    assert LocalStore.open(index_dir).manifest.generation == generation  # nothing committed either
    (tiny_corpus / "sub" / "gamma.md").unlink()
    (tiny_corpus / "delta.txt").write_text("Glacier Log\n\nThe Aletsch glacier lost two metres of ice this summer.\n")
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == chunks_and_sentences(engine.store, "delta.txt")
    assert engine.documents == ["alpha.txt", "beta.txt", "delta.txt"]
    fresh = qa.build(tiny_corpus, index_dir.with_name("fresh"), embedder=qa.HashEmbedder(), incremental=False)
    same_store(engine.store, fresh.store)


def test_another_model_embeds_everything_again(tiny_corpus: Path, index_dir: Path):
    qa.build(tiny_corpus, index_dir, embedder=qa.HashEmbedder(32))
    counting = CountingEmbedder()
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert engine.store.info.model == counting.name and engine.store.info.dim == 64
    assert counting.embedded == everything(engine.store) > 0


def test_a_damaged_store_is_not_reused(tiny_corpus: Path, index_dir: Path, counting):
    qa.build(tiny_corpus, index_dir, embedder=counting)
    (segment,) = (index_dir / SEGMENTS).iterdir()
    (segment / "doc_ids.json").write_text('["alpha.txt"]')
    with pytest.raises(qa.IndexFormatError):
        LocalStore.open(index_dir)
    counting.embedded = 0
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert counting.embedded == everything(engine.store) > 0
    assert engine.documents == ["alpha.txt", "beta.txt", "sub/gamma.md"]
    assert not segment.exists()  # the damaged segment is gone, not left beside the new one


def test_a_stale_store_is_brought_up_to_date_by_load_and_its_unchanged_documents_keep_their_vectors(
    tiny_corpus: Path, index_dir: Path, counting
):
    first = qa.build(tiny_corpus, index_dir, embedder=counting)
    (tiny_corpus / "delta.txt").write_text("Glacier Log\n\nThe Aletsch glacier lost two metres of ice this summer.\n")
    with pytest.raises(qa.StaleIndexError, match="delta.txt"):
        qa.load(index_dir, strict=True, embedder=counting)
    before = segment_files(index_dir)
    counting.embedded = 0
    engine = qa.load(index_dir, embedder=counting)
    assert counting.embedded == chunks_and_sentences(engine.store, "delta.txt")
    assert "delta.txt" in engine.documents
    for doc_id in first.documents:
        assert np.array_equal(vectors_of(engine.store, doc_id), vectors_of(first.store, doc_id))
    after = segment_files(index_dir)
    assert {k: v for k, v in after.items() if k in before} == before
    counting.embedded = 0
    reloaded = qa.load(index_dir, strict=True, embedder=counting)  # saved, and current now
    assert counting.embedded == 0
    same_store(reloaded.store, engine.store)


def test_a_load_of_an_unchanged_corpus_hashes_no_file_and_a_touched_one_only_that(
    tiny_corpus: Path, index_dir: Path, hash_embedder, hashed
):
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    hashed.clear()
    qa.load(index_dir, strict=True, embedder=hash_embedder)
    assert hashed == []
    beta = tiny_corpus / "beta.txt"
    later = beta.stat().st_mtime_ns + 5_000_000_000
    os.utime(beta, ns=(later, later))  # touched, not edited
    engine = qa.load(index_dir, embedder=hash_embedder)
    assert [p.name for p in hashed] == ["beta.txt"]
    assert engine.documents == ["alpha.txt", "beta.txt", "sub/gamma.md"]


def station_corpus(folder: Path) -> Path:
    """Twelve documents of five chunks each (paragraphs of 60 words)."""
    folder.mkdir()
    for d in range(12):
        filler = " ".join(f"word{d}x{w}" for w in range(45))
        lines = [f"Station {d} report {i}: the gauge read {d * 10 + i} mm of rain. {filler}." for i in range(5)]
        (folder / f"station-{d:02}.txt").write_text(f"Station {d}\n\n" + "\n\n".join(lines) + "\n")
    return folder


def test_removing_a_document_marks_it_deleted_and_answers_as_a_fresh_build_of_the_rest(
    tmp_path: Path, counting, hash_embedder
):
    corpus = station_corpus(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    first = qa.build(corpus, index_dir, embedder=counting)
    assert len(first.store) >= 60
    before = segment_files(index_dir)
    (corpus / "station-03.txt").unlink()
    counting.embedded = 0
    engine = qa.build(corpus, index_dir, embedder=counting)
    assert counting.embedded == 0
    assert segment_files(index_dir) == before  # a deletion mark, no segment written or rewritten
    assert [e.deletes for e in engine.store.manifest.segments if e.deletes]
    loaded = qa.load(index_dir, embedder=hash_embedder, strict=True)
    fresh = qa.build(corpus, tmp_path / "fresh", embedder=hash_embedder, incremental=False)
    same_store(loaded.store, fresh.store)
    questions = ["What did the gauge of station 7 read in report 2?", "Station 3 rain", "millimetres of rain"]
    for question in questions:
        assert loaded.ask(question).to_dict() == fresh.ask(question).to_dict()
        found = loaded.search(question, 60)
        assert found and all(loaded.store.chunk(c.chunk_id).doc_id != "station-03.txt" for c in found)


def test_linked_folders_are_not_entered(tiny_corpus: Path, index_dir: Path, hash_embedder):
    try:
        (tiny_corpus / "sub" / "up").symlink_to("..", target_is_directory=True)  # a loop
        (tiny_corpus / "again").symlink_to("sub", target_is_directory=True)  # the same files under other ids
    except OSError:
        pytest.skip("no symbolic links here")
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert (
        engine.documents == [d.doc_id for d in qa.load_corpus(tiny_corpus)] == ["alpha.txt", "beta.txt", "sub/gamma.md"]
    )
    assert qa.load(index_dir, strict=True, embedder=hash_embedder).documents == engine.documents
