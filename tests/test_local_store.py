"""Kill safety of the local store (issue 24): killed at any moment of a build, add, remove or merge, a store folder
shows the old state or the new one and keeps nothing else; a resumed build equals an uninterrupted one.

Every step a write takes is stopped at its k-th call, for every k: by an
exception in this process, and by SIGKILL in a forked child (which leaves
what an exception would have cleaned up).  A real build is killed in a
subprocess after its first commit, then resumed.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import faiss
import numpy as np
import pytest

import qa
import qa.index
import qa.stores.local
from qa import folders
from qa.index import segment_contents
from qa.stores import StoreInfo
from qa.stores.local import MANIFEST, LocalStore
from qa.stores.segment import Contents, StoredSegment
from tests.conftest import REPO_ROOT, TINY_DOCS, write_corpus
from tests.test_incremental import CountingEmbedder
from tests.test_index import chunk_ids_of, files_under, referenced_files
from tests.test_store_contract import stats

QUESTIONS = ["Do quokkas smile on Rottnest Island?", "volcano erupted lava airport", "sourdough starter flour"]
EMBEDDER = qa.HashEmbedder()


class Simulated(RuntimeError):
    pass


def state(store: LocalStore) -> dict:
    """What a store answers (its documents, skipped files, chunk count, both searches' chunks and scores), and how
    many segments hold it (a merge changes nothing else)."""

    def hits(found: qa.Hits) -> list[tuple[str, float]]:
        return sorted((repr(store.chunk(int(i))), round(float(s), 4)) for i, s in zip(*found, strict=True))

    out: dict = {
        "documents": {d: store.document(d) for d in store.doc_ids()},
        "skipped": store.skipped,
        "chunks": len(store),
        "segments": len(store.segments),
    }
    for q in QUESTIONS:
        out[f"bm25: {q}"] = hits(store.lexical_search(q, 20))
        out[f"dense: {q}"] = hits(store.dense_search(EMBEDDER.encode([q])[0], 20))
    return out


# --- every step of a write stopped ---------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """A committed store (alpha in one segment; beta and gamma in another, gamma deleted), what the operations
    add, and what each operation leaves."""

    folder: Path
    contents: Contents  # beta and gamma again: beta's old copy is marked deleted, a segment is added
    old: dict
    new: dict[str, dict]


OPERATIONS: dict[str, Callable[[LocalStore, Contents], LocalStore]] = {
    "add": lambda store, contents: store.write(add=contents),
    "remove": lambda store, contents: store.write(remove=["alpha.txt"]),
    "merge": lambda store, contents: store.merged([s.name for s in store.segments]),
}

# The steps of a write, each looked up where it is called when it is called.
STEPS: dict[str, tuple[object, str]] = {
    "write_atomically": (qa.stores.local, "write_atomically"),
    "sync_tree": (folders, "sync_tree"),
    "flush": (folders, "flush"),
    "StoredSegment.write": (StoredSegment, "write"),
    "np.save": (np, "save"),
    "faiss.write_index": (faiss, "write_index"),
    "manifest replace (os.replace)": (os, "replace"),
}
UNUSED = {"remove": {"sync_tree", "StoredSegment.write", "faiss.write_index"}}  # a removal writes no segment


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("base")
    corpus = write_corpus(root / "corpus", TINY_DOCS)
    documents = {d.doc_id: d for d in qa.load_corpus(corpus)}

    def contents(*doc_ids: str) -> Contents:
        chosen = [documents[d] for d in doc_ids]
        return segment_contents(chosen, stats(corpus, chosen), embedder=EMBEDDER)

    info = StoreInfo(EMBEDDER.name, EMBEDDER.version, EMBEDDER.dim, EMBEDDER.runtime, qa.ChunkingSettings().to_dict())
    folder = root / "store"
    store = LocalStore.create(folder, info).write(add=contents("alpha.txt"), complete=True)
    store = store.write(add=contents("beta.txt", "sub/gamma.md")).write(remove=["sub/gamma.md"])
    again = contents("beta.txt", "sub/gamma.md")
    new = {}
    for name, operation in OPERATIONS.items():
        copy = root / f"reference-{name}"
        shutil.copytree(folder, copy)
        new[name] = state(operation(LocalStore.open(copy), again))
    old = state(store)
    assert old["documents"].keys() == {"alpha.txt", "beta.txt"}
    assert all(new[name] != old for name in OPERATIONS)
    return Base(folder, again, old, new)


def stop_at(
    monkeypatch: pytest.MonkeyPatch, step: str, k: int, stop: Callable[[], None], steps: dict | None = None
) -> list[int]:
    """Make the ``k``-th call of ``step`` (of ``steps``, default `STEPS`) run ``stop`` instead; the calls are
    counted in the list returned."""
    owner, name = (steps or STEPS)[step]
    original = getattr(owner, name)
    calls: list[int] = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == k:
            stop()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def simulated_error() -> None:
    raise Simulated("disk full (simulated)")


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def killed_while(action: Callable[[], None], step: str, k: int) -> bool:
    """Run ``action`` in a forked child that is SIGKILLed at the ``k``-th call of ``step``; whether it was."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            with pytest.MonkeyPatch.context() as m:
                stop_at(m, step, k, kill_self)
                action()
        finally:
            os._exit(3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.002)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"the child stopped at {step} #{k} hung")
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 3, "the write failed in the child"
    return False


def check_after_stop(base: Base, folder: Path, operation: str, committed: bytes) -> None:
    """The folder shows the old state (or the new one, when the manifest was replaced before the stop); after
    `tidy` it holds only what the manifest names; the store is writable again."""
    after = LocalStore.open(folder)
    replaced = (folder / MANIFEST).read_bytes() != committed
    assert state(after) == (base.new[operation] if replaced else base.old)
    after.tidy()
    assert files_under(folder) == referenced_files(folder)
    again = LocalStore.open(folder)
    assert state(again) == state(after)
    if not replaced:
        done = OPERATIONS[operation](again, base.contents)
        assert state(done) == state(LocalStore.open(folder)) == base.new[operation]
        done.tidy()
        assert files_under(folder) == referenced_files(folder)


def stops_at(monkeypatch, step: str, k: int, call, steps=None) -> bool:
    """Whether ``call`` stopped (`Simulated`) with ``step`` made to fail at its ``k``-th call."""
    with monkeypatch.context() as m:
        stop_at(m, step, k, simulated_error, steps)
        try:
            call()
        except Simulated:
            return True
    return False


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_write_failing_at_any_step_leaves_the_old_state(
    base: Base, tmp_path: Path, monkeypatch, operation: str, step: str
):
    stops = 0
    for k in itertools.count(1):
        folder = tmp_path / f"stopped-{k}"
        shutil.copytree(base.folder, folder)
        before = LocalStore.open(folder)
        committed = (folder / MANIFEST).read_bytes()
        if not stops_at(monkeypatch, step, k, partial(OPERATIONS[operation], before, base.contents)):
            break
        stops += 1
        assert state(before) == base.old  # a store object answering meanwhile never changes
        check_after_stop(base, folder, operation, committed)
    assert (stops > 0) == (step not in UNUSED.get(operation, set())), f"{operation} calls {step} {stops} times"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_write_killed_at_any_step_leaves_the_old_state_or_the_new(
    base: Base, tmp_path: Path, operation: str, step: str
):
    kills = 0
    for k in itertools.count(1):
        folder = tmp_path / f"killed-{k}"
        shutil.copytree(base.folder, folder)
        before = LocalStore.open(folder)
        committed = (folder / MANIFEST).read_bytes()
        if not killed_while(lambda store=before: OPERATIONS[operation](store, base.contents), step, k):
            break
        kills += 1
        check_after_stop(base, folder, operation, committed)
    assert (kills > 0) == (step not in UNUSED.get(operation, set()))


def test_a_kill_leaves_files_that_tidy_removes(base: Base, tmp_path: Path):
    """The killed write's files are there until `tidy` (else the test above would prove nothing about it)."""
    folder = tmp_path / "store"
    shutil.copytree(base.folder, folder)
    store = LocalStore.open(folder)
    assert killed_while(lambda: OPERATIONS["add"](store, base.contents), "manifest replace (os.replace)", 2)
    left = files_under(folder) - referenced_files(folder)
    assert any(name.startswith("segments/") for name in left) and any(".manifest.json." in name for name in left)
    LocalStore.open(folder).tidy()
    assert files_under(folder) == referenced_files(folder)


# --- a build killed, then resumed ------------------------------------------------------------------------

ANIMALS = ["quokka", "bilby", "numbat", "wombat", "dingo", "echidna", "kiwi", "kea", "takahe", "tuatara"]
PLACES = ["river", "ridge", "coast", "forest"]
SEGMENT_CHUNKS = 10  # about ten files a segment: a build of the notes commits several
BUILD_QUESTIONS = ["How many bilbys were counted on island 12?", "numbat nests near the coast", "Ranger Weekly kiwi"]


def field_notes(folder: Path, n: int = 60) -> Path:
    """``n`` small notes, a metadata.json naming two outlets, and one file that is not UTF-8 (skipped)."""
    docs = {}
    for i in range(n):
        animal, place = ANIMALS[i % len(ANIMALS)], PLACES[i % len(PLACES)]
        docs[f"note{i:02d}.txt"] = (
            f"Field Note {i}\n\nRangers on island {i} counted {100 + 7 * i} {animal}s in spring. "
            f"The {animal} survey of site {i} also found {i % 4 + 2} nests near the {place}, "
            f"and the team will return to the {place} in autumn.\n"
        )
    write_corpus(folder, docs)
    (folder / "metadata.json").write_text(
        json.dumps({"note00.txt": {"outlet": "Ranger Weekly"}, "note37.txt": {"outlet": "Island Times"}})
    )
    (folder / "note45-bad.txt").write_bytes(b"Caf\xe9 notes\n\nNot UTF-8 at all.\n")
    return folder


def assert_same_store(a: LocalStore, b: LocalStore) -> None:
    """The same documents, chunks, sentences and vectors, and the same BM25 and dense answers."""
    assert list(a.doc_ids()) == list(b.doc_ids()) and a.skipped == b.skipped and len(a) == len(b)
    for doc_id in a.doc_ids():
        assert a.document(doc_id) == b.document(doc_id)
        ids_a, ids_b = chunk_ids_of(a, doc_id), chunk_ids_of(b, doc_id)
        assert [a.chunk(i) for i in ids_a] == [b.chunk(i) for i in ids_b]
        for i, j in zip(ids_a, ids_b, strict=True):
            assert np.array_equal(a.vector(i), b.vector(j))
            assert all(np.array_equal(x, y) for x, y in zip(a.sentences_of(i), b.sentences_of(j), strict=True))
    for q in BUILD_QUESTIONS:
        for search in ("lexical_search", "dense_search"):
            query = q if search == "lexical_search" else EMBEDDER.encode([q])[0]
            found_a, found_b = getattr(a, search)(query, 15), getattr(b, search)(query, 15)
            assert len(found_a.ids) > 0
            assert [a.chunk(int(i)) for i in found_a.ids] == [b.chunk(int(i)) for i in found_b.ids]
            assert np.allclose(found_a.scores, found_b.scores, atol=1e-6)


@pytest.fixture
def notes(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(qa.index, "SEGMENT_CHUNKS", SEGMENT_CHUNKS)
    return field_notes(tmp_path / "notes")


@pytest.fixture
def uninterrupted(notes: Path, tmp_path: Path) -> LocalStore:
    store = qa.build(notes, tmp_path / "uninterrupted", embedder=qa.HashEmbedder()).store
    assert len(store.manifest.segments) > 3 and store.skipped.keys() == {"note45-bad.txt"}
    assert store.document("note00.txt").source == "Ranger Weekly"
    return store


KILLED_BUILD = """
import sys, time
import qa, qa.index

qa.index.SEGMENT_CHUNKS = int(sys.argv[3])


class Slow(qa.HashEmbedder):
    def encode(self, texts, *, progress=None):
        time.sleep(0.1)
        return super().encode(texts, progress=progress)


qa.build(sys.argv[1], sys.argv[2], embedder=Slow())
print("finished")
"""


def generation(index_dir: Path) -> int:
    try:
        return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))["generation"]
    except FileNotFoundError:
        return -1


def test_a_build_killed_after_a_commit_resumes_to_what_an_uninterrupted_build_gives(
    notes: Path, uninterrupted: LocalStore, tmp_path: Path, monkeypatch, hash_embedder
):
    index_dir = tmp_path / "index"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(notes), str(index_dir), str(SEGMENT_CHUNKS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while generation(index_dir) < 1 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, f"the build was not killed part-way: {out!r} {err[-2000:]!r}"

    partial = LocalStore.open(index_dir)
    assert not partial.manifest.complete
    assert 1 <= len(partial.manifest.segments) < len(uninterrupted.manifest.segments)
    with pytest.raises(qa.IndexFormatError, match="its build did not finish"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    committed = set(partial.recorded_ids())
    everything = set(uninterrupted.recorded_ids())
    assert committed < everything

    read: list[str] = []
    load_document = qa.index.load_document
    monkeypatch.setattr(
        qa.index, "load_document", lambda path, *a, **k: read.append(path.name) or load_document(path, *a, **k)
    )
    counting = CountingEmbedder()
    resumed = qa.build(notes, index_dir, embedder=counting).store
    assert sorted(read) == sorted(everything - committed)  # only the files not yet committed are read again
    fresh = [d for d in read if resumed.has_document(d)]
    embedded = sum(
        len(chunk_ids_of(resumed, d)) + sum(len(resumed.sentences_of(i)[0]) for i in chunk_ids_of(resumed, d))
        for d in fresh
    )
    assert counting.embedded == embedded

    assert resumed.manifest.complete
    assert resumed.manifest.metadata_sha256 == uninterrupted.manifest.metadata_sha256 is not None
    assert_same_store(resumed, uninterrupted)
    assert files_under(index_dir) == referenced_files(index_dir)  # what the killed build left is gone
    assert_same_store(qa.load(index_dir, embedder=hash_embedder, strict=True).store, uninterrupted)


def build_stopped_at_batch(notes: Path, index_dir: Path, monkeypatch, batch: int) -> LocalStore:
    """A build that fails while embedding its ``batch``-th segment (earlier ones committed): the store it leaves."""
    original = qa.index.segment_contents
    calls: list[int] = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == batch:
            raise Simulated("killed (simulated)")
        return original(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(qa.index, "segment_contents", failing)
        with pytest.raises(Simulated):
            qa.build(notes, index_dir, embedder=qa.HashEmbedder())
    store = LocalStore.open(index_dir)
    assert not store.manifest.complete and len(store.manifest.segments) == batch - 1
    return store


def test_a_load_resumes_an_unfinished_build_and_a_strict_one_refuses_it(
    notes: Path, uninterrupted: LocalStore, tmp_path: Path, monkeypatch, hash_embedder, caplog
):
    index_dir = tmp_path / "index"
    build_stopped_at_batch(notes, index_dir, monkeypatch, 3)
    with pytest.raises(qa.IndexFormatError, match="its build did not finish"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "its build did not finish" in caplog.text and "bringing it up to date" in caplog.text
    assert engine.store.manifest.complete
    assert_same_store(engine.store, uninterrupted)
    assert_same_store(qa.load(index_dir, embedder=hash_embedder, strict=True).store, uninterrupted)


def test_an_unfinished_build_whose_corpus_is_gone_is_never_answered_from(
    notes: Path, tmp_path: Path, monkeypatch, hash_embedder
):
    index_dir = tmp_path / "index"
    build_stopped_at_batch(notes, index_dir, monkeypatch, 2)
    notes.rename(tmp_path / "moved")
    for strict in (True, False):
        with pytest.raises(qa.IndexFormatError, match="its build did not finish"):
            qa.load(index_dir, embedder=hash_embedder, strict=strict)


def test_a_killed_rebuild_from_scratch_is_resumed_from_its_own_segments(
    notes: Path, uninterrupted: LocalStore, tmp_path: Path, monkeypatch, hash_embedder
):
    """A build of another chunking over an old store starts afresh; killed, it resumes from its own commits."""
    index_dir = tmp_path / "index"
    qa.build(
        notes,
        index_dir,
        embedder=hash_embedder,
        settings=qa.ChunkingSettings(target_words=20, max_words=170, min_words=5, overlap=0),
    )
    build_stopped_at_batch(notes, index_dir, monkeypatch, 2)
    counting = CountingEmbedder()
    resumed = qa.build(notes, index_dir, embedder=counting).store
    every = [i for d in uninterrupted.doc_ids() for i in chunk_ids_of(uninterrupted, d)]
    assert 0 < counting.embedded < len(every) + sum(len(uninterrupted.sentences_of(i)[0]) for i in every)
    assert_same_store(resumed, uninterrupted)


def test_a_merge_drops_a_segment_whose_documents_are_all_deleted(base: Base, tmp_path: Path):
    folder = tmp_path / "store"
    shutil.copytree(base.folder, folder)
    store = LocalStore.open(folder).write(remove=["beta.txt"])  # its second segment holds no live document now
    store = store.write(add=base.contents)
    assert [e.live_chunks for e in store.manifest.segments][1] == 0
    merged = store.merged([s.name for s in store.segments])
    assert len(merged.segments) == 1
    assert {**state(merged), "segments": 3} == state(store) == state(LocalStore.open(folder)) | {"segments": 3}
    merged.tidy()
    assert files_under(folder) == referenced_files(folder)


REBUILD_STEPS: dict[str, tuple[object, str]] = {
    "write_atomically": (qa.stores.local, "write_atomically"),
    "shutil.rmtree": (shutil, "rmtree"),
    "Path.unlink": (Path, "unlink"),
    "segment_contents": (qa.index, "segment_contents"),
}


@pytest.mark.parametrize("step", list(REBUILD_STEPS))
def test_a_rebuild_from_scratch_stopped_at_any_step_leaves_the_old_store_or_an_unfinished_new_one(
    tiny_corpus: Path, tmp_path: Path, monkeypatch, hash_embedder, step: str
):
    """Until a build's first manifest is committed the old store is there; from then on, the unfinished new one."""
    old_dir = tmp_path / "old"
    qa.build(tiny_corpus, old_dir, embedder=hash_embedder)
    LocalStore.open(old_dir).write(remove=["beta.txt"])  # a deletion mark too
    (old_dir / "chunks.jsonl").write_text("{}\n")  # and a file of format 3
    old = state(LocalStore.open(old_dir))
    wanted = state(qa.build(tiny_corpus, tmp_path / "wanted", embedder=hash_embedder).store)
    stops = 0
    for k in itertools.count(1):
        index_dir = tiny_corpus.parent / f"index-{k}"  # beside the corpus, as the old store was
        shutil.copytree(old_dir, index_dir)
        rebuild = partial(qa.build, tiny_corpus, index_dir, embedder=hash_embedder, incremental=False)
        if not stops_at(monkeypatch, step, k, rebuild, REBUILD_STEPS):
            break
        stops += 1
        store = LocalStore.open(index_dir)
        if store.manifest.complete:  # stopped before the new build's first commit, or after its last
            assert state(store) in (old, wanted)
        else:
            assert set(store.doc_ids()) <= set(wanted["documents"])  # the new build, as far as it got
            with pytest.raises(qa.IndexFormatError, match="its build did not finish"):
                qa.load(index_dir, embedder=hash_embedder, strict=True)
        resumed = qa.build(tiny_corpus, index_dir, embedder=hash_embedder, incremental=False)
        assert state(resumed.store) == wanted
        assert files_under(index_dir) == referenced_files(index_dir)
    assert stops > 0
