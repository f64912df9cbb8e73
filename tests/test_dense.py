"""The dense index: exact below HNSW_FROM, HNSW above; an HNSW index drops chunks by masking their rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qa
import qa.dense
from qa.dense import Dense


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def small_hnsw(monkeypatch) -> None:
    """HNSW from 40 chunks on (at this size its search is exact, so results can be compared)."""
    monkeypatch.setattr(qa.dense, "HNSW_FROM", 40)


def exact_top(vectors: np.ndarray, query: np.ndarray, n: int) -> list[int]:
    return list(np.argsort(-(vectors @ query), kind="stable")[:n])


def test_small_corpora_search_exactly_and_large_ones_by_hnsw(small_hnsw):
    assert Dense.of(unit_vectors(39)).kind == "Flat"
    assert Dense.of(unit_vectors(40)).kind == "HNSW32"


def test_an_hnsw_index_masks_removed_chunks_and_adds_new_ones(small_hnsw):
    old = unit_vectors(100)
    before = Dense.of(old)
    # the new chunk list: old chunks 10.. kept (in another order), three new ones in between
    kept = list(range(99, 9, -1))
    new = unit_vectors(3, seed=1)
    previous_ids: list[int | None] = [*kept[:40], None, None, *kept[40:], None]
    vectors = np.vstack([old[kept[:40]], new[:2], old[kept[40:]], new[2:]])
    after = before.updated(previous_ids, vectors)
    assert after.kind == "HNSW32" and after.masked == 10
    assert before.masked == 0 and before.index.ntotal == 100, "the earlier index is not changed"
    assert np.array_equal(after.vectors(), vectors)
    assert after.problem(len(vectors), 16) is None
    for q in unit_vectors(20, seed=2):
        ids, scores = after.search(q, 10)
        assert list(ids) == exact_top(vectors, q, 10)
        assert np.allclose(scores, vectors[ids] @ q, atol=1e-5)


def test_masking_too_much_builds_the_graph_anew(small_hnsw):
    old = unit_vectors(100)
    after = Dense.of(old).updated([*range(60), *[None] * 10], np.vstack([old[:60], unit_vectors(10, seed=1)]))
    assert after.rows is None and after.kind == "HNSW32" and after.index.ntotal == 70


def test_a_flat_index_is_made_anew():
    old = unit_vectors(30)
    after = Dense.of(old).updated([*range(5, 30), None], np.vstack([old[5:], unit_vectors(1, seed=1)]))
    assert after.rows is None and after.index.ntotal == 26


def test_masked_rows_survive_a_round_trip_and_bad_rows_are_caught(small_hnsw, tmp_path: Path):
    old = unit_vectors(60)
    dense = Dense.of(old).updated(list(range(5, 60)), old[5:])
    dense.write(tmp_path)
    back = Dense.read(tmp_path)
    assert np.array_equal(back.rows, dense.rows) and np.array_equal(back.vectors(), old[5:])
    assert back.problem(55, 16) is None
    assert back.problem(54, 16) is not None
    twice = dense.rows.copy()
    twice[twice == 3] = 4  # chunk 4 in two rows, chunk 3 in none
    assert "one row" in Dense(dense.index, twice).problem(55, 16)
    assert "dimension 16" in back.problem(55, 8)


def test_removing_a_document_from_an_hnsw_index_keeps_the_graph_and_answers_as_a_fresh_build(
    small_hnsw, tmp_path: Path, hash_embedder, monkeypatch
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for d in range(12):  # five chunks each: paragraphs of 60 words
        filler = " ".join(f"word{d}x{w}" for w in range(45))
        lines = [f"Station {d} report {i}: the gauge read {d * 10 + i} mm of rain. {filler}." for i in range(5)]
        (corpus / f"station-{d:02}.txt").write_text(f"Station {d}\n\n" + "\n\n".join(lines) + "\n")
    index_dir = tmp_path / "index"
    first = qa.build(corpus, index_dir, embedder=hash_embedder)
    assert first.index.manifest.faiss == "HNSW32"
    (corpus / "station-03.txt").unlink()
    engine = qa.build(corpus, index_dir, embedder=hash_embedder)
    assert engine.index.dense.masked > 0 and (index_dir / qa.dense.ROWS_FILE).exists()
    loaded = qa.load(index_dir, embedder=hash_embedder, strict=True)
    fresh = qa.build(corpus, tmp_path / "fresh", embedder=hash_embedder, incremental=False)
    assert fresh.index.dense.rows is None
    for question in ["What did the gauge of station 7 read in report 2?", "Station 3 rain", "millimetres of rain"]:
        assert loaded.ask(question).to_dict() == fresh.ask(question).to_dict()
        assert all(loaded.index.chunks[c.chunk_id].doc_id != "station-03.txt" for c in loaded.search(question, 60))
