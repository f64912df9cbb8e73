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
