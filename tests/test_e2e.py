"""End to end with the real MiniLM model and the committed index in embeddings/."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
from qa.evaluation import Report, evaluate


@pytest.fixture(scope="module")
def seed_dev(repo_root: Path) -> Path:
    path = repo_root.parent / "shared" / "eval" / "seed_dev.jsonl"
    if not path.exists():
        pytest.skip(f"the seed dev set is not here: {path}")
    return path


@pytest.fixture(scope="module")
def report(real_engine: qa.Engine, seed_dev: Path) -> Report:
    return evaluate(real_engine, seed_dev, k=5)


def test_hit_at_5(report: Report):
    metrics = report.metrics()
    assert metrics["hit@5"] >= 0.9, f"hit@5 {metrics['hit@5']:.3f}; missed: {report.missed()}"


def test_off_topic_questions_are_abstained(report: Report):
    off_topic = [q for q, t in report.types.items() if t == "off-topic"]
    assert off_topic
    assert [q for q in off_topic if report.answered[q]] == []


def test_no_verbatim_violations(report: Report):
    assert report.verbatim_violations == 0


def test_egg_question_is_not_answered(real_engine: qa.Engine):
    answer = real_engine.ask("How long should I boil an egg?")
    assert answer.answered is False
    assert answer.to_markdown().startswith("**The corpus does not seem to answer")


def test_state_department_spokesman_is_cited_from_reuters(real_engine: qa.Engine):
    answer = real_engine.ask(
        "Which State Department spokesman ruled out joint US-Russian military operations in Syria?"
    )
    assert answer.answered
    assert len(answer.passages) == 5
    assert any(p.source == "Reuters" for p in answer.passages), [p.source for p in answer.passages]
    for p in answer.passages:
        assert real_engine.document(p.doc_id).text[p.start : p.end] == p.text


def test_surgeon_question_is_answered_by_a_reader_comment(real_engine: qa.Engine):
    answer = real_engine.ask("Where did Bashar al-Assad work as a surgeon?", k=3)
    assert answer.answered
    assert answer.passages[0].section == "comment"
    assert "surgeon here in London" in answer.passages[0].text


EXACT = {  # question -> words the exact answer of the top passage holds
    "Which State Department spokesman ruled out joint US-Russian military operations in Syria?": "Toner",
    "Where did Bashar al-Assad work as a surgeon?": "London",
}


def test_exact_answers_are_verbatim_spans_inside_their_passages(real_engine: qa.Engine):
    from qa.reader import fingerprint, shipped_reader

    for question, expected in EXACT.items():
        answer = real_engine.ask(question)
        assert answer.reader == fingerprint(shipped_reader())
        assert expected in (answer.passages[0].answer_text or ""), (question, answer.passages[0].answer_text)
        for p in answer.passages:
            if p.answer:
                start, end = p.answer
                assert p.start <= start < end <= p.end
                assert real_engine.document(p.doc_id).text[start:end] == p.answer_text
                assert any(s <= start and end <= e for s, e in p.highlights), "the answering sentence is marked"
        assert answer.to_markdown().startswith("**Answer:** “")


def test_the_reader_can_be_turned_off(real_engine: qa.Engine):
    question = next(iter(EXACT))
    off = real_engine.reading(None).ask(question)
    assert off.reader is None and off.answered
    assert all(p.answer is None for p in off.passages)
