"""A session overlay: uploaded files answered beside the shared index, which is never written or copied."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest

import qa
from qa.overlay import Layered
from tests.test_collection import KIWI, answers, tree
from tests.test_formats import PAGES, docx_bytes, pdf_bytes


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "kiwi.txt").write_text(KIWI, encoding="utf-8")
    (folder / "report.pdf").write_bytes(pdf_bytes(PAGES))
    (folder / "notes.docx").write_bytes(
        docx_bytes(["Wombat Notes", "The wombat digs burrows up to thirty metres long."])
    )
    (folder / "table.csv").write_text("a,b\n", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(pdf_bytes([[]]))
    return folder


def test_the_overlay_answers_from_the_uploaded_files_and_writes_nothing(built, tiny_corpus, index_dir, uploads):
    base_index, corpus, before = tree(index_dir), tree(tiny_corpus), answers(built)
    session = built.overlay(sorted(uploads.iterdir()))
    top = session.ask("How many kiwi chicks were fitted with radio tags?").passages[0]
    assert top.doc_id == "kiwi.txt" and "forty kiwi chicks" in top.text
    pdf = session.ask("Rangers counted twelve thousand quokkas in 2020.").passages[0]
    assert pdf.doc_id == "report.pdf" and pdf.page == 2
    assert session.ask("How long are wombat burrows?").passages[0].doc_id == "notes.docx"
    for q in ["Which volcano erupted on Tuesday?", "How many kiwi chicks were fitted with radio tags?"]:
        for p in session.ask(q).passages:
            assert session.document(p.doc_id).text[p.start : p.end] == p.text
    assert tree(index_dir) == base_index and tree(tiny_corpus) == corpus
    assert answers(built) == before and "kiwi.txt" not in built.documents


def test_the_overlay_lists_the_files_it_could_not_use(built, uploads):
    session = built.overlay(sorted(uploads.iterdir()))
    assert session.documents[: len(built.documents)] == built.documents
    assert set(session.documents[len(built.documents) :]) == {"kiwi.txt", "notes.docx", "report.pdf"}
    assert session.index.skipped == {
        "scan.pdf": "no extractable text (it may be a scanned image)",
        "table.csv": "unsupported format '.csv'; supported: .txt, .md, .html, .htm, .pdf, .docx",
    }


def test_an_overlay_of_only_unusable_files_says_why(built, uploads):
    with pytest.raises(qa.CorpusError, match="scan.pdf: no extractable text"):
        built.overlay([uploads / "scan.pdf"])


def test_an_upload_named_like_a_base_document_gets_its_own_id(built, tmp_path):
    upload = tmp_path / "beta.txt"
    upload.write_text(KIWI, encoding="utf-8")
    session = built.overlay([upload])
    assert session.documents[-1] == "beta-2.txt"
    assert session.document("beta.txt").text == built.document("beta.txt").text
    assert "kiwi" in session.document("beta-2.txt").text


def test_the_base_is_shared_not_copied_and_a_dropped_overlay_is_freed(built, uploads):
    session = built.overlay([uploads / "kiwi.txt"])
    layered = session.index
    assert isinstance(layered, Layered) and layered.base is built.index
    extra = weakref.ref(layered.extra)
    del session, layered
    gc.collect()
    assert extra() is None


def test_an_overlay_is_never_saved(built, uploads):
    session = built.overlay([uploads / "kiwi.txt"])
    with pytest.raises(TypeError, match="overlay is never saved"):
        session.add([uploads / "notes.docx"])


def test_dense_lists_merge_by_cosine_and_bm25_lists_by_rank(built, uploads):
    layered = built.overlay([uploads / "kiwi.txt"]).store
    vector = built.embedder.encode(["kiwi chicks radio tags"])[0]
    ids, scores = layered.dense_search(vector, 5)
    assert list(scores) == sorted(scores, reverse=True)
    assert np.allclose(scores, [float(layered.vector(i) @ vector) for i in ids], atol=1e-6)
    question = "quokka kiwi rangers"
    base_top = built.store.lexical_search(question, 10).ids
    extra_top = layered.extra.lexical_search(question, 10).ids + layered.offset
    merged = layered.lexical_search(question, 10).ids.tolist()
    assert merged[:2] == [base_top[0], extra_top[0]] and merged[2:4] == [base_top[1], extra_top[1]]
    assert len(merged) == min(10, len(base_top) + len(extra_top))
    assert set(merged) <= set(base_top.tolist()) | set(extra_top.tolist())
    listed = layered.lexical_search(question, 10)
    assert np.allclose(layered.lexical_scores(question, listed.ids), listed.scores)


def test_question_term_weights_count_the_chunks_of_both(built, uploads):
    layered = built.overlay([uploads / "kiwi.txt"]).store
    terms = ["ranger", "kiwi", "quokka", "nowhere"]
    frequencies = layered.document_frequencies(terms)
    base, extra = built.store.document_frequencies(terms), layered.extra.document_frequencies(terms)
    assert frequencies["ranger"] == base["ranger"] + extra["ranger"]
    assert frequencies["kiwi"] == extra["kiwi"] and "kiwi" not in base
    assert "nowhere" not in frequencies and set(frequencies) == set(base) | set(extra)
