"""A session overlay: uploaded files answered beside the shared index, which is never written or copied."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import bm25s
import numpy as np
import pytest

import qa
from qa.stores.lexical import tokenize
from qa.stores.local import LocalStore
from tests.test_collection import KIWI, answers, tree
from tests.test_formats import PAGES, docx_bytes, pdf_bytes
from tests.test_incremental import chunk_tokens, live_ids


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
    assert session.documents == sorted([*built.documents, "kiwi.txt", "notes.docx", "report.pdf"])
    assert built.store.skipped == {}
    assert session.store.skipped == {
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
    assert set(session.documents) - set(built.documents) == {"beta-2.txt"}
    assert session.document("beta.txt").text == built.document("beta.txt").text
    assert "kiwi" in session.document("beta-2.txt").text


def test_an_upload_may_take_the_id_of_a_removed_document(built, tmp_path):
    built.remove("beta.txt")  # its rows stay in the base's segment, marked deleted
    upload = tmp_path / "beta.txt"
    upload.write_text(KIWI, encoding="utf-8")
    session = built.overlay([upload])
    assert session.documents == ["alpha.txt", "beta.txt", "sub/gamma.md"]
    assert "kiwi" in session.document("beta.txt").text
    for question in ["Which volcano erupted on Tuesday?", "How many kiwi chicks were fitted with radio tags?"]:
        passages = session.ask(question, documents=["beta.txt"]).passages
        assert passages
        for p in passages:
            assert p.doc_id == "beta.txt" and "Etna" not in p.text
            assert session.document("beta.txt").text[p.start : p.end] == p.text


def test_the_base_is_shared_not_copied_and_a_dropped_overlay_is_freed(built, uploads):
    session = built.overlay([uploads / "kiwi.txt"])
    layered = session.store
    assert isinstance(layered, LocalStore) and layered.folder is None
    assert len(layered.segments) == len(built.store.segments) + 1
    assert all(a is b for a, b in zip(layered.segments[:-1], built.store.segments, strict=True))
    assert layered._where.maps[-1] is built.store._where  # the doc id table is shared too, not copied per session
    extra = weakref.ref(layered.segments[-1])
    assert extra().doc_ids == ["kiwi.txt"]
    session.ask("How many kiwi chicks were fitted with radio tags?")  # whatever an answer caches
    del session, layered
    gc.collect()
    assert extra() is None
    assert "kiwi.txt" not in built.documents


def test_an_overlay_is_never_saved(built, uploads):
    session = built.overlay([uploads / "kiwi.txt"])
    with pytest.raises(TypeError, match="overlay is never saved"):
        session.add([uploads / "notes.docx"])


def test_dense_lists_merge_by_cosine(built, uploads):
    layered = built.overlay([uploads / "kiwi.txt"]).store
    vector = built.embedder.encode(["kiwi chicks radio tags"])[0]
    ids, scores = layered.dense_search(vector, 5)
    assert list(scores) == sorted(scores, reverse=True)
    assert np.allclose(scores, [float(layered.vector(i) @ vector) for i in ids], atol=1e-6)
    every = sorted((float(layered.vector(i) @ vector) for i in live_ids(layered)), reverse=True)
    assert np.allclose(scores, every[:5], atol=1e-6)  # the best of both, not of one
    assert {layered.chunk(int(i)).doc_id for i in ids} >= {"kiwi.txt"}
    assert {layered.chunk(int(i)).doc_id for i in ids} - {"kiwi.txt"}


QUESTIONS = ["quokka kiwi rangers", "Rangers counted chicks in 2020", "volcano lava", "stoats traps track", "zzz"]


def test_bm25_over_the_base_and_the_uploads_is_bm25_over_all_their_chunks(built, uploads):
    layered = built.overlay([uploads / "kiwi.txt"]).store
    ids = live_ids(layered)
    assert {layered.chunk(i).doc_id for i in ids} == {*built.documents, "kiwi.txt"}
    tokens = [chunk_tokens(layered, i) for i in ids]
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    for question in QUESTIONS:
        terms = [t for t in tokenize([question])[0] if t in reference.vocab_dict]
        expected = reference.get_scores(terms) if terms else np.zeros(len(ids))
        assert np.allclose(layered.lexical_scores(question, np.asarray(ids)), expected, rtol=1e-5, atol=1e-6)
        listed = layered.lexical_search(question, 10)
        order = [i for i in np.argsort(-expected, kind="stable")[:10] if expected[i] > 0]
        assert np.allclose(listed.scores, expected[order], rtol=1e-5, atol=1e-6)
        assert set(listed.ids.tolist()) <= set(ids) and len(listed.ids) == len(order)
    # the statistics are shared: a base chunk scores otherwise once the uploads count
    question = "quokka rangers"
    base = built.store.lexical_search(question, 1)
    assert not np.isclose(layered.lexical_scores(question, base.ids)[0], base.scores[0])


def test_question_term_weights_count_the_chunks_of_both(built, uploads):
    layered = built.overlay([uploads / "kiwi.txt"]).store
    terms = [*tokenize(["rangers kiwi quokka"])[0], "nowhere"]
    assert terms[:3] == ["ranger", "kiwi", "quokka"]
    frequencies = layered.document_frequencies(terms)
    base = built.store.document_frequencies(terms)
    uploaded = [set(chunk_tokens(layered, i)) for i in live_ids(layered) if layered.chunk(i).doc_id == "kiwi.txt"]
    extra = {t: n for t in terms if (n := sum(t in chunk for chunk in uploaded))}
    assert extra["ranger"] > 0 and base["ranger"] > 0
    assert frequencies["ranger"] == base["ranger"] + extra["ranger"]
    assert frequencies["kiwi"] == extra["kiwi"] and "kiwi" not in base
    assert "nowhere" not in frequencies and set(frequencies) == set(base) | set(extra)
