"""Build progress: every phase reported in order from 0 to its total, drawn as one labelled bar per phase."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import qa
from qa.cli import main
from qa.progress import PHASES, Bars, Progress
from tests.test_collection import KIWI
from tests.test_incremental import live_ids


def phases_in_order(events: list[Progress]) -> None:
    assert list(dict.fromkeys(e.phase for e in events)) == list(PHASES)
    for phase in PHASES:
        seen = [e for e in events if e.phase == phase]
        assert seen[0].done == 0 and seen[-1].done == seen[-1].total
        assert all(a.done <= b.done and a.total == b.total for a, b in zip(seen, seen[1:], strict=False))


def test_a_build_reports_each_phase_in_order_from_nothing_to_everything(tiny_corpus: Path, index_dir: Path):
    events: list[Progress] = []
    engine = qa.build(tiny_corpus, index_dir, embedder=qa.HashEmbedder(), progress=events.append)
    totals = {e.phase: e.total for e in events}
    store = engine.store
    sentences = sum(len(store.sentences_of(i)[0]) for i in live_ids(store))
    assert totals["reading"] == totals["chunking"] == len(engine.documents) == 3
    assert totals["embedding"] == len(store) + sentences
    assert totals.get("lexical index") == len(store)
    phases_in_order(events)


def test_an_add_reports_each_phase_of_the_added_files(built, kiwi_file: Path):
    events: list[Progress] = []
    (doc_id,) = built.add([kiwi_file], progress=events.append)
    totals = {e.phase: e.total for e in events}
    assert totals["reading"] == totals["chunking"] == 1 and totals["saving"] == 1
    chunks = [i for i in live_ids(built.store) if built.store.chunk(i).doc_id == doc_id]
    assert totals["embedding"] == len(chunks) + sum(len(built.store.sentences_of(i)[0]) for i in chunks)
    for phase in totals:
        seen = [e for e in events if e.phase == phase]
        assert seen[0].done == 0 and seen[-1].done == seen[-1].total


def test_an_incremental_build_has_nothing_to_embed(built, tiny_corpus: Path, index_dir: Path):
    events: list[Progress] = []
    qa.build(tiny_corpus, index_dir, embedder=qa.HashEmbedder(), progress=events.append)
    embedding = [e for e in events if e.phase == "embedding"]
    assert [(e.done, e.total) for e in embedding] == [(0, 0)]
    assert embedding[0].fraction == 1.0


def test_bars_draw_one_labelled_bar_per_phase_with_counts():
    out = io.StringIO()
    bars = Bars(file=out)
    for phase in PHASES:
        for done in range(4):
            bars(Progress(phase, done, 3))
    text = out.getvalue()
    for phase in PHASES:
        assert f"{phase:<13}" in text
    assert "3/3" in text and text.count("100%") == len(PHASES)


@pytest.fixture
def kiwi_file(tmp_path: Path) -> Path:
    kiwi = tmp_path / "kiwi.txt"
    kiwi.write_text(KIWI, encoding="utf-8")
    return kiwi


def test_qa_add_and_remove_show_their_bars_and_say_what_changed(capsys, built, index_dir: Path, kiwi_file: Path):
    assert main(["add", str(kiwi_file), "--index", str(index_dir)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "added 1 document(s): kiwi.txt; the index holds 4"
    assert "embedding" in err and "saving" in err
    assert main(["remove", "kiwi.txt", "--index", str(index_dir), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "removed 1 document(s): kiwi.txt; the index holds 3" and not err
    assert main(["remove", "kiwi.txt", "--index", str(index_dir)]) == 2
    assert "no document 'kiwi.txt'" in capsys.readouterr().err
