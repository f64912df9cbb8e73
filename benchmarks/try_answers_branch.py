"""Tried, not shipped: a "does this passage answer?" branch on the reader, trained on SQuAD 2.0 dev, 2 folds by article.

    python benchmarks/try_answers_branch.py                        # every passage read, lr 3e-5, 2 epochs
    python benchmarks/try_answers_branch.py --gold --lr 1e-4 --epochs 3   # only the question's own paragraph

The shipped reader's "no answer" evidence (its span margin) catches few of
SQuAD 2.0's unanswerable questions.  This tries the route issue 12 names:
learn "no answer" from SQuAD 2.0's own questions.  The branch is a copy of
the reader's top layer (initialised from it) and a linear head at [CLS], on
the reader's frozen layer-4 states, for the passages `ask` reads (the
reader's first ``reader_passages``).  A passage is labelled 1 when its
question is answerable and it holds an answer.  Each half of the articles is
scored by the branch trained on the other half; a question's score is that
of the passage `ask` puts first.  The table compares it with the margin.

Its passages and states are cached in ``.benchcache/noans`` (about 2 GB, 30
minutes on 2 cores the first time); training takes 5-15 minutes.
"""

from __future__ import annotations

import argparse
import copy
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.datasets import CACHE, EVAL, cached_engine, read_jsonl, squad_corpus  # noqa: E402
from benchmarks.quality import table  # noqa: E402
from qa.reader import MARGIN_BOUND, Reader, best_span, shipped_reader  # noqa: E402

WORK = CACHE / "noans"
STATE_LAYER = 5  # hidden_states[5]: the output of layer 4, what the reader's top layer reads


class Recording:
    """The shipped reader, keeping what `ask` gave it to read."""

    def __init__(self, inner):
        self.inner, self.record, self.seen = inner, inner.record, []

    def read(self, question, passages):
        self.seen.append(list(passages))
        return self.inner.read(question, passages)


def passages_read(questions: list[dict]) -> list[dict]:
    """Per SQuAD 2.0 question: the passages the reader reads in `ask`, whether each holds an answer, the top margin."""
    path = WORK / "passages.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    recording = Recording(shipped_reader())
    engine = cached_engine("squad", squad_corpus()).reading(recording)
    rows = []
    for q in questions:
        recording.seen.clear()
        evidence = engine.evidence(q["question"])
        chosen = engine.choose(evidence) if evidence.candidates else []
        passages = recording.seen[0] if recording.seen else []
        top = chosen[0].reading if chosen else None
        rows.append(
            {
                "q": q,
                "passages": passages,
                "top_margin": top.margin if top else None,
                "has": [any(a in p for a in q["answers"]) for p in passages],
            }
        )
    WORK.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


def states(rows: list[dict]) -> list[list[dict]]:
    """Per question and passage read: the reader's layer-4 states (fp16, unpadded) and its margin (torch)."""
    import torch

    path = WORK / "states-v2.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    reader = Reader.load()
    model = reader.model
    out = []
    for row in rows:
        passages = row["passages"]
        if not passages:
            out.append([])
            continue
        enc, offsets = reader.encode(row["q"]["question"], passages)
        with torch.inference_mode():
            output = model.backbone(**enc, output_hidden_states=True)
            logits = model.head(output.last_hidden_state).numpy()
        hidden = output.hidden_states[STATE_LAYER]
        lengths = enc["attention_mask"].sum(1).tolist()
        out.append(
            [
                {
                    "h": hidden[j, : lengths[j]].numpy().astype(np.float16),
                    "margin": best_span(logits[j, :, 0], logits[j, :, 1], enc.sequence_ids(j), offsets[j]).margin,
                }
                for j in range(len(passages))
            ]
        )
    path.write_bytes(pickle.dumps(out, protocol=5))
    return out


def branch_class():
    import torch
    from transformers.masking_utils import create_bidirectional_mask

    class Branch(torch.nn.Module):
        """A copy of the reader's top layer and a has-answer logit at [CLS]."""

        def __init__(self, reader: Reader):
            super().__init__()
            backbone = reader.model.backbone
            self.layer = copy.deepcopy(backbone.encoder.layer[STATE_LAYER])
            self.head = torch.nn.Linear(backbone.config.hidden_size, 1)
            self.config = backbone.config

        def forward(self, hidden, mask):
            attention = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=mask)
            out = self.layer(hidden, attention_mask=attention)
            out = out[0] if isinstance(out, tuple) else out
            return self.head(out[:, 0]).squeeze(-1)

    return Branch


def batch(examples: list[dict]):
    import torch

    longest = max(len(e["h"]) for e in examples)
    hidden = np.zeros((len(examples), longest, examples[0]["h"].shape[1]), dtype=np.float32)
    mask = np.zeros((len(examples), longest), dtype=np.int64)
    for i, e in enumerate(examples):
        hidden[i, : len(e["h"])], mask[i, : len(e["h"])] = e["h"], 1
    labels = torch.tensor([e["label"] for e in examples], dtype=torch.float32)
    return torch.from_numpy(hidden), torch.from_numpy(mask), labels


def train(reader: Reader, examples: list[dict], epochs: int, lr: float, size: int = 32):
    """The branch fitted on ``examples`` (AdamW, warm-up then linear decay; batches of similar lengths)."""
    import torch

    torch.manual_seed(0)
    branch = branch_class()(reader)
    optimiser = torch.optim.AdamW(branch.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * -(-len(examples) // size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, s / (0.1 * steps)) * max(0.0, 1 - s / steps)
    )
    loss_of = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        order = rng.permutation(len(examples))
        for b in range(0, len(order), size * 20):
            block = sorted(order[b : b + size * 20], key=lambda i: len(examples[i]["h"]))
            for i in range(0, len(block), size):
                hidden, mask, labels = batch([examples[k] for k in block[i : i + size]])
                loss = loss_of(branch(hidden, mask), labels)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
    return branch.eval()


def predict(branch, examples: list[dict], size: int = 64) -> np.ndarray:
    import torch

    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["h"]))
    out = np.zeros(len(examples))
    with torch.inference_mode():
        for i in range(0, len(order), size):
            rows = order[i : i + size]
            hidden, mask, _ = batch([examples[k] for k in rows])
            out[rows] = branch(hidden, mask).numpy()
    return out


def caught_at(score: np.ndarray, answerable: np.ndarray, refused: float) -> float:
    """Share of unanswerable questions below the threshold that refuses ``refused`` of the answerable ones."""
    threshold = np.sort(score[answerable == 1])[int(refused * (answerable == 1).sum())]
    return float(np.mean(score[answerable == 0] < threshold))


def main(argv: list[str] | None = None) -> None:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--gold", action="store_true", help="train only on passages of the question's own paragraph")
    args = ap.parse_args(argv)
    questions = read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl")
    contexts = {c["id"]: c["text"] for c in read_jsonl(EVAL / "squad" / "contexts.jsonl")}
    rows = passages_read(questions)
    examples = [
        s
        | {
            "question": i,
            "article": int(row["q"]["context_id"].split("-")[0]),
            "label": int(not row["q"]["is_impossible"] and row["has"][j]),
            "own": row["passages"][j] in contexts[row["q"]["context_id"]],
        }
        for i, (row, read) in enumerate(zip(rows, states(rows), strict=True))
        for j, s in enumerate(read)
    ]
    reader, scores = Reader.load(), np.zeros(len(examples))
    for half in (0, 1):
        fit = [e for e in examples if e["article"] % 2 != half and (not args.gold or e["own"] or e["label"])]
        scored = [i for i, e in enumerate(examples) if e["article"] % 2 == half]
        scores[scored] = predict(train(reader, fit, args.epochs, args.lr), [examples[i] for i in scored])
    by_question: dict[int, list[int]] = {}
    for i, e in enumerate(examples):
        by_question.setdefault(e["question"], []).append(i)
    answerable, margin, first = [], [], []
    for q, idx in by_question.items():
        margins = [examples[i]["margin"] for i in idx]
        top = rows[q]["top_margin"] if rows[q]["top_margin"] is not None else max(margins)
        k = idx[int(np.argmin([abs(m - top) for m in margins]))]  # the passage `ask` put first (int8 vs torch)
        answerable.append(int(not rows[q]["q"]["is_impossible"]))
        margin.append(max(-MARGIN_BOUND, min(MARGIN_BOUND, examples[k]["margin"])))
        first.append(scores[k])
    answerable, margin, first = np.array(answerable), np.array(margin), np.array(first)
    table_rows = [
        [name, f"{roc_auc_score(answerable, s):.3f}", f"{caught_at(s, answerable, 0.05):.3f}"]
        + [f"{caught_at(s, answerable, 0.10):.3f}"]
        for name, s in (("reader's margin (shipped)", margin), ("branch", first))
    ]
    print(
        f"### SQuAD 2.0 dev, {len(answerable):,} questions, held out by article (2 halves); "
        f"epochs {args.epochs}, lr {args.lr}, {'own paragraph only' if args.gold else 'every passage read'}\n"
    )
    print(table(["score of the top passage", "AUC", "unanswerable caught at 5% refused", "at 10%"], table_rows))


if __name__ == "__main__":
    main()
