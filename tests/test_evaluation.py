"""Gold-set scoring: evidence matching, the half-coverage hit rule, reading gold files, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import qa
from qa.evaluation import GoldQuestion, evaluate, evidence_spans, first_hit, read_gold


def test_evidence_matches_across_nbsp_tabs_and_newlines():
    text = "Intro. The State\xa0Department\n\n  spokesman\tMark Toner said so."
    spans = evidence_spans(text, "State Department spokesman Mark Toner")
    assert len(spans) == 1
    start, end = spans[0]
    assert text[start:end] == "State\xa0Department\n\n  spokesman\tMark Toner"


def test_evidence_with_its_own_odd_white_space_matches_plain_text():
    text = "killing about 150 people and wounding more than 225."
    assert evidence_spans(text, "about\xa0150 \n people") == [(8, 24)]


def test_evidence_is_literal_not_a_pattern():
    text = "It cost $500 (approx.) in 2016. It cost $500 (approx.) again."
    assert len(evidence_spans(text, "$500 (approx.)")) == 2
    assert evidence_spans("a.b", "a.b") == [(0, 3)]
    assert evidence_spans("axb", "a.b") == []


def test_empty_or_missing_evidence():
    assert evidence_spans("anything", "") == []
    assert evidence_spans("anything", "   ") == []
    assert evidence_spans("anything", "nothing") == []


TEXT = "x" * 100 + "E" * 100 + "y" * 100  # the evidence stands at [100, 200)
TEXTS = {"d.txt": TEXT, "other.txt": TEXT}
GOLD = GoldQuestion("q1", "question?", ["d.txt"], ["E" * 100], "number")


def passage(start: int, end: int, doc_id: str = "d.txt") -> qa.Passage:
    texts = TEXTS.get(doc_id, TEXT)
    return qa.Passage(doc_id, start, end, texts[start:end], 0.1, "t", None, "article")


def answer(*passages: qa.Passage) -> qa.Answer:
    return qa.Answer("question?", True, list(passages))


@pytest.mark.parametrize(
    ("span", "rank"),
    [
        ((100, 200), 1),  # exactly the evidence
        ((0, 300), 1),  # around it
        ((100, 150), 1),  # exactly half
        ((150, 250), 1),  # the second half, and more
        ((100, 149), 0),  # just under half
        ((151, 300), 0),
        ((0, 100), 0),  # touches it
        ((200, 300), 0),
    ],
)
def test_half_coverage_rule(span, rank):
    assert first_hit(answer(passage(*span)), GOLD, TEXTS) == rank


def test_hit_must_come_from_a_listed_document():
    assert first_hit(answer(passage(100, 200, "other.txt")), GOLD, TEXTS) == 0


def test_rank_is_that_of_the_first_hit():
    a = answer(passage(0, 50), passage(200, 300, "other.txt"), passage(120, 190), passage(100, 200))
    assert first_hit(a, GOLD, TEXTS) == 3
    assert first_hit(answer(), GOLD, TEXTS) == 0


def test_any_evidence_string_and_any_listed_document_counts():
    gold = GoldQuestion("q", "?", ["missing.txt", "other.txt"], ["not there", "E" * 100], "multi-doc")
    assert first_hit(answer(passage(100, 200, "other.txt")), gold, TEXTS) == 1


def test_document_absent_from_the_index_never_hits():
    gold = GoldQuestion("q", "?", ["missing.txt"], ["E" * 100], "number")
    assert first_hit(answer(passage(100, 200)), gold, TEXTS) == 0


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    return path


def test_read_gold(tmp_path: Path):
    path = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"id": "a", "question": "One doc?", "doc": "x.txt", "evidence": ["e1"], "answer": "1", "type": "number"},
            {"id": "b", "question": "Two docs?", "doc": ["x.txt", "y.txt"], "evidence": ["e2"], "type": "multi-doc"},
            {"id": "c", "question": "None?", "doc": None, "evidence": None, "type": "unanswerable"},
            {"id": "d", "question": "Cake?", "doc": None, "type": "off-topic"},
        ],
    )
    gold = read_gold(path)
    assert [g.id for g in gold] == ["a", "b", "c", "d"]
    assert gold[0].docs == ["x.txt"] and gold[0].evidence == ["e1"]
    assert gold[1].docs == ["x.txt", "y.txt"]
    assert (gold[2].docs, gold[2].evidence) == ([], [])
    assert [g.answerable for g in gold] == [True, True, False, False]


def test_evaluate_on_the_tiny_corpus(tiny_engine: qa.Engine, tmp_path: Path):
    path = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {
                "id": "q1",
                "question": "How many quokkas did rangers count on the island?",
                "doc": "alpha.txt",
                "evidence": ["Rangers counted 12,000 quokkas on the island in 2020."],
                "type": "number",
            },
            {
                "id": "q2",
                "question": "Fagradalsfjall earthquakes",
                "doc": "beta.txt",
                "evidence": ["Scientists recorded 3,000 small earthquakes in a week."],
                "type": "number",
            },
            {"id": "q3", "question": "What is the capital of Peru?", "doc": None, "type": "off-topic"},
        ],
    )
    report = evaluate(tiny_engine, path, k=3)
    metrics = report.metrics()
    assert metrics["questions"] == 3
    assert metrics["hit@3"] == 1.0
    assert metrics["verbatim violations"] == 0
    assert report.missed() == []
    assert set(report.rank) == {"q1", "q2", "q3"} and report.rank["q3"] == 0
    assert metrics["off-topic abstained"] in ("0/1", "1/1")
    json.dumps(metrics)
