"""`qa.load` and `qa.build` over a store folder: stale stores brought up to date, damaged ones refused when strict and
rebuilt from their corpus otherwise, old formats rebuilt, the default index rebuilt from data/, one writer at a time."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import qa
import qa.models
import qa.store
from qa import folders
from qa.collection import JOURNAL
from qa.documents import METADATA_FILE
from qa.index import sync
from qa.models import Deferred
from qa.stores.local import MANIFEST, SEGMENTS, LocalStore
from tests.conftest import TINY_DOCS, write_corpus
from tests.test_incremental import CountingEmbedder
from tests.test_index import (
    MANIFEST_CORRUPTIONS,
    chunk_ids_of,
    edit_manifest,
    files_under,
    flip_byte,
    only_segment,
    read_manifest,
    referenced_files,
    truncate,
)

QUESTION = "How many quokkas did rangers count?"
DELTA = "Zebra Notes\n\nThe zanzibarquokka is an imaginary animal with stripes.\n"


def assert_quotes_the_corpus(engine: qa.Engine, corpus: Path) -> None:
    """Every passage is the corpus file's own text at its offsets."""
    answer = engine.ask(QUESTION)
    assert answer.passages
    for p in answer.passages:
        assert p.text == (corpus / p.doc_id).read_bytes().decode("utf-8")[p.start : p.end]
    assert any("12,000 quokkas" in p.text for p in answer.passages)


def chunks(store: LocalStore) -> list[qa.Chunk]:
    return [store.chunk(i) for d in store.doc_ids() for i in chunk_ids_of(store, d)]


# --- staleness --------------------------------------------------------------------------------


def test_a_fresh_store_is_not_stale(built: qa.Engine, index_dir: Path, hash_embedder, caplog):
    manifest = (index_dir / MANIFEST).read_bytes()
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder, settings=qa.ChunkingSettings(), strict=True)
        qa.load(index_dir, embedder=hash_embedder)
    assert caplog.text == "" and (index_dir / MANIFEST).read_bytes() == manifest  # nothing written
    assert engine.documents == built.documents


def test_a_touched_but_unchanged_file_is_not_stale(built: qa.Engine, tiny_corpus: Path, index_dir: Path, hash_embedder):
    path = tiny_corpus / "alpha.txt"
    path.write_bytes(path.read_bytes())  # a new modification time, the same contents
    qa.load(index_dir, embedder=hash_embedder, strict=True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: (c / "alpha.txt").write_text("Quokka Island Report\n\nA changed body.\n"), "changed: alpha.txt"),
        (lambda c: (c / "delta.txt").write_text(DELTA), "added: delta.txt"),
        (lambda c: (c / "sub" / "gamma.md").unlink(), "removed: sub/gamma.md"),
        (lambda c: (c / METADATA_FILE).write_text("{}"), f"{METADATA_FILE} changed"),
    ],
    ids=["modified", "added", "removed", "metadata"],
)
def test_a_corpus_change_makes_a_strict_load_fail_naming_it(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, change, reason
):
    change(tiny_corpus)
    with pytest.raises(qa.StaleIndexError, match=reason) as info:
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert str(index_dir) in str(info.value)


def test_a_metadata_change_is_stale_and_brought_up_to_date(tiny_corpus: Path, index_dir: Path, hash_embedder):
    (tiny_corpus / METADATA_FILE).write_text('{"alpha.txt": {"outlet": "A"}}')
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    qa.load(index_dir, embedder=hash_embedder, strict=True)  # current
    (tiny_corpus / METADATA_FILE).write_text('{"alpha.txt": {"outlet": "B"}}')
    with pytest.raises(qa.StaleIndexError, match="metadata.json changed"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert qa.load(index_dir, embedder=hash_embedder).document("alpha.txt").source == "B"
    assert qa.load(index_dir, embedder=hash_embedder, strict=True).document("alpha.txt").source == "B"


def test_changed_chunking_settings_are_stale(built, index_dir: Path, hash_embedder, caplog):
    other = qa.ChunkingSettings(target_words=40, max_words=170, min_words=10, overlap=0)
    with pytest.raises(qa.StaleIndexError, match="chunking settings changed"):
        qa.load(index_dir, embedder=hash_embedder, settings=other, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder, settings=other)
    assert "chunking settings changed" in caplog.text
    assert engine.store.info.chunking == read_manifest(index_dir)["info"]["chunking"] == other.to_dict()
    assert len(engine.store) > len(built.store)  # smaller chunks
    qa.load(index_dir, embedder=hash_embedder, settings=other, strict=True)


def test_another_model_is_stale(built, index_dir: Path, caplog):
    with pytest.raises(qa.StaleIndexError, match="model changed: index has hash-64 .*asked for hash-32"):
        qa.load(index_dir, embedder=qa.HashEmbedder(32), strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=qa.HashEmbedder(32))
    assert "model changed" in caplog.text
    assert (engine.store.info.model, engine.store.info.dim) == ("hash-32", 32)
    assert engine.store.vector(0).shape == (32,)


def test_another_version_of_the_model_package_is_stale(built, index_dir: Path, hash_embedder, monkeypatch):
    monkeypatch.setattr(qa.store, "installed_version", lambda name: "hash-models==2")
    with pytest.raises(qa.StaleIndexError, match="model package changed: built with 1, installed hash-models==2"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)


def test_a_non_strict_load_brings_a_stale_store_up_to_date(built, tiny_corpus: Path, index_dir: Path, caplog):
    (tiny_corpus / "delta.txt").write_text(DELTA)
    (tiny_corpus / "beta.txt").unlink()
    counting = CountingEmbedder()
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=counting)
    assert "bringing it up to date" in caplog.text
    assert "1 document(s) added: delta.txt" in caplog.text and "1 document(s) removed: beta.txt" in caplog.text
    assert engine.documents == ["alpha.txt", "delta.txt", "sub/gamma.md"]
    ids = chunk_ids_of(engine.store, "delta.txt")
    assert counting.embedded == len(ids) + sum(len(engine.store.sentences_of(i)[0]) for i in ids)  # only delta's
    assert engine.ask("zanzibarquokka").passages[0].doc_id == "delta.txt"
    again = qa.load(index_dir, embedder=counting, strict=True)  # committed: current now
    assert again.documents == engine.documents
    fresh = qa.build(tiny_corpus, index_dir.with_name("fresh"), embedder=qa.HashEmbedder())
    assert chunks(again.store) == chunks(fresh.store)
    assert again.ask(QUESTION).to_dict() == fresh.ask(QUESTION).to_dict()


def test_a_store_whose_corpus_is_gone_is_used_as_it_is(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, caplog
):
    tiny_corpus.rename(tiny_corpus.with_name("moved"))
    with pytest.raises(qa.StaleIndexError, match="its corpus folder .*corpus is missing"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "is missing; using the index as it is" in caplog.text
    assert engine.documents == built.documents
    assert engine.ask(QUESTION).to_dict() == built.ask(QUESTION).to_dict()


# --- an old format ------------------------------------------------------------------------------

FORMAT_3_FILES = ["documents.jsonl", "chunks.jsonl", "dense.faiss", "sentence_spans.npz", "sentence_vectors.npy"]


def write_format_3(index_dir: Path, version: int = 3, chunking: dict | None = None) -> None:
    """A folder as format 3 left it: whole files, and a manifest with the model and chunking at its top level."""
    shutil.rmtree(index_dir, ignore_errors=True)
    (index_dir / "bm25").mkdir(parents=True)
    (index_dir / "bm25" / "vocab.index.json").write_text("{}")
    for name in [*FORMAT_3_FILES, "document_frequencies.json"]:
        (index_dir / name).write_text("old\n")
    manifest = {
        "format_version": version,
        "model": "hash-64",
        "model_version": "1",
        "dim": 64,
        "runtime": "python",
        "chunking": chunking or qa.ChunkingSettings().to_dict(),
        "corpus_dir": "corpus",
        "files": {},
        "checksums": {},
        "n_chunks": 12,
        "skipped": {},
    }
    (index_dir / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("version", [3, 5])
def test_another_format_is_an_index_version_error_when_strict(
    tiny_corpus: Path, index_dir: Path, hash_embedder, version
):
    write_format_3(index_dir, version)
    with pytest.raises(qa.IndexVersionError, match=f"index format {version}, this version reads 4"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert issubclass(qa.IndexVersionError, qa.StaleIndexError)


def test_an_old_format_folder_is_rebuilt_with_its_model_and_chunking(
    tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch, caplog
):
    settings = qa.ChunkingSettings(target_words=20, max_words=170, min_words=5, overlap=0)
    write_format_3(index_dir, chunking=settings.to_dict())
    asked = []
    monkeypatch.setattr(qa.store, "load_embedder", lambda name, runtime=None: asked.append(name) or hash_embedder)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir)
    assert "index format 3" in caplog.text and "rebuilding it from" in caplog.text
    assert asked == ["hash-64"] and engine.store.info.chunking == settings.to_dict()
    assert sorted(p.name for p in index_dir.iterdir()) == [MANIFEST, SEGMENTS]  # nothing of format 3 is left
    assert read_manifest(index_dir)["format_version"] == 4
    assert_quotes_the_corpus(qa.load(index_dir, embedder=hash_embedder, strict=True), tiny_corpus)


# --- damaged stores ---------------------------------------------------------------------------------

DAMAGED = {
    "flipped dense.faiss": lambda d: flip_byte(only_segment(d) / "dense.faiss", -5),
    "truncated chunks.npy": lambda d: truncate(only_segment(d) / "chunks.npy"),
    "missing documents.jsonl": lambda d: (only_segment(d) / "documents.jsonl").unlink(),
    "an extra file": lambda d: (only_segment(d) / "notes.txt").write_text("hello"),
    "a missing segment": lambda d: shutil.rmtree(only_segment(d)),
    "garbled segments in the manifest": lambda d: edit_manifest(d, lambda m: m.update(segments=[{"name": 1}])),
}


@pytest.mark.parametrize("damage", list(DAMAGED.values()), ids=list(DAMAGED))
def test_a_damaged_store_is_rebuilt_by_a_non_strict_load(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, damage, caplog
):
    expected = chunks(built.store)  # before the damage: the store reads its tables memory-mapped
    damage(index_dir)
    with pytest.raises(qa.IndexFormatError):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "rebuilding it from" in caplog.text and str(index_dir) in caplog.text  # says why
    assert chunks(engine.store) == expected
    assert_quotes_the_corpus(engine, tiny_corpus)
    again = qa.load(index_dir, embedder=hash_embedder, strict=True)  # committed: sound now
    assert again.documents == built.documents
    assert files_under(index_dir) == referenced_files(index_dir)


def test_a_damaged_store_without_its_corpus_raises(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    flip_byte(only_segment(index_dir) / "dense.faiss", -5)
    tiny_corpus.rename(tiny_corpus.with_name("moved"))
    with pytest.raises(qa.IndexFormatError, match="dense.faiss"):
        qa.load(index_dir, embedder=hash_embedder)


def test_the_rebuild_keeps_the_manifest_model_and_chunking(
    tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch
):
    settings = qa.ChunkingSettings(target_words=20, max_words=170, min_words=5, overlap=0)
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder, settings=settings)
    flip_byte(only_segment(index_dir) / "dense.faiss", -5)
    asked = []
    monkeypatch.setattr(
        qa.store, "load_embedder", lambda name, runtime=None: asked.append((name, runtime)) or hash_embedder
    )
    engine = qa.load(index_dir)
    assert asked == [("hash-64", "python")]
    assert engine.store.info.chunking == settings.to_dict()


# --- the default index ------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch, hash_embedder) -> Path:
    """A repo-like folder: ``data/`` and its index ``embeddings/``, which are the defaults."""
    root = tmp_path / "repo"
    write_corpus(root / "data", TINY_DOCS)
    monkeypatch.setattr(qa.store, "default_index_dir", lambda: root / "embeddings")
    monkeypatch.setattr(qa.store, "default_corpus_dir", lambda: root / "data")
    qa.build(root / "data", root / "embeddings", embedder=hash_embedder)
    return root


NO_MANIFEST = MANIFEST_CORRUPTIONS | {
    "no folder": shutil.rmtree,
    "garbage everywhere": lambda d: [p.write_bytes(b"\0garbage") for p in d.rglob("*") if p.is_file()],
}


@pytest.mark.parametrize("corrupt", list(NO_MANIFEST.values()), ids=list(NO_MANIFEST))
def test_a_default_index_without_a_readable_manifest_is_rebuilt_from_data(repo: Path, hash_embedder, corrupt, caplog):
    corrupt(repo / "embeddings")
    with pytest.raises(qa.IndexFormatError):
        qa.load(embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(embedder=hash_embedder)
    assert "rebuilding it from" in caplog.text and str(repo / "data") in caplog.text
    assert set(engine.documents) == set(TINY_DOCS)
    assert read_manifest(repo / "embeddings")["corpus_dir"] == "data"
    assert_quotes_the_corpus(qa.load(embedder=hash_embedder, strict=True), repo / "data")


def test_without_a_manifest_the_rebuild_uses_the_default_model_and_chunking(repo: Path, hash_embedder, monkeypatch):
    (repo / "embeddings" / MANIFEST).write_text("not json")
    asked = []
    monkeypatch.setattr(
        qa.store, "load_embedder", lambda name, runtime=None: asked.append((name, runtime)) or hash_embedder
    )
    engine = qa.load()
    assert asked == [(qa.DEFAULT_MODEL, qa.DEFAULT_RUNTIME)]
    assert engine.store.info.chunking == qa.ChunkingSettings().to_dict()


def test_a_manifestless_index_elsewhere_is_not_rebuilt(repo: Path, tmp_path: Path, hash_embedder):
    other = tmp_path / "other"
    qa.build(repo / "data", other, embedder=hash_embedder)
    (other / MANIFEST).unlink()
    with pytest.raises(qa.IndexFormatError, match="no index here"):
        qa.load(other, embedder=hash_embedder)


def test_default_corpus_dir_is_the_repo_data(repo_root: Path):
    assert qa.store.default_corpus_dir() == repo_root / "data"


# --- one writer at a time ---------------------------------------------------------------------------


@contextlib.contextmanager
def held_by_another_writer(index_dir: Path, then=None):
    """The index's writer lock held by another thread until the block ends (``then`` runs before it lets go)."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with folders.writer_lock(index_dir, 1):
            holding.set()
            done.wait(30)
            if then is not None:
                then()

    writer = threading.Thread(target=hold)
    writer.start()
    assert holding.wait(10)
    try:
        yield done
    finally:
        done.set()
        writer.join(30)


def test_a_second_writer_waits_then_fails_clearly(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch
):
    monkeypatch.setattr(qa.store, "LOCK_TIMEOUT", 0.2)
    (tiny_corpus / "delta.txt").write_text(DELTA)
    manifest = (index_dir / MANIFEST).read_bytes()
    with held_by_another_writer(index_dir):
        with pytest.raises(qa.IndexLockedError, match="another writer is saving this folder"):
            with folders.writer_lock(index_dir, 0.1):
                pass
        for write in (
            lambda: qa.build(tiny_corpus, index_dir, embedder=hash_embedder),
            lambda: qa.load(index_dir, embedder=hash_embedder),  # stale: it would bring the store up to date
        ):
            started = time.perf_counter()
            with pytest.raises(qa.IndexLockedError, match="another writer is saving this index") as info:
                write()
            assert 0.2 <= time.perf_counter() - started < 5
            assert str(index_dir) in str(info.value)
    assert (index_dir / MANIFEST).read_bytes() == manifest  # nothing was written meanwhile
    assert "delta.txt" in qa.build(tiny_corpus, index_dir, embedder=hash_embedder).documents  # free again


def test_a_load_waits_for_a_writer_and_reads_what_it_committed(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder
):
    """A file copied into the corpus by a writer that has not committed yet is not staleness: the load waits."""
    (tiny_corpus / "delta.txt").write_text(DELTA)  # the writer's file, not indexed yet

    def commit() -> None:
        sync(LocalStore.open(index_dir), tiny_corpus, embedder=hash_embedder, settings=qa.ChunkingSettings())

    with held_by_another_writer(index_dir, then=commit) as done:
        threading.Timer(0.2, done.set).start()
        started = time.perf_counter()
        engine = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert time.perf_counter() - started >= 0.2
    assert "delta.txt" in engine.documents


def test_a_load_that_overlaps_a_commit_reads_the_store_again(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch
):
    """Another writer commits after this load opened the store and before it scanned the corpus: not staleness."""
    (tiny_corpus / "delta.txt").write_text(DELTA)
    opened = LocalStore.open
    commits = []

    def open_then_commit(cls, folder: Path) -> LocalStore:
        store = opened(folder)
        if not commits:
            commits.append(sync(opened(folder), tiny_corpus, embedder=hash_embedder, settings=qa.ChunkingSettings()))
        return store

    monkeypatch.setattr(LocalStore, "open", classmethod(open_then_commit))
    engine = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert commits and "delta.txt" in engine.documents


def test_a_load_undoes_what_a_killed_add_left_in_the_corpus(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    copy = tiny_corpus / "delta.txt"
    copy.write_text(DELTA)  # copied in, never committed
    generation = read_manifest(index_dir)["generation"]
    journal = {"generation": generation, "copies": [str(copy)], "deletes": []}
    (index_dir / JOURNAL).write_text(json.dumps(journal))
    engine = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert not copy.exists() and not (index_dir / JOURNAL).exists()
    assert engine.documents == built.documents


def test_a_load_finishes_what_a_killed_remove_committed(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    generation = read_manifest(index_dir)["generation"]
    built.store.write(remove=["beta.txt"])  # committed; its file not deleted yet
    journal = {"generation": generation, "copies": [], "deletes": [str(tiny_corpus / "beta.txt")]}
    (index_dir / JOURNAL).write_text(json.dumps(journal))
    engine = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert not (tiny_corpus / "beta.txt").exists() and not (index_dir / JOURNAL).exists()
    assert engine.documents == ["alpha.txt", "sub/gamma.md"]


def test_build_leaves_only_the_lock_beside_the_folder(tiny_corpus: Path, index_dir: Path, hash_embedder):
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder, strict=True)
    assert sorted(p.name for p in index_dir.parent.iterdir()) == [".index.lock", "corpus", "index"]
    assert files_under(index_dir) == referenced_files(index_dir)


# --- the embedder ------------------------------------------------------------------------------------


@pytest.fixture
def fresh_embedders():
    """No embedder loaded yet in this process, and none kept from this test."""
    qa.models._load_embedder.cache_clear()
    yield
    qa.models._load_embedder.cache_clear()


def test_the_embedder_an_index_records_is_loaded_once_when_threads_ask_at_once(
    built, index_dir: Path, monkeypatch, fresh_embedders
):
    loads = []

    class SlowToLoad(qa.HashEmbedder):
        def __init__(self, dim: int = 64):
            loads.append(dim)
            time.sleep(0.05)
            super().__init__(dim)

    monkeypatch.setattr(qa.models, "HashEmbedder", SlowToLoad)
    engine = qa.load(index_dir, strict=True)
    assert isinstance(engine.embedder, Deferred) and loads == []  # opening loads no model
    with ThreadPoolExecutor(8) as pool:
        vectors = list(pool.map(lambda _: engine.embedder.encode([QUESTION])[0], range(8)))
    assert loads == [64]
    assert all(np.array_equal(v, vectors[0]) for v in vectors)
    assert engine.ask(QUESTION).passages[0].doc_id == "alpha.txt"


def test_a_later_check_answers_at_once_then_catches_up_with_the_corpus(built, tiny_corpus: Path, index_dir: Path):
    """The chat's start: the committed store answers while the corpus is scanned in the background."""
    quiet = qa.load(index_dir, embedder=qa.HashEmbedder(), check="later")
    quiet.catching_up.join(timeout=60)
    assert quiet.store.manifest.generation == built.store.manifest.generation  # nothing changed: nothing written
    (tiny_corpus / "kiwi.txt").write_text("Kiwi Notes\n\nThe kiwi is a flightless bird of New Zealand.\n")
    engine = qa.load(index_dir, embedder=qa.HashEmbedder(), check="later")
    engine.catching_up.join(timeout=60)
    assert "kiwi.txt" in engine.documents
    assert engine.ask("flightless bird of New Zealand", k=1).passages[0].doc_id == "kiwi.txt"
    with pytest.raises(ValueError, match="strict"):
        qa.load(index_dir, strict=True, check="later")
