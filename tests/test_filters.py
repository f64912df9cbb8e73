"""Filters by document, outlet and section: checked, applied inside retrieval (before the top-k cut)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

import qa
import qa.stores.vectors
from qa.filters import Filters
from qa.stores.vectors import Vectors

QUESTION = "Did the volcano erupt and do quokkas smile?"


def test_filters_are_checked_against_the_index(tiny_engine):
    chunks = tiny_engine.store
    assert not Filters.of(chunks).active
    assert Filters.of(chunks, sources=["Nordic Herald"]).sources == {"Nordic Herald"}
    with pytest.raises(TypeError, match="sources must be a list of strings, not str"):
        Filters.of(chunks, sources="Nordic Herald")
    with pytest.raises(TypeError, match="documents must be a list of strings; got int 3"):
        Filters.of(chunks, documents=["alpha.txt", 3])
    with pytest.raises(ValueError, match="an empty list allows no passage"):
        Filters.of(chunks, sections=[])
    with pytest.raises(ValueError, match="sections: no passage has 'comments'"):
        Filters.of(chunks, sections=["comments"])
    with pytest.raises(ValueError, match="documents: no passage has 'missing.txt'"):
        Filters.of(chunks, documents=["missing.txt"])
    with pytest.raises(ValueError, match="sources: no passage has 'Reuters'.*Island Times"):
        Filters.of(chunks, sources=["Reuters"])


def test_a_filter_applies_before_the_top_k_cut(tiny_engine):
    question = "Do quokkas smile on Rottnest Island?"
    unfiltered = tiny_engine.ask(question, k=3)
    assert all(p.source != "Nordic Herald" for p in unfiltered.passages), "the test needs an outlet outside the top 3"
    answer = tiny_engine.ask(question, k=3, sources=["Nordic Herald"])
    store = tiny_engine.store
    holding = [i for i in store.chunk_ids() if store.chunk(i).source == "Nordic Herald"]
    assert len(answer.passages) == min(3, len(holding)) > 0
    assert {p.source for p in answer.passages} == {"Nordic Herald"}


def test_sections_and_documents_restrict_passages_and_search(tiny_engine):
    answer = tiny_engine.ask(QUESTION, k=10, sections=["article"], documents=["alpha.txt", "beta.txt"])
    assert answer.passages
    assert {p.section for p in answer.passages} == {"article"}
    assert {p.doc_id for p in answer.passages} <= {"alpha.txt", "beta.txt"}
    store = tiny_engine.store
    found = tiny_engine.search(QUESTION, 50, sections=["comment"])
    assert found and {store.chunk(c.chunk_id).section for c in found} == {"comment"}
    assert len(found) == sum(store.chunk(i).section == "comment" for i in store.chunk_ids())


def test_no_filter_changes_nothing(tiny_engine):
    everything = dict(documents=tiny_engine.documents, sections=["article", "comment", "boilerplate"])
    assert tiny_engine.ask(QUESTION).to_dict() == tiny_engine.ask(QUESTION, **everything).to_dict()


def test_an_overlay_filters_across_the_base_and_the_uploads(tiny_engine, tmp_path: Path):
    upload = tmp_path / "upload.txt"
    upload.write_text("Glacier Log\n\nThe Aletsch glacier lost two metres of ice this summer, rangers said.\n")
    session = tiny_engine.overlay([upload])
    answer = session.ask("How much ice did the glacier lose?", k=5, documents=["upload.txt"])
    assert answer.passages and {p.doc_id for p in answer.passages} == {"upload.txt"}
    base_only = session.ask("How much ice did the glacier lose?", k=5, documents=["alpha.txt"])
    assert {p.doc_id for p in base_only.passages} == {"alpha.txt"}


@pytest.mark.parametrize("allowed_every", [3, 1])
def test_a_large_segments_search_visits_only_the_allowed_chunks(monkeypatch, allowed_every):
    """PQ candidates scored exactly (`qa.stores.vectors`): a filter's rows scored exactly when few, else the
    candidates it lets through; either way only allowed rows, in exact order."""
    monkeypatch.setattr(qa.stores.vectors, "PQ_FROM", 40)
    monkeypatch.setattr(qa.stores.vectors, "EXACT_BELOW", 30)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(120, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    searched = Vectors.of(vectors)
    assert isinstance(searched.index, faiss.IndexPQFastScan) and searched.exact is not None
    allowed = np.zeros(120, dtype=bool)
    allowed[::allowed_every] = True
    query = vectors[51]
    rows, scores = searched.search(query, 8, allowed)
    expected = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query), kind="stable")[:8]]
    assert allowed[rows].all() and rows[0] == 51
    assert len(set(rows) & set(expected)) >= 7  # float16 copies: a near-tie may swap
    assert np.allclose(scores, vectors[rows] @ query, atol=2e-3)
