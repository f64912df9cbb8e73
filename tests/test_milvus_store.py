"""The Milvus store (`qa.MilvusStore`) through the product, in Milvus Lite files: builds, loads, answers like the
local store, adds and removes, and what kills, a second writer, a missing server and forged rows leave.

The contract every store follows is `tests/test_store_contract.py`; these are what only a store in another
process has to answer for.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

import qa
from tests.conftest import REPO_ROOT

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.stores.milvus import MilvusStore  # noqa: E402

QUESTIONS = [
    "How many people were killed in the Tartus bombing?",
    "Who was Zahran Alloush?",
    "What did the State Department say about joint air strikes?",
    "What do readers think about Russia and ISIS?",
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REPO_ROOT / "data", tmp_path / "corpus"))


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "qa.db")


def top(answer: qa.Answer) -> list[tuple[str, int, int]]:
    return [(p.doc_id, p.start, p.end) for p in answer.passages]


def all_chunks(store: qa.Store) -> list[tuple]:
    """Every chunk's fields, in doc id and offset order (chunk ids differ between builds)."""
    return sorted((c.doc_id, c.start, c.end, c.section, c.source or "") for c in map(store.chunk, store.chunk_ids()))


def test_it_answers_as_the_local_store_and_again_when_loaded(corpus, uri, tmp_path, hash_embedder):
    milvus = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    local = qa.build(corpus, tmp_path / "index", embedder=hash_embedder)
    again = qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)
    assert milvus.documents == local.documents and len(milvus.store) == len(local.store)
    for question in QUESTIONS:
        want = local.ask(question)
        for engine in (milvus, again):
            got = engine.ask(question)
            assert top(got) == top(want) and got.confidence == pytest.approx(want.confidence, abs=1e-6), question
            for passage in got.passages:  # verbatim, from the text Milvus holds
                assert engine.document(passage.doc_id).text[passage.start : passage.end] == passage.text


def test_an_ask_reads_by_key_in_a_few_calls_not_a_few_per_candidate(corpus, uri, hash_embedder, monkeypatch):
    engine = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    engine.ask(QUESTIONS[1])  # models loaded
    calls = []
    real = MilvusStore._call
    counted = lambda self, method, **kw: calls.append(method) or real(self, method, **kw)  # noqa: E731
    monkeypatch.setattr(MilvusStore, "_call", counted)
    answer = engine.ask(QUESTIONS[0])
    assert len(answer.passages) > 1 and engine.settings.rerank_depth >= 30
    assert calls.count("search") == 3 and len(calls) <= 10 and "query" not in calls, calls  # gets by key


def test_a_copied_index_answers_as_its_folder_and_keeps_the_corpus_in_step(corpus, uri, tmp_path, hash_embedder):
    (corpus / "binary.txt").write_bytes(b"\x00\x01" * 50)  # skipped: the copy records it as skipped too
    local = qa.build(corpus, tmp_path / "index", embedder=hash_embedder)
    notes = tmp_path / "wombat notes.txt"
    notes.write_text("Wombat census\n\nRangers counted 4,312 wombats in Narawntapu park in 2024.\n", encoding="utf-8")
    local.add([notes])  # a second segment
    local.remove(sorted(local.documents)[0])  # and a deletion mark: left out of the copy
    copied = qa.copy(tmp_path / "index", MilvusStore(uri), progress=(seen := []).append)
    assert [p.done for p in seen] == [0, 1, 2] and all(p.phase == "saving" for p in seen)
    assert copied.documents == local.documents and all_chunks(copied.store) == all_chunks(local.store)
    assert copied.store.skipped == local.store.skipped and "binary.txt" in copied.store.skipped
    for question in [*QUESTIONS, "How many wombats were counted in Narawntapu?"]:
        want, got = local.ask(question), copied.ask(question)
        assert top(got) == top(want) and got.confidence == pytest.approx(want.confidence, abs=1e-5), question
    again = qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)  # the same corpus folder: current
    assert again.documents == local.documents


def test_an_unfinished_index_is_not_copied(corpus, uri, tmp_path, hash_embedder):
    info = qa.build(corpus, tmp_path / "whole", embedder=hash_embedder).store.info
    store = qa.LocalStore.create(tmp_path / "index", info)
    with pytest.raises(qa.IndexFormatError, match="did not finish"):
        qa.copy(tmp_path / "index", MilvusStore(uri))
    assert store.complete is False and MilvusStore(uri).manifest is None  # nothing made


def test_add_and_remove_change_the_corpus_folder_and_the_store_together(corpus, uri, tmp_path, hash_embedder):
    engine = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    notes = tmp_path / "wombat notes.txt"
    notes.write_text("Wombat census\n\nRangers counted 4,312 wombats in Narawntapu park in 2024.\n", encoding="utf-8")
    assert engine.add([notes]) == ["wombat_notes.txt"] and (corpus / "wombat_notes.txt").is_file()
    assert "4,312" in engine.ask("How many wombats were counted in Narawntapu?").passages[0].text
    other = qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)  # another reader sees it
    assert other.store.has_document("wombat_notes.txt")
    assert engine.store._recorded == other.store._recorded  # what the writer carried over is what a listing finds
    engine.remove("wombat_notes.txt")
    assert not (corpus / "wombat_notes.txt").exists() and not engine.store.has_document("wombat_notes.txt")
    reloaded = qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)
    assert reloaded.documents == sorted(p.name for p in corpus.glob("*.txt"))
    assert engine.store._recorded == reloaded.store._recorded and engine.documents == reloaded.documents
    assert reloaded.store.document_frequencies(["wombat"]) == {}  # its terms counted out again
    sentences = reloaded.store._listed("sentences", "gen >= 0", ["id"])  # the removed chunks' sentences are gone
    assert len(sentences) == sum(len(reloaded.store.sentences_of(i)[0]) for i in reloaded.store.chunk_ids())


def test_a_changed_file_is_indexed_again_and_its_old_chunks_are_gone(corpus, uri, tmp_path, hash_embedder):
    qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    first = sorted(corpus.glob("*.txt"))[0]
    first.write_text("Harbour notice\n\nThe harbour bridge at Zanzibar was closed on Monday.\n", encoding="utf-8")
    with pytest.raises(qa.StaleIndexError, match="changed"):
        qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)
    engine = qa.load(store=MilvusStore(uri), embedder=hash_embedder)
    local = qa.build(corpus, tmp_path / "index", embedder=hash_embedder)
    assert all_chunks(engine.store) == all_chunks(local.store)
    assert engine.store.document_frequencies(["harbour", "zanzibar"]) == local.store.document_frequencies(
        ["harbour", "zanzibar"]
    )
    assert qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True).documents == engine.documents


KILLED = """
import os, signal, sys
sys.path.insert(0, {root!r})
import qa, qa.index
from qa.stores.milvus import MilvusStore
qa.index.SEGMENT_CHUNKS = 25  # several commits in a small build
commits = []
real = MilvusStore._write_manifest

def dying(self, manifest):
    before = self.manifest
    if {when}:
        commits.append(manifest.generation)
        if len(commits) == {at}:
            os.kill(os.getpid(), signal.SIGKILL)  # killed before this manifest lands
    real(self, manifest)

MilvusStore._write_manifest = dying
{action}
"""


COMMIT = "manifest.generation > (before.generation if before else -1)"  # a commit, not a reservation
CLEARED = "before is not None and before.tombstones and not manifest.tombstones"  # after the rows were deleted


def run_killed(action: str, at: int, when: str = COMMIT) -> None:
    script = KILLED.format(root=str(REPO_ROOT), at=at, when=when, action=textwrap.dedent(action))
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]


def test_a_build_killed_part_way_is_refused_then_resumed_to_what_an_uninterrupted_one_gives(
    corpus, uri, tmp_path, hash_embedder
):
    run_killed(f"qa.build({str(corpus)!r}, store=MilvusStore({uri!r}), embedder=qa.HashEmbedder())", at=3)
    with pytest.raises(qa.IndexFormatError, match="did not finish"):
        qa.load(store=MilvusStore(uri), embedder=hash_embedder, strict=True)
    resumed = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    whole = qa.build(corpus, store=MilvusStore(str(tmp_path / "whole.db")), embedder=hash_embedder)
    assert resumed.documents == whole.documents and len(resumed.store) == len(whole.store)
    assert all_chunks(resumed.store) == all_chunks(whole.store)
    for question in QUESTIONS:
        assert top(resumed.ask(question)) == top(whole.ask(question))


def test_an_add_killed_before_its_commit_is_never_seen_and_rolled_back_by_the_next_writer(
    corpus, uri, tmp_path, hash_embedder
):
    qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder).close()  # the Lite file, for the next process
    notes = tmp_path / "notes.txt"
    notes.write_text("Wombat census\n\nRangers counted 4,312 wombats in Narawntapu park.\n", encoding="utf-8")
    action = f"""
    engine = qa.load(store=MilvusStore({uri!r}), embedder=qa.HashEmbedder())
    engine.add([{str(notes)!r}])
    """
    terms = ["wombat", "census", "ranger", "count", "park"]  # the notes' terms; some are in the corpus too
    before = MilvusStore(uri)
    frequencies = before.document_frequencies(terms)
    before.close()
    assert frequencies and "wombat" not in frequencies
    run_killed(action, at=1)
    store = MilvusStore(uri)
    assert not store.has_document("notes.txt") and store.document_frequencies(terms) == frequencies
    written = store._query("chunks", 'doc_id == "notes.txt"', ["gen"])
    assert written and all(r["gen"] > store.manifest.generation for r in written)  # there, and invisible
    store.tidy()
    assert store._query("chunks", 'doc_id == "notes.txt"', ["gen"]) == []
    rows = store._query("terms", f"term in {json.dumps(terms)}", ["term", "count", "gen"])  # given their count back
    assert {r["term"]: r["count"] for r in rows if r["count"]} == frequencies
    assert all(r["gen"] <= store.manifest.generation for r in rows)
    assert qa.load(store=MilvusStore(uri), embedder=hash_embedder).store.has_document("notes.txt")  # the scan


@pytest.mark.parametrize("when", [COMMIT, CLEARED])
def test_a_remove_killed_leaves_the_old_state_or_the_new_one(corpus, uri, hash_embedder, when):
    qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder).close()
    doc = sorted(p.name for p in corpus.glob("*.txt"))[0]
    action = f"""
    engine = qa.load(store=MilvusStore({uri!r}), embedder=qa.HashEmbedder())
    engine.store.write(remove=[{doc!r}])
    """
    run_killed(action, at=1, when=when)
    store = MilvusStore(uri)
    removed = when == CLEARED  # killed before its commit: nothing changed; after it: removed, rows or not
    assert store.has_document(doc) is not removed
    assert any(c.doc_id == doc for c in map(store.chunk, store.chunk_ids())) is not removed
    store.tidy()
    tidied = MilvusStore(uri)
    assert not tidied.manifest.tombstones and tidied.has_document(doc) is not removed
    assert bool(tidied._query("chunks", f'doc_id == "{doc}"', ["id"])) is not removed


def test_a_second_writer_is_refused_until_the_first_is_done_or_gone(corpus, uri, hash_embedder, monkeypatch):
    store = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder).store
    monkeypatch.setattr(MilvusStore, "_lite", property(lambda self: False))  # as on a server, where many connect
    held = replace(store.manifest, reserved=f"someone@{time.time():.3f}")
    store._write_manifest(held)
    doc = next(store.doc_ids())
    with pytest.raises(qa.IndexLockedError, match="another writer"):
        store.write(remove=[doc])
    monkeypatch.setattr("qa.stores.milvus.RESERVATION_S", 0.0)  # a reservation that old: its writer died
    assert not store.write(remove=[doc]).has_document(doc)


def test_a_server_that_is_not_there_is_a_clear_error_at_once():
    started = time.monotonic()
    with pytest.raises(qa.StoreUnavailableError, match="127.0.0.1:1"):
        MilvusStore("http://127.0.0.1:1", timeout=2)
    assert time.monotonic() - started < 10


def test_a_server_that_never_answers_is_a_clear_error_within_the_timeout():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        started = time.monotonic()
        with pytest.raises(qa.StoreUnavailableError, match="Milvus"):
            MilvusStore(f"http://127.0.0.1:{listening.getsockname()[1]}", timeout=1)
        assert time.monotonic() - started < 10


def test_no_store_another_model_or_another_format_is_refused(corpus, uri, hash_embedder):
    with pytest.raises(qa.IndexFormatError, match="no qa store"):
        qa.load(store=MilvusStore(uri), embedder=hash_embedder)
    qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    with pytest.raises(qa.StaleIndexError, match="chunking settings changed"):
        qa.load(store=MilvusStore(uri), settings=qa.ChunkingSettings(target_words=100), strict=True)
    store = MilvusStore(uri)
    row = json.loads(store.manifest.to_json()) | {"format_version": 99}
    store._call("upsert", collection_name="qa_manifest", data=[{"key": "manifest", "value": json.dumps(row),
                                                                 "nothing": [0.0, 0.0]}])
    with pytest.raises(qa.StaleIndexError, match="format 99"):
        MilvusStore(uri)


def test_forged_text_is_never_shown(corpus, uri, hash_embedder):
    store = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder).store
    doc = next(store.doc_ids())
    row = store._query("documents", f'doc_id == "{doc}" and part == 0', ["*"])[0]
    row["body"] = row["body"].replace("Syria", "Sweden", 1)
    store._call("upsert", collection_name="qa_documents", data=[row])
    with pytest.raises(qa.IndexFormatError, match="not what was indexed"):
        MilvusStore(uri).document(doc)


def test_closing_releases_the_lite_file_for_the_next_process(corpus, uri, hash_embedder):
    engine = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    engine.close()
    script = f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); import qa; print(len(qa.MilvusStore({uri!r})))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == len(engine.store)


def test_without_pymilvus_it_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(ImportError, match=r"pip install \"qa\[milvus\]\""):
        MilvusStore("./nothing.db")


def test_listings_read_every_page_and_quietly(corpus, uri, hash_embedder, monkeypatch):
    store = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder).store
    monkeypatch.setattr("qa.stores.milvus.LIST_PAGE", 7)  # fewer rows a page than chunks or documents
    heard = logging.Handler()
    heard.emit = (records := []).append
    pages = logging.getLogger("pymilvus.client.iterator.query_iterator")
    pages.addHandler(heard)
    try:
        again = MilvusStore(uri)
        assert list(again.doc_ids()) == list(store.doc_ids()) and len(list(again.chunk_ids())) == len(store) > 7
    finally:
        pages.removeHandler(heard)
    assert not [r for r in records if "mvccTs" in r.getMessage()]  # Lite keeps no iterator timestamps: not news


def test_a_sessions_uploads_are_searched_over_a_milvus_store_which_is_never_written(
    corpus, uri, tmp_path, hash_embedder
):
    shared = qa.build(corpus, store=MilvusStore(uri), embedder=hash_embedder)
    notes = tmp_path / "wombat notes.txt"
    notes.write_text("Wombat census\n\nRangers counted 4,312 wombats in Narawntapu park in 2024.\n", encoding="utf-8")
    mine = shared.overlay([notes])
    wombats = mine.ask("How many wombats were counted in Narawntapu?")
    assert wombats.passages[0].doc_id == "wombat_notes.txt" and "4,312" in wombats.passages[0].text
    tartus = "How many people were killed in the Tartus bombing?"
    assert top(mine.ask(tartus))[0] == top(shared.ask(tartus))[0]  # the shared documents answer as before
    assert mine.documents == sorted([*shared.documents, "wombat_notes.txt"])
    store = mine.store
    upload = next(i for i in store.chunk_ids() if store.chunk(i).doc_id == "wombat_notes.txt")
    assert upload < 0 and store.dense_search(store.vector(upload), 1).ids.tolist() == [upload]
    assert store.lexical_scores("wombats Narawntapu", [upload])[0] > 0
    assert store.document_frequencies(["wombat"]) == store.top.document_frequencies(["wombat"]) != {}  # summed
    assert not shared.store.has_document("wombat_notes.txt") and MilvusStore(uri).manifest == shared.store.manifest
