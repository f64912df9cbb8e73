"""Adding files to a corpus and removing documents: the folder and its saved index change together, safely."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import qa
from qa.collection import JOURNAL, add_files, safe_name
from qa.stores.local import DELETES, MANIFEST, SEGMENTS, LocalStore
from tests.conftest import REPO_ROOT
from tests.test_incremental import CountingEmbedder, by_document, chunks_and_sentences, same_store, segment_files

QUESTIONS = [
    "How many quokkas did rangers count?",
    "Which volcano erupted on Tuesday?",
    "What does a sourdough starter need?",
    "How many earthquakes were recorded in Iceland?",
    "What should visitors not feed the animals?",
]
KIWI = """Kiwi Conservation Notes

The kiwi is a flightless bird of New Zealand. Rangers fitted forty kiwi chicks with radio tags in 2023.
Stoats are the main predator of kiwi chicks, and traps are set along every track.
"""


def answers(engine: qa.Engine) -> list[dict]:
    return [engine.ask(q, k=3).to_dict() for q in QUESTIONS]


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and its sha256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def kiwi(tmp_path: Path) -> Path:
    outside = tmp_path / "downloads"
    outside.mkdir()
    path = outside / "Kiwi notes (draft).txt"
    path.write_text(KIWI, encoding="utf-8")
    return path


def test_add_copies_an_outside_file_in_under_a_safe_name_and_indexes_it(built, tiny_corpus, index_dir, kiwi):
    assert built.add([kiwi]) == ["Kiwi_notes_draft.txt"]
    assert (tiny_corpus / "Kiwi_notes_draft.txt").read_bytes() == kiwi.read_bytes()
    top = built.ask("How many kiwi chicks were fitted with radio tags?").passages[0]
    assert top.doc_id == "Kiwi_notes_draft.txt" and "forty kiwi chicks" in top.text
    assert built.document(top.doc_id).text[top.start : top.end] == top.text
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())  # saved, and current for its corpus
    assert "Kiwi_notes_draft.txt" in reloaded.documents
    assert answers(reloaded) == answers(built)


def test_add_then_remove_leaves_every_answer_and_the_index_as_they_were(built, tiny_corpus, index_dir, kiwi):
    before, corpus_before = answers(built), tree(tiny_corpus)
    store_before = built.store
    doc_ids = built.add([kiwi])
    assert answers(built) != before  # the kiwi notes now rank for some question
    built.remove(doc_ids)
    assert answers(built) == before
    assert tree(tiny_corpus) == corpus_before
    same_store(built.store, store_before)
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert reloaded.documents == list(store_before.doc_ids()) and answers(reloaded) == before
    same_store(reloaded.store, store_before)


def test_add_embeds_only_the_new_file(tiny_corpus, index_dir, kiwi):
    counting = CountingEmbedder()
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    counting.embedded = 0
    (doc_id,) = engine.add([kiwi])
    assert counting.embedded == chunks_and_sentences(engine.store, doc_id) > 0


def files_of(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``folder``: its inode, modification time and size (a rewritten file shows)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(folder).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return out


def written(before: dict, after: dict) -> set[str]:
    """The files of ``after`` that are new or not the same file as in ``before``."""
    return {name for name, stat in after.items() if before.get(name) != stat}


def test_an_add_writes_one_new_segment_and_embeds_only_the_added_file(tiny_corpus, index_dir, kiwi):
    counting = CountingEmbedder()
    qa.build(tiny_corpus, index_dir, embedder=counting)
    engine = qa.load(index_dir, strict=True, embedder=counting)
    before, segments = files_of(index_dir), segment_files(index_dir)
    counting.embedded = 0
    (doc_id,) = engine.add([kiwi])
    assert counting.embedded == chunks_and_sentences(engine.store, doc_id) > 0
    after = files_of(index_dir)
    assert {k: v for k, v in segment_files(index_dir).items() if k in segments} == segments  # none rewritten
    assert set(before) <= set(after)  # and none deleted
    new = written(before, after)
    (segment,) = {name.split("/")[1] for name in new if name.startswith(f"{SEGMENTS}/")}  # one new segment folder
    assert new == {MANIFEST} | {n for n in after if n.startswith(f"{SEGMENTS}/{segment}/")}
    assert not (index_dir / JOURNAL).exists()


def test_a_remove_writes_no_segment_file_only_deletion_marks_and_the_manifest(built, tiny_corpus, index_dir):
    counting = CountingEmbedder()
    engine = qa.load(index_dir, strict=True, embedder=counting)
    before = files_of(index_dir)
    engine.remove(["beta.txt"])
    after = files_of(index_dir)
    assert counting.embedded == 0
    assert set(before) <= set(after)
    new = written(before, after)
    assert MANIFEST in new and any(n.startswith(f"{DELETES}/") for n in new)
    assert all(n == MANIFEST or n.startswith(f"{DELETES}/") for n in new), new
    assert "beta.txt" not in qa.load(index_dir, strict=True, embedder=counting).documents


KILLED = """
import os, signal, sys
import qa
from qa.stores.local import LocalStore

index_dir, verb, point, *args = sys.argv[1:]
commit = LocalStore.write


def write(self, **kwargs):
    if point == "before commit":
        os.kill(os.getpid(), signal.SIGKILL)
    new = commit(self, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)


LocalStore.write = write
engine = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
getattr(engine, verb)(args)
raise SystemExit("not killed")
"""


def killed(index_dir: Path, verb: str, point: str, *args: str) -> None:
    """Run ``engine.<verb>(args)`` in a process killed (SIGKILL) just before or just after its store commits."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, str(index_dir), verb, point, *args], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()


def next_writer(index_dir: Path, tmp_path: Path) -> qa.Engine:
    """The next writer of the store: another process's engine adding a file of its own."""
    wombat = tmp_path / "wombat.txt"
    wombat.write_text("Wombat Notes\n\nThe wombat survey found three burrows.\n", encoding="utf-8")
    engine = qa.Engine(LocalStore.open(index_dir), embedder=qa.HashEmbedder())
    assert engine.add([wombat]) == ["wombat.txt"]
    return engine


@pytest.mark.parametrize("recovered_by", ["the next writer", "qa.load"])
def test_an_add_killed_before_its_commit_is_rolled_back(built, tiny_corpus, index_dir, tmp_path, kiwi, recovered_by):
    corpus, store_before = tree(tiny_corpus), built.store
    killed(index_dir, "add", "before commit", str(kiwi))
    assert (tiny_corpus / "Kiwi_notes_draft.txt").exists() and (index_dir / JOURNAL).exists()  # copied, not indexed
    assert LocalStore.open(index_dir).manifest == store_before.manifest
    if recovered_by == "qa.load":
        engine = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())  # not stale: the copy is gone
        assert tree(tiny_corpus) == corpus
        same_store(engine.store, store_before)
    else:
        engine = next_writer(index_dir, tmp_path)
        assert tree(tiny_corpus) == corpus | {"wombat.txt": tree(tiny_corpus)["wombat.txt"]}
    assert "Kiwi_notes_draft.txt" not in engine.documents and not (index_dir / JOURNAL).exists()


def test_an_add_killed_after_its_commit_is_kept(built, tiny_corpus, index_dir, kiwi):
    killed(index_dir, "add", "after commit", str(kiwi))
    assert (index_dir / JOURNAL).exists()
    engine = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert (tiny_corpus / "Kiwi_notes_draft.txt").read_bytes() == kiwi.read_bytes()
    assert "Kiwi_notes_draft.txt" in engine.documents and not (index_dir / JOURNAL).exists()


def test_a_remove_killed_before_its_commit_changes_nothing(built, tiny_corpus, index_dir, tmp_path):
    corpus, store_before = tree(tiny_corpus), built.store
    killed(index_dir, "remove", "before commit", "beta.txt")
    engine = next_writer(index_dir, tmp_path)
    assert (tiny_corpus / "beta.txt").exists() and "beta.txt" in engine.documents
    assert {k: v for k, v in tree(tiny_corpus).items() if k != "wombat.txt"} == corpus
    engine = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert set(engine.documents) == set(store_before.doc_ids()) | {"wombat.txt"}


@pytest.mark.parametrize("recovered_by", ["the next writer", "qa.load"])
def test_a_remove_killed_after_its_commit_is_finished(built, tiny_corpus, index_dir, tmp_path, recovered_by):
    killed(index_dir, "remove", "after commit", "beta.txt")
    assert (tiny_corpus / "beta.txt").exists() and (index_dir / JOURNAL).exists()  # committed, file not deleted yet
    assert not LocalStore.open(index_dir).has_document("beta.txt")
    if recovered_by == "qa.load":
        engine = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())  # not stale: the file is gone
    else:
        engine = next_writer(index_dir, tmp_path)
    assert not (tiny_corpus / "beta.txt").exists() and not (index_dir / JOURNAL).exists()
    assert "beta.txt" not in engine.documents
    assert "beta.txt" not in qa.load(index_dir, strict=True, embedder=qa.HashEmbedder()).documents


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit, OSError])
def test_an_add_interrupted_before_its_commit_undoes_its_copy(
    built, tiny_corpus, index_dir, kiwi, monkeypatch, interrupt
):
    corpus, index = tree(tiny_corpus), tree(index_dir)

    def fail(self, **kwargs):
        raise interrupt("stopped")

    monkeypatch.setattr(LocalStore, "write", fail)
    with pytest.raises(interrupt):
        built.add([kiwi])
    assert tree(tiny_corpus) == corpus and tree(index_dir) == index  # no copy, no journal, no segment
    monkeypatch.undo()
    assert built.add([kiwi]) == ["Kiwi_notes_draft.txt"]  # the lock was released too


def test_a_file_inside_the_corpus_is_indexed_where_it_stands(built, tiny_corpus, index_dir):
    path = tiny_corpus / "notes" / "kiwi.txt"
    path.parent.mkdir()
    path.write_text(KIWI, encoding="utf-8")
    listing = tree(tiny_corpus)
    assert built.add([path]) == ["notes/kiwi.txt"]
    assert tree(tiny_corpus) == listing  # nothing copied
    assert built.ask("What is the main predator of kiwi chicks?").passages[0].doc_id == "notes/kiwi.txt"
    path.write_text(KIWI.replace("Stoats are", "Ferrets are"), encoding="utf-8")  # edited where it stands
    assert built.add([path]) == ["notes/kiwi.txt"]
    top = built.ask("What is the main predator of kiwi chicks?").passages[0]
    assert top.doc_id == "notes/kiwi.txt" and "Ferrets are" in top.text and "Stoats" not in top.text
    store = built.store
    text = store.document("notes/kiwi.txt").text
    assert all("Stoats" not in text[c.start : c.end] for c in map(store.chunk, by_document(store)["notes/kiwi.txt"]))
    assert qa.load(index_dir, strict=True, embedder=qa.HashEmbedder()).documents == built.documents


def test_the_same_file_added_twice_is_not_copied_twice_and_another_one_gets_a_new_name(tiny_corpus, index_dir, kiwi):
    counting = CountingEmbedder()
    built = qa.build(tiny_corpus, index_dir, embedder=counting)
    assert built.add([kiwi]) == ["Kiwi_notes_draft.txt"]
    counting.embedded, before = 0, files_of(index_dir)
    assert built.add([kiwi]) == ["Kiwi_notes_draft.txt"]
    assert built.add([tiny_corpus / "beta.txt"]) == ["beta.txt"]  # indexed already, as it is
    assert counting.embedded == 0 and files_of(index_dir) == before  # nothing embedded or written again
    assert built.documents == ["Kiwi_notes_draft.txt", "alpha.txt", "beta.txt", "sub/gamma.md"]
    other = kiwi.with_name("Kiwi notes draft.txt")
    other.write_text(KIWI.replace("forty", "fifty"), encoding="utf-8")
    assert built.add([other]) == ["Kiwi_notes_draft-2.txt"]
    assert sorted(p.name for p in tiny_corpus.glob("Kiwi*")) == ["Kiwi_notes_draft-2.txt", "Kiwi_notes_draft.txt"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.ini.txt", "boot.ini.txt"),
        (".hidden.md", "hidden.md"),
        ("Annual Report 2024 (final).PDF", "Annual_Report_2024_final.pdf"),
        ("….txt", "document.txt"),
        ("a" * 300 + ".docx", "a" * 120 + ".docx"),
    ],
)
def test_safe_name_keeps_a_file_name_inside_the_folder(name, safe):
    assert safe_name(name) == safe


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "not a file"),
        (lambda d: _write(d / "table.csv", "a,b\n"), "unsupported format '.csv'"),
        (lambda d: _write(d / "empty.txt", ""), "empty"),
        (lambda d: _write(d / "fake.pdf", "not a pdf"), "PDF"),
    ],
)
def test_an_unusable_file_is_refused_naming_it_and_nothing_changes(built, tiny_corpus, index_dir, tmp_path, make, says):
    folder = tmp_path / "outside"
    folder.mkdir()
    bad = make(folder)
    corpus, index = tree(tiny_corpus), tree(index_dir)
    with pytest.raises(qa.CorpusError, match=says) as refused:
        built.add([bad])
    assert str(bad) in str(refused.value)
    assert tree(tiny_corpus) == corpus and tree(index_dir) == index


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_remove_deletes_the_file_and_a_reload_does_not_bring_it_back(built, tiny_corpus, index_dir):
    built.remove("beta.txt")
    assert not (tiny_corpus / "beta.txt").exists()
    assert "beta.txt" not in built.documents
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert reloaded.documents == built.documents == ["alpha.txt", "sub/gamma.md"]
    assert all(p.doc_id != "beta.txt" for p in reloaded.ask("Which volcano erupted on Tuesday?").passages)


def test_remove_of_an_unknown_document_or_of_the_last_ones_changes_nothing(built, tiny_corpus, index_dir):
    corpus, index = tree(tiny_corpus), tree(index_dir)
    with pytest.raises(KeyError, match="nope.txt"):
        built.remove("nope.txt")
    with pytest.raises(qa.CorpusError):
        built.remove(built.documents)
    assert tree(tiny_corpus) == corpus and tree(index_dir) == index


def test_a_doc_id_leading_out_of_the_corpus_is_never_followed(built, tiny_corpus, index_dir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))  # as a forged manifest would claim
    manifest["skipped"]["../victim.txt"] = {"reason": "empty", "size": 7, "mtime_ns": 0, "sha256": "0" * 64}
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert LocalStore.open(index_dir).recorded("../victim.txt") is not None
    with pytest.raises(qa.CorpusError, match="outside the corpus"):
        built.remove("../victim.txt")
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_an_engine_without_a_saved_store_cannot_add(built, tiny_corpus, index_dir, kiwi):
    session = built.overlay([kiwi])
    corpus, index = tree(tiny_corpus), tree(index_dir)
    with pytest.raises(TypeError, match="no saved index"):
        session.add([kiwi])
    with pytest.raises(TypeError, match="no saved index"):
        qa.Engine(session.store, embedder=built.embedder).remove(["beta.txt"])
    with pytest.raises(TypeError, match="never saved"):
        add_files(session.store, [kiwi], embedder=built.embedder)
    assert tree(tiny_corpus) == corpus and tree(index_dir) == index


def test_an_ask_in_flight_finishes_on_the_index_it_started_with(tiny_corpus, index_dir, kiwi):
    asked, release = threading.Event(), threading.Event()

    class Pausing(qa.HashEmbedder):
        def encode(self, texts, *, progress=None):
            if texts == ["How many kiwi chicks got radio tags?"] and not release.is_set():
                asked.set()
                release.wait(10)
            return super().encode(texts, progress=progress)

    engine = qa.build(tiny_corpus, index_dir, embedder=Pausing())
    old = engine.store
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=engine.ask("How many kiwi chicks got radio tags?")))
    thread.start()
    assert asked.wait(10)
    engine.add([kiwi])  # while the question is being embedded
    release.set()
    thread.join(10)
    in_flight = result["answer"]
    assert engine.store is not old and not old.has_document("Kiwi_notes_draft.txt")
    assert in_flight.passages and all(old.has_document(p.doc_id) for p in in_flight.passages)
    for p in in_flight.passages:  # each passage from the old store, whole
        assert old.document(p.doc_id).text[p.start : p.end] == p.text
    assert engine.ask("How many kiwi chicks got radio tags?").passages[0].doc_id == "Kiwi_notes_draft.txt"


def test_two_threads_adding_at_once_both_land(built, tiny_corpus, index_dir, tmp_path):
    files = []
    for n, animal in enumerate(["wombat", "numbat"]):
        path = tmp_path / f"{animal}.txt"
        path.write_text(f"{animal.title()} Notes\n\nThe {animal} survey of {2020 + n} found {n + 3} burrows.\n")
        files.append(path)
    errors = []

    def add(path: Path) -> None:
        try:
            built.add([path])
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(p,)) for p in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert {"wombat.txt", "numbat.txt"} <= set(reloaded.documents) == set(built.documents)


ADD = """
import sys
import qa
qa.load(sys.argv[1], strict=True).add([sys.argv[2]])
"""


def test_two_processes_adding_at_once_take_turns_and_both_files_land(built, tiny_corpus, index_dir, tmp_path):
    files = []
    for n, animal in enumerate(["bilby", "dingo", "emu"]):
        path = tmp_path / f"{animal}.txt"
        path.write_text(f"{animal.title()} Notes\n\nThe {animal} count of {2020 + n} was {n + 7} hundred.\n")
        files.append(path)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1")
    procs = [
        subprocess.Popen([sys.executable, "-c", ADD, str(index_dir), str(p)], env=env, stderr=subprocess.PIPE)
        for p in files
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())  # whole, verified, current
    assert {"bilby.txt", "dingo.txt", "emu.txt"} <= set(reloaded.documents)
    assert set(by_document(reloaded.store)) == set(reloaded.documents)
    fresh = qa.build(tiny_corpus, tmp_path / "fresh", embedder=qa.HashEmbedder(), incremental=False)
    same_store(reloaded.store, fresh.store)


def test_a_load_waits_out_writers_that_follow_one_another(built, tiny_corpus, index_dir, tmp_path, monkeypatch):
    # The corpus gains a file a writer has not indexed yet; while the load waits, that writer saves and the
    # next one copies in its own file.  The load must wait for that one too, not call the index stale.
    other = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    (tiny_corpus / "bilby.txt").write_text("Bilby Notes\n\nThe bilby count of 2020 was seven hundred.\n")
    writers = [
        lambda: (
            other.add([tiny_corpus / "bilby.txt"]),
            (tiny_corpus / "dingo.txt").write_text("Dingo Notes\n\nThe dingo count was eight hundred.\n"),
        ),
        lambda: other.add([tiny_corpus / "dingo.txt"]),
    ]

    def a_writer_finishes(folder, timeout, noun="folder"):
        if not writers:
            return False
        writers.pop(0)()
        return True

    monkeypatch.setattr(qa.store.folders, "wait_for_writer", a_writer_finishes)
    loaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert not writers
    assert {"bilby.txt", "dingo.txt"} <= set(loaded.documents)
