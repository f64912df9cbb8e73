"""BM25 over segments (`qa.stores.lexical`): the scores of bm25s to the last bit, whatever the segments."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np
import pytest

import qa
from qa.stores.lexical import Part, Postings, Statistics, document_frequencies, scores, tokenize, top

SEED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "seed_dev.jsonl"


@pytest.fixture(scope="module")
def tokens(data_dir: Path) -> list[list[str]]:
    """The default corpus's paragraphs, tokenized as chunks are."""
    paragraphs = [p for d in qa.load_corpus(data_dir) for p in d.text.split("\n") if p.strip()]
    return tokenize(paragraphs)


def questions() -> list[str]:
    fixed = ["How many were killed in Tartus and Jableh?", "Russia Russia airbase", "bombing", "zzzz"]
    if not SEED.exists():
        return fixed
    return fixed + [json.loads(line)["question"] for line in SEED.read_text(encoding="utf-8").splitlines()]


def every_score(parts: list[Part], question: str, n_rows: int) -> np.ndarray:
    out = np.zeros(n_rows, dtype=np.float32)
    for (rows, values), part in zip(scores(parts, Statistics.of(parts), tokenize([question])[0]), parts, strict=True):
        out[rows + part.first_id] = values
    return out


@pytest.mark.parametrize("cuts", [[], [40], [3, 90, 200]])
def test_scores_equal_bm25s_bit_for_bit_however_the_chunks_are_split(tokens, cuts):
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    bounds = [0, *cuts, len(tokens)]
    parts = [Part(Postings.of(tokens[a:b]), None, a) for a, b in zip(bounds, bounds[1:], strict=False)]
    for question in questions():
        known = [t for t in tokenize([question])[0] if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(tokens), dtype=np.float32)
        assert np.array_equal(every_score(parts, question, len(tokens)), expected), question


def test_deleted_rows_count_nowhere(tokens):
    """A part whose rows are marked deleted scores as a bm25s index of the live rows alone."""
    live = np.ones(len(tokens), dtype=bool)
    live[::3] = False
    parts = [Part(Postings.of(tokens), live, 0)]
    kept = [t for t, alive in zip(tokens, live, strict=True) if alive]
    reference = bm25s.BM25()
    reference.index(kept, show_progress=False)
    for question in questions()[:10]:
        known = [t for t in tokenize([question])[0] if t in reference.vocab_dict]
        expected = reference.get_scores(known) if known else np.zeros(len(kept), dtype=np.float32)
        assert np.array_equal(every_score(parts, question, len(tokens))[live], expected), question
    terms = ["russia", "tartus", "nowher"]
    counts = {t: sum(t in set(row) for row in kept) for t in terms}
    assert document_frequencies(parts, terms) == {t: c for t, c in counts.items() if c}


def test_postings_round_trip_memory_mapped(tokens, tmp_path: Path):
    postings = Postings.of(tokens)
    postings.write(tmp_path)
    opened = Postings.open(tmp_path)
    assert isinstance(opened.rows, np.memmap) and opened.problem(len(tokens)) is None
    for mine, theirs in zip(opened.__dict__.values(), postings.__dict__.values(), strict=True):
        assert np.array_equal(mine, theirs)
    assert opened.problem(len(tokens) + 1) is not None


def test_top_breaks_ties_by_the_lower_id_and_drops_zeros():
    parts = [Part(Postings.of([["a"]]), None, 10), Part(Postings.of([["a"]]), None, 0)]
    scored = [(np.array([0]), np.array([1.0], np.float32)), (np.array([0]), np.array([1.0], np.float32))]
    ids, values = top(scored, parts, 5)
    assert ids.tolist() == [0, 10] and values.tolist() == [1.0, 1.0]
    assert top([(np.array([0]), np.array([0.0], np.float32))], parts[:1], 5)[0].size == 0
