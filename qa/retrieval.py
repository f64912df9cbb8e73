"""Rank chunks for a question: fuse dense and lexical ranks, drop overlaps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.chunking import Chunk
from qa.evidence import Candidate
from qa.stores import Hits, Store

Stage = Literal["dense", "lexical", "fused", "ranked"]


@dataclass(frozen=True)
class RetrievalSettings:
    """Knobs of the ranking; defaults chosen on the seed dev set (see benchmarks/)."""

    stage: Stage = "ranked"  # how far the ranking goes: one list, both fused, or fused then re-ranked
    candidates: int = 100  # taken from each of the dense and lexical lists
    rrf_k: int = 60  # reciprocal-rank fusion constant
    rerank_depth: int = 30  # fused candidates the learned ranker re-orders
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    min_dense: float = 0.30  # below this best cosine, the corpus does not answer
    max_overlap: float = 0.3  # share of a shorter passage that may overlap a better one
    near_duplicate: float = 0.95  # cosine above which two passages say the same thing
    statement_similarity: float = 0.45  # a figure's sentence must be this close to a quantity question…
    statement_margin: float = 0.12  # …and within this of the closest one, to be compared for disagreement
    measured_similarity: float = 0.25  # the floor instead, for a figure of the casualties asked ("48 wounded")
    reader_passages: int = 3  # passages an engine with a reader reads (benchmarks/fit_reader_ranking.py)
    reader_weight: float = 0.5  # of the reader's margin, added to the ranker's score of a passage it read (ditto)
    answer_margin: float = 0.0  # the reader's margin above which a passage's exact answer is marked (fit_answer_margin)
    bold_confidence: float = 0.35  # …and the confidence at or above which it is (ditto): below, the sentence alone
    # Different names that sentences give for who did what a question asks (`qa.actors`), under "Sources differ".
    name_disagreements: bool = True


def single_list(hits: Hits, dense_of: Mapping[int, float], lexical_of: Mapping[int, float], by: str) -> list[Candidate]:
    """Candidates in the order of one list (dense or lexical), for benchmarks of each alone."""
    out = []
    for rank, chunk_id in enumerate(hits.ids.tolist(), 1):
        d, lex = dense_of.get(chunk_id, 0.0), lexical_of.get(chunk_id, 0.0)
        ranks = (rank, 0) if by == "dense" else (0, rank)
        out.append(Candidate(chunk_id, d if by == "dense" else lex, d, lex, *ranks))
    return out


def ranks(order: np.ndarray) -> dict[int, int]:
    """chunk id -> 1-based rank."""
    return {int(c): r for r, c in enumerate(order, 1)}


def fuse(dense: Hits, lexical: Hits, lexical_of: Mapping[int, float], settings: RetrievalSettings) -> list[Candidate]:
    """Reciprocal-rank fusion of the dense top list and the BM25 top list, best first.

    Each list counts to ``settings.candidates``; a BM25 hit with no positive
    score is no rank.  ``lexical_of``: the BM25 score of every chunk of either
    list (those of the BM25 list are taken from it).
    """
    n = settings.candidates
    kept = lexical.scores[:n] > 0
    dense_rank, lexical_rank = ranks(dense.ids[:n]), ranks(lexical.ids[:n][kept])
    dense_of = dict(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
    lexical_of = dict(zip(lexical.ids.tolist(), lexical.scores.tolist(), strict=True)) | dict(lexical_of)
    out = []
    for chunk_id in set(dense_rank) | set(lexical_rank):
        fused = 0.0
        if chunk_id in dense_rank:
            fused += settings.dense_weight / (settings.rrf_k + dense_rank[chunk_id])
        if chunk_id in lexical_rank:
            fused += settings.lexical_weight / (settings.rrf_k + lexical_rank[chunk_id])
        out.append(
            Candidate(
                chunk_id,
                fused,
                dense_of.get(chunk_id, 0.0),
                float(lexical_of.get(chunk_id, 0.0)),
                dense_rank.get(chunk_id, 0),
                lexical_rank.get(chunk_id, 0),
            )
        )
    out.sort(key=lambda c: (-c.score, c.chunk_id))
    return out


def by_reading(candidates: list[Candidate], weight: float) -> list[Candidate]:
    """The candidates the reader read re-ordered by score + ``weight`` × its (bounded) margin, then the rest.

    The rest keep their order and the gaps between their scores, shifted down
    if need be so that the first of them scores no higher than the last one read.
    """
    read = [c for c in candidates if c.reading is not None]
    rest = [c for c in candidates if c.reading is None]
    if not read:
        return candidates
    scored = sorted(
        (c._replace(score=c.score + weight * c.reading.evidence) for c in read), key=lambda c: (-c.score, c.chunk_id)
    )
    shift = min(0.0, scored[-1].score - rest[0].score) if rest else 0.0
    return scored + [c._replace(score=c.score + shift) for c in rest]


def overlap(a: Chunk, b: Chunk) -> float:
    """Share of the shorter chunk that the two have in common (0 across documents)."""
    if a.doc_id != b.doc_id:
        return 0.0
    common = min(a.end, b.end) - max(a.start, b.start)
    return max(0, common) / max(1, min(a.end - a.start, b.end - b.start))


def diversify(candidates: list[Candidate], store: Store, k: int, settings: RetrievalSettings) -> list[Candidate]:
    """The best ``k`` candidates, skipping any that mostly repeat a better one.

    A repeat is a chunk that overlaps a chosen one by more than
    ``settings.max_overlap`` of its span, or whose vector is nearly the same
    (cosine above ``settings.near_duplicate``: the same story on two pages).
    """
    chosen: list[Candidate] = []
    vectors: list[np.ndarray] = []
    for cand in candidates:
        chunk = store.chunk(cand.chunk_id)
        if any(overlap(chunk, store.chunk(c.chunk_id)) > settings.max_overlap for c in chosen):
            continue
        vector = store.vector(cand.chunk_id)
        if any(float(vector @ v) > settings.near_duplicate for v in vectors):
            continue
        chosen.append(cand)
        vectors.append(vector)
        if len(chosen) == k:
            break
    return chosen
