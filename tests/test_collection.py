"""Adding files to a corpus and removing documents: the folder and its saved index change together, safely."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.collection import safe_name
from tests.conftest import REPO_ROOT
from tests.test_incremental import CountingEmbedder, same_index

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
    index_before = built.index
    doc_ids = built.add([kiwi])
    assert answers(built) != before  # the kiwi notes now rank for some question
    built.remove(doc_ids)
    assert answers(built) == before
    assert tree(tiny_corpus) == corpus_before
    same_index(built.index, index_before)
    reloaded = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    assert reloaded.documents == list(index_before.documents) and answers(reloaded) == before


def test_add_embeds_only_the_new_file(tiny_corpus, index_dir, kiwi):
    counting = CountingEmbedder()
    engine = qa.build(tiny_corpus, index_dir, embedder=counting)
    counting.embedded = 0
    (doc_id,) = engine.add([kiwi])
    ids = [i for i, c in enumerate(engine.index.chunks) if c.doc_id == doc_id]
    assert counting.embedded == len(ids) + sum(len(engine.index.sentences.of_chunk(i)[0]) for i in ids) > 0


def test_a_file_inside_the_corpus_is_indexed_where_it_stands(built, tiny_corpus):
    path = tiny_corpus / "notes" / "kiwi.txt"
    path.parent.mkdir()
    path.write_text(KIWI, encoding="utf-8")
    listing = tree(tiny_corpus)
    assert built.add([path]) == ["notes/kiwi.txt"]
    assert tree(tiny_corpus) == listing  # nothing copied
    assert built.ask("What is the main predator of kiwi chicks?").passages[0].doc_id == "notes/kiwi.txt"


def test_the_same_file_added_twice_is_not_copied_twice_and_another_one_gets_a_new_name(built, tiny_corpus, kiwi):
    assert built.add([kiwi]) == built.add([kiwi]) == ["Kiwi_notes_draft.txt"]
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
    built.index.manifest.files["../victim.txt"] = "0" * 64  # as a forged manifest would claim
    with pytest.raises(qa.CorpusError, match="outside the corpus"):
        built.remove("../victim.txt")
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_an_engine_without_a_saved_index_cannot_add(built, kiwi):
    with pytest.raises(TypeError, match="no saved index"):
        qa.Engine(built.index).add([kiwi])


def test_an_ask_in_flight_finishes_on_the_index_it_started_with(tiny_corpus, index_dir, kiwi):
    asked, release = threading.Event(), threading.Event()

    class Pausing(qa.HashEmbedder):
        def encode(self, texts, *, progress=None):
            if texts == ["How many kiwi chicks got radio tags?"] and not release.is_set():
                asked.set()
                release.wait(10)
            return super().encode(texts, progress=progress)

    engine = qa.build(tiny_corpus, index_dir, embedder=Pausing())
    old = engine.index
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=engine.ask("How many kiwi chicks got radio tags?")))
    thread.start()
    assert asked.wait(10)
    engine.add([kiwi])  # while the question is being embedded
    release.set()
    thread.join(10)
    in_flight = result["answer"]
    assert engine.index is not old
    assert all(p.doc_id in old.documents for p in in_flight.passages)
    for p in in_flight.passages:  # each passage from the old index, whole
        assert old.documents[p.doc_id].text[p.start : p.end] == p.text
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
    assert {c.doc_id for c in reloaded.index.chunks} == set(reloaded.documents)
    fresh = qa.build(tiny_corpus, tmp_path / "fresh", embedder=qa.HashEmbedder(), incremental=False)
    same_index(reloaded.index, fresh.index)
    assert np.array_equal(reloaded.index.vector(0), fresh.index.vector(0))


def test_a_load_waits_out_writers_that_follow_one_another(built, tiny_corpus, index_dir, tmp_path, monkeypatch):
    # The corpus gains a file a writer has not indexed yet; while the load waits, that writer saves and the
    # next one copies in its own file.  The load must wait for that one too, not call the index stale.
    other = qa.load(index_dir, strict=True, embedder=qa.HashEmbedder())
    (tiny_corpus / "bilby.txt").write_text("Bilby Notes\n\nThe bilby count of 2020 was seven hundred.\n")
    writers = [
        lambda: (other.add([tiny_corpus / "bilby.txt"]),
                 (tiny_corpus / "dingo.txt").write_text("Dingo Notes\n\nThe dingo count was eight hundred.\n")),
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
