"""`benchmarks/quality.py --smoke` runs end to end through the product and prints sane tables.

Loads the real MiniLM model and indexes 60 SQuAD paragraphs into a temporary cache (well under 90 s).
"""

from __future__ import annotations

import importlib.util
import itertools
import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


def load_script(script: Path = SCRIPT):
    spec = importlib.util.spec_from_file_location(f"{script.stem}_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tables(output: str) -> dict[str, list[dict[str, str]]]:
    """Each ``### title`` section's Markdown table as rows of ``{column: cell}``."""
    out = {}
    for section in output.split("### ")[1:]:
        body = section.splitlines()
        first = next(i for i, line in enumerate(body) if line.startswith("|"))
        lines = list(itertools.takewhile(lambda line: line.startswith("|"), body[first:]))
        header = [cell.strip() for cell in lines[0].strip("|").split("|")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
        out[section.splitlines()[0]] = [dict(zip(header, row, strict=True)) for row in rows]
    return out


@pytest.fixture(scope="module")
def smoke_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not (SCRIPT.parent.parent.parent / "shared" / "eval" / "squad").is_dir():
        pytest.skip("the shared evaluation data is not on this machine")
    cache = tmp_path_factory.mktemp("benchcache")
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert load_script().main(["--smoke", "--only", "seed,squad", "--cache", str(cache)]) == 0
    return buffer.getvalue()


def test_smoke_prints_the_asked_tables(smoke_output: str):
    titles = list(tables(smoke_output))
    assert any(t.startswith("SQuAD") for t in titles) and any(t.startswith("Seed") for t in titles)
    assert not any(t.startswith(("SciFact", "Abstention", "`ask` latency")) for t in titles)


def test_smoke_scores_are_shares(smoke_output: str):
    scores = [
        float(cell)
        for rows in tables(smoke_output).values()
        for row in rows
        for column, cell in row.items()
        if column != "questions" and re.fullmatch(r"\d+\.\d+", cell)
    ]
    assert len(scores) >= 19  # 3 SQuAD shares and 3 seed metrics, for 3 stages, and the reader's exact F1
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_smoke_seed_hit_at_5(smoke_output: str):
    seed = next(rows for title, rows in tables(smoke_output).items() if title.startswith("Seed"))
    assert {row["stage"] for row in seed} == {"fused", "ranked", "ranked + reader"}
    assert all(float(row["hit@5"]) >= 0.9 for row in seed)


def test_smoke_scores_the_readers_exact_answers(smoke_output: str):
    squad = next(rows for title, rows in tables(smoke_output).items() if title.startswith("SQuAD"))
    f1 = {row["stage"]: row["exact answer F1 (top passage)"] for row in squad}
    assert f1["fused"] == f1["ranked"] == "–"  # no reader, no exact answer
    assert 0.3 <= float(f1["ranked + reader"]) <= 1.0


def test_caught_at_reads_the_threshold_off_the_answerable_scores():
    caught_at = load_script(SCRIPT.with_name("try_answers_branch.py")).caught_at
    answerable = np.array([1] * 100 + [0] * 20)
    score = np.concatenate([np.arange(1.0, 101.0), np.full(10, 0.5), np.full(10, 50.0)])
    assert caught_at(score, answerable, 0.05) == 0.5  # refusing 5 answerable (scores 1-5) catches the ten at 0.5
    assert caught_at(score, answerable, 0.50) == 1.0  # refusing half (1-50) catches the ten at 50 too
    assert caught_at(score, answerable, 0.0) == 0.5


def test_the_ranking_fit_orders_passages_as_by_reading_does():
    from qa.evidence import Candidate
    from qa.reader import Reading
    from qa.retrieval import by_reading

    order_of = load_script(SCRIPT.with_name("fit_reader_ranking.py")).order_of
    rng = np.random.default_rng(0)
    for _ in range(50):
        score = np.sort(rng.normal(size=8))[::-1].copy()
        margin = rng.normal(scale=3.0, size=8)
        read, weight = int(rng.integers(1, 8)), float(rng.choice([0.0, 0.5, 2.0]))
        candidates = [
            Candidate(i, float(score[i]), 0.0, 0.0, reading=Reading(None, 0.0, float(margin[i])) if i < read else None)
            for i in range(8)
        ]
        expected = [c.chunk_id for c in by_reading(candidates, weight)]
        assert order_of(score[None], margin[None], read, weight)[0].tolist() == expected


def test_the_cls_ranking_learns_which_read_passage_answers_from_the_readers_state():
    cls_ranking = load_script(SCRIPT.with_name("fit_reader_ranking.py")).cls_ranking
    rng = np.random.default_rng(0)
    n, read, width = 200, 10, 8
    holds = np.zeros((n, read))
    holds[np.arange(n), rng.integers(0, 3, n)] = 1  # one of the first three passages answers
    cls = rng.normal(size=(n, read, width)).astype(np.float32)
    cls[..., 0] = holds * 3  # and the reader's state says which
    data = {"score": -np.arange(read) + rng.normal(size=(n, read)) * 0.1, "margin": np.zeros((n, read))}
    data |= {"holds": holds, "f1": holds, "cls": cls}
    top, f1, top5 = cls_ranking(data, np.arange(100), np.arange(100, n), 3, 1e-3)
    assert top == f1 == 1.0 and top5 == 1.0
    data["cls"][..., 0] = 0  # without the signal, the ranker's order stands: the first passage answers a third
    top, _, _ = cls_ranking(data, np.arange(100), np.arange(100, n), 3, 1e-3)
    assert top < 0.6
