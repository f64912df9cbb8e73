"""Train the second-stage ranker shipped as ``qa/ranker.json``.

    python benchmarks/train_ranker.py            # cross-validated report, then fit on all and save

Training data: SQuAD v1.1 dev questions (articles 0-23) over the 2,067-paragraph
corpus, and the seed dev set over the default corpus. SciFact is never used
here (non-commercial licence; it only evaluates). For each question, the fused
top candidates are featurised (`qa.ranker.FEATURES`) and labelled 1 when the
chunk holds the answer: for SQuAD, it covers a gold answer span; for the seed
set, it covers half an evidence span (`qa.evaluation.covers`, the eval rule). A linear scorer is
fitted listwise (softmax over each question's candidates); cross-validation is
grouped by SQuAD article (the seed set is one more group spread over the
folds), so every reported figure is on questions the model did not see. The
engine orders the fused top candidates by the learned score alone; the report
also shows what a prior for the fused position would change (on the product's
own seed evaluation, a prior of 0.25 lost a hit@1 and gained no hit@5).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa  # noqa: E402
import qa.answer_type  # noqa: E402
import qa.evidence  # noqa: E402
import qa.highlight  # noqa: E402
import qa.ranker  # noqa: E402
from benchmarks.datasets import (  # noqa: E402
    CACHE,
    SEED,
    cached_engine,
    index_key,
    memoised,
    squad_corpus,
    squad_questions,
    training_record,
)
from qa.evaluation import covers, gold_spans, read_gold  # noqa: E402
from qa.ranker import FEATURES, RANKER_FILE, Ranker  # noqa: E402
from qa.retrieval import RetrievalSettings  # noqa: E402

DEPTH = RetrievalSettings().rerank_depth


def fused_stage(engine: qa.Engine) -> qa.Engine:
    """The same index and featurizer, ranked up to fusion: what the second stage re-orders."""
    return engine.staged(RetrievalSettings(stage="fused"))


def featurise(fused: qa.Engine, question: str, spans: list[tuple[str, int, int]], share: float):
    """Features and labels of the fused top candidates of one question, exactly as the ranked stage builds them."""
    evidence = fused.evidence(question)
    candidates, x = fused.featurizer.featurize(evidence.question, evidence.candidates[:DEPTH])
    chunks = [fused.store.chunk(c.chunk_id) for c in candidates]
    y = np.asarray([any(covers(c.doc_id, c.start, c.end, s, share) for s in spans) for c in chunks], dtype=float)
    return x, y


def collect(squad_limit: int | None):
    """Feature rows, labels, question ids and groups (SQuAD article, or "seed")."""
    xs, ys, qids, groups = [], [], [], []

    def add(x: np.ndarray, y: np.ndarray, qid: str, group: str) -> None:
        xs.append(x), ys.append(y)
        qids.extend([qid] * len(y)), groups.extend([group] * len(y))

    engine = fused_stage(cached_engine("squad", squad_corpus()))
    questions = squad_questions()[:squad_limit]
    for n, q in enumerate(questions):
        spans = [(q.doc_id, s, s + len(a)) for a, s in zip(q.answers, q.starts, strict=True)]
        x, y = featurise(engine, q.question, spans, share=1.0)
        add(x, y, q.id, q.article)
        if n % 500 == 0:
            print(f"  squad {n}/{len(questions)}", flush=True)
    seed = fused_stage(memoised(qa.load()))
    texts = {d: seed.document(d).text for d in seed.documents}
    for g in read_gold(SEED):
        if not g.answerable:
            continue
        x, y = featurise(seed, g.question, gold_spans(g, texts), share=0.5)
        add(x, y, g.id, "seed")
    return np.vstack(xs), np.concatenate(ys), np.asarray(qids), np.asarray(groups)


def cached_collect(squad_limit: int | None):
    """`collect`, saved under .benchcache keyed by the features, the code computing them, the index and the limit."""
    code = [Path(m.__file__).read_text() for m in (qa.ranker, qa.answer_type, qa.highlight, qa.evidence)]
    key = hashlib.sha256(json.dumps([FEATURES, index_key(), squad_limit, DEPTH, code]).encode()).hexdigest()[:10]
    path = CACHE / f"ranker-features-{key}.npz"
    if path.exists():
        data = np.load(path)
        return data["x"], data["y"], data["qids"], data["groups"]
    x, y, qids, groups = collect(squad_limit)
    np.savez(path, x=x, y=y, qids=qids, groups=groups)
    return x, y, qids, groups


def fit(x: np.ndarray, y: np.ndarray, qids: np.ndarray, weight: np.ndarray, l2: float, steps: int = 400) -> Ranker:
    """A linear scorer trained listwise: softmax over each question's candidates, cross-entropy against its positives.

    The product shows the top passage first, so the loss asks for exactly that
    (the positives' share of the softmax), rather than a pointwise
    "is this chunk relevant", which spends its capacity on easy negatives.
    Full-batch Adam on standardised features; ``weight`` weighs each question.
    """
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    questions, row_question = np.unique(qids, return_inverse=True)
    positives = np.bincount(row_question, weights=y, minlength=len(questions))
    target = y / np.maximum(positives, 1)[row_question]
    question_weight = np.bincount(row_question, weights=weight, minlength=len(questions)) / np.bincount(row_question)
    question_weight = np.where(positives > 0, question_weight, 0.0)  # nothing to learn from a list without the answer
    row_weight = (question_weight / question_weight.sum())[row_question]
    beta, m, v = np.zeros(z.shape[1]), np.zeros(z.shape[1]), np.zeros(z.shape[1])
    for t in range(1, steps + 1):
        s = z @ beta
        top = np.full(len(questions), -np.inf)
        np.maximum.at(top, row_question, s)
        e = np.exp(s - top[row_question])
        p = e / np.bincount(row_question, weights=e, minlength=len(questions))[row_question]
        grad = z.T @ ((p - target) * row_weight) + l2 * beta
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        beta -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return Ranker(list(FEATURES), mean.tolist(), scale.tolist(), beta.tolist(), 0.0)


def rank_metrics(scores: np.ndarray, y: np.ndarray, qids: np.ndarray) -> dict[str, float]:
    """hit@1, hit@5 and MRR over questions with a positive among their candidates."""
    hit1 = hit5 = rr = n = 0
    for q in np.unique(qids):
        m = qids == q
        if not y[m].any():
            continue
        order = np.argsort(-scores[m], kind="stable")
        first = int(np.argmax(y[m][order] > 0)) + 1
        hit1 += first == 1
        hit5 += first <= 5
        rr += 1 / first
        n += 1
    return {"hit@1": hit1 / n, "hit@5": hit5 / n, "MRR": rr / n, "questions": n}


def with_prior(learned: np.ndarray, qids: np.ndarray, prior: float) -> np.ndarray:
    """The learned score with a prior for the fused position (the engine's is 0)."""
    position = np.zeros(len(qids))
    for q in np.unique(qids):
        rows = np.flatnonzero(qids == q)  # stored in fused order
        position[rows] = np.arange(1, len(rows) + 1)
    return learned - prior * np.log(position)


def cross_validate(x, y, qids, groups, weight, l2: float, folds: int = 5) -> dict[str, dict]:
    """Fused order vs the ranked stage, each question scored by a model fitted without its fold.

    Folds: SQuAD by article; seed questions spread over the folds one by one.
    """
    articles = sorted(set(groups) - {"seed"})
    seed_ids = sorted(set(qids[groups == "seed"]))
    fold = np.asarray(
        [
            seed_ids.index(q) % folds if g == "seed" else articles.index(g) % folds
            for q, g in zip(qids, groups, strict=True)
        ]
    )
    learned = np.zeros(len(y))
    for f in range(folds):
        test = fold == f
        learned[test] = fit(x[~test], y[~test], qids[~test], weight[~test], l2).score(x[test])
    orders = {"fused": -np.arange(len(y), dtype=float)}
    for prior in (0.0, 0.25, 0.5):
        orders[f"ranked, fused prior {prior}"] = with_prior(learned, qids, prior)
    out = {}
    for name, mask in (("squad", groups != "seed"), ("seed", groups == "seed")):
        out[name] = {order: rank_metrics(s[mask], y[mask], qids[mask]) for order, s in orders.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--squad-limit", type=int, default=None, help="first N SQuAD questions only")
    ap.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on the weights")
    ap.add_argument("--seed-weight", type=float, default=10.0, help="weight of a seed question's rows (news domain)")
    ap.add_argument("--out", default=str(RANKER_FILE))
    args = ap.parse_args(argv)
    x, y, qids, groups = cached_collect(args.squad_limit)
    print(f"{len(np.unique(qids))} questions, {len(y)} candidates, {int(y.sum())} positive")
    weight = np.where(groups == "seed", args.seed_weight, 1.0)
    cv = cross_validate(x, y, qids, groups, weight, args.l2)
    print("| set | order | hit@1 | hit@5 | MRR | questions |\n| --- | --- | --- | --- | --- | --- |")
    for name, rows in cv.items():
        for order, m in rows.items():
            print(
                f"| {name} (held-out folds) | {order} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['MRR']:.3f} "
                f"| {m['questions']} |"
            )
    ranker = fit(x, y, qids, weight, args.l2)
    limit = f" --squad-limit {args.squad_limit}" if args.squad_limit else ""
    command = f"python benchmarks/train_ranker.py --l2 {args.l2} --seed-weight {args.seed_weight}{limit}"
    ranker.training = training_record(command) | {
        "questions": int(len(np.unique(qids))),
        "candidates_per_question": DEPTH,
        "l2": args.l2,
        "loss": "listwise softmax cross-entropy",
        "seed_weight": args.seed_weight,
        "cross_validation": cv,
    }
    ranker.training["sha256"] = ranker.fingerprint()
    ranker.save(args.out)
    print(f"saved {args.out}: " + ", ".join(f"{f}={w:+.2f}" for f, w in zip(FEATURES, ranker.weights, strict=True)))


if __name__ == "__main__":
    main()
