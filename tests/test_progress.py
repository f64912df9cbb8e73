"""Build progress: every phase reported in order from 0 to its total, drawn as one labelled bar per phase."""

from __future__ import annotations

import io
from pathlib import Path

import qa
from qa.cli import main
from qa.progress import PHASES, Bars, Progress
from tests.test_collection import KIWI


def test_a_build_reports_each_phase_in_order_from_nothing_to_everything(tiny_corpus: Path, index_dir: Path):
    events: list[Progress] = []
    engine = qa.build(tiny_corpus, index_dir, embedder=qa.HashEmbedder(), progress=events.append)
    assert list(dict.fromkeys(e.phase for e in events)) == list(PHASES)
    for phase in PHASES:
        seen = [e for e in events if e.phase == phase]
        assert seen[0].done == 0 and seen[-1].done == seen[-1].total
        assert all(a.done <= b.done and a.total == b.total for a, b in zip(seen, seen[1:], strict=False))
    totals = {e.phase: e.total for e in events}
    index = engine.index
    sentences = len(index.sentences.spans)
    assert totals["reading"] == totals["chunking"] == len(index.documents)
    assert totals["embedding"] == len(index.chunks) + sentences
    assert totals["lexical index"] == len(index.chunks)


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


def test_qa_add_and_remove_show_their_bars_and_say_what_changed(capsys, built, index_dir: Path, tmp_path: Path):
    kiwi = tmp_path / "kiwi.txt"
    kiwi.write_text(KIWI, encoding="utf-8")
    assert main(["add", str(kiwi), "--index", str(index_dir)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "added 1 document(s): kiwi.txt; the index holds 4"
    assert "embedding" in err and "saving" in err
    assert main(["remove", "kiwi.txt", "--index", str(index_dir), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "removed 1 document(s): kiwi.txt; the index holds 3" and not err
    assert main(["remove", "kiwi.txt", "--index", str(index_dir)]) == 2
    assert "no document 'kiwi.txt'" in capsys.readouterr().err
