"""`benchmarks/train_reader.py`'s listwise option: batches that keep a question's passages together, and its loss."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.train_reader import batches, group_batches, listwise_loss


def test_group_batches_keep_each_questions_passages_together_and_every_example_once():
    groups = np.array([0, 0, 0, -1, 1, 1, 2, -1, 3, 3, 3, 4, -1, 5, 5], dtype=np.int32)
    data = {"groups": groups, "lengths": np.arange(len(groups)) + 10}
    plan = group_batches(data, batch=4, seed=7)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(groups)))
    for rows in plan:
        assert len(rows) <= 4
        for g in set(groups[rows].tolist()) - {-1}:
            assert set(np.where(groups == g)[0]) <= set(rows.tolist())  # the whole group is in this batch
    assert [r.tolist() for r in plan] == [r.tolist() for r in group_batches(data, batch=4, seed=7)]  # seeded
    assert sorted(np.concatenate(batches(data, 4, 7)).tolist()) == list(range(len(groups)))


def scores(per_passage: list[float]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Start and end scores of passages of four tokens ([CLS], a question token, two passage tokens) whose
    evidence against [CLS] is ``per_passage``, with the passage mask."""
    n = len(per_passage)
    start = torch.zeros(n, 4)
    start[:, 2] = torch.tensor(per_passage)
    passage = torch.zeros(n, 4, dtype=torch.bool)
    passage[:, 2:] = True
    return start, torch.zeros(n, 4), passage


def test_the_listwise_loss_is_low_when_the_answering_passage_scores_highest_among_its_questions():
    groups = torch.tensor([0, 0, 0, 1, 1])
    answered = torch.tensor([True, False, False, False, True])
    right = listwise_loss(*scores([6.0, 0.0, 0.0, 0.0, 6.0]), groups, answered)
    wrong = listwise_loss(*scores([0.0, 6.0, 0.0, 6.0, 0.0]), groups, answered)
    assert right < 0.05 < 3.0 < wrong
    # a lone passage, a twin (-1) or a question with no answering passage adds nothing
    alone = listwise_loss(*scores([6.0, 0.0, 1.0]), torch.tensor([0, -1, 2]), torch.tensor([True, False, False]))
    assert float(alone) == 0.0
    start, end, passage = scores([0.0, 6.0, 0.0])
    start.requires_grad_(True)
    listwise_loss(start, end, passage, torch.tensor([0, 0, 0]), torch.tensor([True, False, False])).backward()
    assert start.grad[0, 2] < 0 < start.grad[1, 2]  # it lifts the answering passage and lowers the other


def test_v2_examples_keep_to_their_articles_and_label_unanswerable_questions_no_answer():
    from benchmarks.datasets import EVAL, read_jsonl
    from benchmarks.train_reader import v2_articles, v2_examples
    from qa.chunking import ChunkingSettings

    questions = read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl")
    even = [q for q in questions if v2_articles(q, "even")]
    odd = [q for q in questions if v2_articles(q, "odd")]
    assert len(even) + len(odd) == len(questions) and even and odd
    assert {int(q["context_id"].split("-")[0]) % 2 for q in even} == {0}
    assert all(v2_articles(q, "all") for q in questions)
    rows = v2_examples("odd", ChunkingSettings())
    answers: dict[str, set] = {}  # a question's text may stand twice (SQuAD repeats a few)
    for q in odd:
        answers.setdefault(q["question"], set()).update(q["answers"] if not q["is_impossible"] else [None])
    assert {r[0] for r in rows} <= set(answers) and len(rows) > 0.9 * len(odd)
    assert sum(r[2] == -1 for r in rows) == sum(q["is_impossible"] for q in odd)  # each unanswerable one, no answer
    for question, passage, start, end, group in rows:
        assert group == -1
        # the answer's place in the chunk it is read on, or "no answer" for an unanswerable question
        assert (passage[start:end] if start >= 0 else None) in answers[question]
