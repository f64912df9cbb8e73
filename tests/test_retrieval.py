"""Reciprocal-rank fusion and overlap-aware diversification."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from qa.chunking import Chunk
from qa.retrieval import Candidate, RetrievalSettings, diversify, fuse, overlap, ranks
from qa.stores import Hits


def fuse_lists(dense_ids, dense_scores, lexical, settings: RetrievalSettings) -> list[Candidate]:
    """`fuse` fed as a store feeds it, from every chunk's BM25 score: the BM25 list (positive scores, best first,
    ``settings.candidates`` long) and the BM25 scores of the dense list."""
    lexical = np.asarray(lexical, dtype=np.float32)
    order = np.argsort(-lexical, kind="stable")
    top = order[lexical[order] > 0][: settings.candidates]
    dense = Hits(np.asarray(dense_ids, dtype=np.int64), np.asarray(dense_scores, dtype=np.float32))
    return fuse(dense, Hits(top, lexical[top]), {int(i): float(lexical[i]) for i in dense.ids}, settings)


def test_ranks_are_one_based():
    assert ranks(np.array([7, 3, 5])) == {7: 1, 3: 2, 5: 3}


def test_item_first_in_both_lists_ranks_first():
    dense_ids = np.array([2, 0, 1])
    dense_scores = np.array([0.9, 0.5, 0.4], dtype=np.float32)
    lexical = np.array([1.0, 0.5, 3.0, 0.0], dtype=np.float32)
    fused = fuse_lists(dense_ids, dense_scores, lexical, RetrievalSettings())
    assert fused[0].chunk_id == 2
    assert fused[0].score == pytest.approx(2 / 61)
    assert fused[0].dense == pytest.approx(0.9)
    assert fused[0].lexical == pytest.approx(3.0)
    scores = [c.score for c in fused]
    assert scores == sorted(scores, reverse=True)


def test_zero_lexical_scores_are_not_a_lexical_rank():
    dense_ids = np.array([0])
    fused = fuse_lists(dense_ids, np.array([0.8], dtype=np.float32), np.array([0.0, 0.0, 2.0]), RetrievalSettings())
    assert {c.chunk_id for c in fused} == {0, 2}  # chunk 1 is in neither list
    lexical_only = next(c for c in fused if c.chunk_id == 2)
    assert lexical_only.dense == 0.0
    assert lexical_only.score == pytest.approx(1 / 61)


def test_fuse_breaks_ties_by_chunk_id():
    fused = fuse_lists(np.array([1]), np.array([0.5], dtype=np.float32), np.array([3.0, 0.0]), RetrievalSettings())
    assert [c.chunk_id for c in fused] == [0, 1]  # same fused score: lower id first


def test_weights_and_candidate_limit():
    dense_ids = np.array([0, 1, 2])
    dense_scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    lexical = np.array([0.0, 1.0, 5.0])
    dense_only = fuse_lists(dense_ids, dense_scores, lexical, RetrievalSettings(lexical_weight=0.0))
    assert [c.chunk_id for c in dense_only] == [0, 1, 2]
    lexical_heavy = fuse_lists(dense_ids, dense_scores, lexical, RetrievalSettings(dense_weight=0.0))
    assert lexical_heavy[0].chunk_id == 2
    limited = fuse_lists(dense_ids, dense_scores, lexical, RetrievalSettings(candidates=1))
    assert {c.chunk_id for c in limited} == {0, 2}


def test_fuse_with_no_lexical_match():
    fused = fuse_lists(np.array([1, 0]), np.array([0.3, 0.2], dtype=np.float32), np.zeros(2), RetrievalSettings())
    assert [c.chunk_id for c in fused] == [1, 0]


CHUNKS = [
    Chunk("a.txt", 0, 100, "article"),  # 0
    Chunk("a.txt", 10, 100, "article"),  # 1: inside chunk 0
    Chunk("b.txt", 0, 100, "article"),  # 2: same span, another document
    Chunk("a.txt", 95, 200, "article"),  # 3: overlaps chunk 0 by 5 characters
    Chunk("a.txt", 60, 160, "article"),  # 4: overlaps chunk 0 by 40 of 100
]


def test_overlap_is_a_share_of_the_shorter_chunk():
    assert overlap(CHUNKS[0], CHUNKS[1]) == 1.0
    assert overlap(CHUNKS[0], CHUNKS[2]) == 0.0
    assert overlap(CHUNKS[0], CHUNKS[3]) == pytest.approx(5 / 100)
    assert overlap(CHUNKS[0], CHUNKS[4]) == pytest.approx(40 / 100)
    assert overlap(Chunk("a.txt", 0, 10, "article"), Chunk("a.txt", 20, 30, "article")) == 0.0


def candidates(*ids: int) -> list[Candidate]:
    return [Candidate(i, 1.0 / (n + 1), 0.0, 0.0) for n, i in enumerate(ids)]


def fake_index(chunks: list[Chunk], vectors: np.ndarray | None = None) -> SimpleNamespace:
    """What diversify reads of a store: its chunks and their vectors (orthogonal unless given)."""
    vectors = np.eye(len(chunks), dtype=np.float32) if vectors is None else vectors
    return SimpleNamespace(chunk=lambda i: chunks[i], vector=lambda i: vectors[i])


def chosen_ids(ids, k=10, index=None, **settings) -> list[int]:
    chosen = diversify(candidates(*ids), index or fake_index(CHUNKS), k, RetrievalSettings(**settings))
    return [c.chunk_id for c in chosen]


def test_diversify_skips_overlaps_within_a_document_only():
    # 1 lies inside 0; 2 is the same span in another document; 3 overlaps 0 by 5%; 4 by 40%.
    assert chosen_ids([0, 1, 2, 3, 4]) == [0, 2, 3]


def test_diversify_stops_at_k_and_keeps_order():
    assert chosen_ids([2, 0, 1, 3], k=2) == [2, 0]


def test_diversify_with_full_tolerance_keeps_everything():
    assert chosen_ids([0, 1, 2, 3, 4], max_overlap=1.0) == [0, 1, 2, 3, 4]


def test_diversify_skips_near_duplicate_vectors_across_documents():
    vectors = np.eye(len(CHUNKS), dtype=np.float32)
    vectors[2] = vectors[0]  # b.txt repeats the story of chunk 0
    index = fake_index(CHUNKS, vectors)
    assert chosen_ids([0, 2, 3], index=index) == [0, 3]
    assert chosen_ids([0, 2, 3], index=index, near_duplicate=1.01) == [0, 2, 3]
