"""Choose how the reader weighs in on the ranking: how many passages it reads, and the weight of its margin.

    python benchmarks/fit_reader_ranking.py [--n 5696]

SQuAD v1.1 dev (articles 0-23) over the 2,067-paragraph index, through the
product: the ten passages `ask(q, k=10)` would give without the reader are
read, and for each setting (``reader_passages`` R, ``reader_weight`` w) the
passages after `qa.retrieval.by_reading` are scored: does the top one hold
an answer, the exact-answer F1 of the span the reader marks in it (0 when it
marks none), and does one of the top five hold an answer.
Settings are chosen by that F1, the smaller R on a tie (it is faster); a
2-fold split by article scores the setting chosen on one half on the other
(the reader never saw these articles; the ranker's scores are in-sample on
all of them, which if anything favours a small weight for the reader).  The
F1 here counts every question, answered or not (`quality.py` counts it only
when `ask` answers).  The chosen pair goes into `qa.retrieval.RetrievalSettings` by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa  # noqa: E402
from benchmarks.datasets import (  # noqa: E402
    CACHE,
    EVAL,
    cached_arrays,
    cached_engine,
    dev_article,
    index_key,
    read_jsonl,
    squad_corpus,
)
from benchmarks.quality import holds_answer, subsample, table  # noqa: E402
from qa.confidence import READER_WIDTH  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402
from qa.reader import MARGIN_BOUND, OnnxReader, fingerprint  # noqa: E402

READ = 10  # passages read per question; every R up to it is scored from the same readings
WEIGHTS = np.round(np.arange(0.0, 2.01, 0.1), 2)


def readings(engine: qa.Engine, questions: list[dict]) -> dict[str, np.ndarray]:
    """Per question and passage (ranker order): ranker score, bounded margin, holds an answer, exact F1, and the
    reader's top layer at [CLS] (``cls``, zeros where unread)."""
    shape = (len(questions), READ)
    out = {name: np.zeros(shape) for name in ("score", "margin", "holds", "f1")}
    out["cls"] = np.zeros((*shape, READER_WIDTH), dtype=np.float32)
    out["score"][:] = -np.inf  # fewer than READ passages: never chosen
    for i, q in enumerate(questions):
        chosen = engine.choose(engine.evidence(q["question"]), READ)
        for j, c in enumerate(chosen):
            chunk = engine.store.chunk(c.chunk_id)
            text = engine.document(chunk.doc_id).text
            out["score"][i, j] = c.score
            passage = text[chunk.start : chunk.end]
            out["holds"][i, j] = holds_answer(q, chunk.doc_id, [(chunk.start, chunk.end)], passage)
            if c.reading is None:
                out["margin"][i, j] = -MARGIN_BOUND
                continue
            out["margin"][i, j] = c.reading.evidence
            if c.reading.cls is not None:
                out["cls"][i, j] = c.reading.cls
            if c.reading.span and c.reading.margin > 0:
                span = text[chunk.start + c.reading.span[0] : chunk.start + c.reading.span[1]]
                out["f1"][i, j] = max(answer_f1(span, a) for a in q["answers"])
        if i % 500 == 0:
            print(f"read {i:,} of {len(questions):,}", file=sys.stderr)
    return out


def order_of(score: np.ndarray, margin: np.ndarray, read: int, weight: float) -> np.ndarray:
    """Per row (passages in ranker order), the passages' order after `by_reading` with R = ``read``, w = ``weight``.

    `by_reading` for a whole grid of settings at once, in numpy (a test pins that the two agree).
    """
    combined = score.copy()
    combined[:, :read] += weight * margin[:, :read]
    floor = combined[:, :read].min(axis=1, keepdims=True)
    combined[:, read:] = np.minimum(score[:, read:], floor) - 1e-9  # unread ones stay below, in order
    return np.argsort(-combined, axis=1, kind="stable")


def top_of(data: dict[str, np.ndarray], rows: np.ndarray, read: int, weight: float) -> tuple[float, float, float]:
    """Answer in the top passage, its exact F1, and answer in a top-5 passage, with R = ``read``, w = ``weight``."""
    return figures(data, rows, order_of(data["score"][rows], data["margin"][rows], read, weight))


def figures(data: dict[str, np.ndarray], rows: np.ndarray, order: np.ndarray) -> tuple[float, float, float]:
    """Answer in the top passage, its exact F1, and answer in a top-5 passage, for ``rows`` put in ``order``."""
    best = order[:, 0]
    top5 = np.take_along_axis(data["holds"][rows], order[:, :5], axis=1).max(axis=1)
    return float(data["holds"][rows, best].mean()), float(data["f1"][rows, best].mean()), float(top5.mean())


def choose(data: dict[str, np.ndarray], rows: np.ndarray) -> tuple[int, float]:
    """The setting with the best exact F1 of the top passage (then the fewest passages read, the smallest weight)."""
    scored = [(round(top_of(data, rows, r, w)[1], 4), -r, -w, r, w) for r in range(1, READ + 1) for w in WEIGHTS]
    best = max(scored)
    return best[3], best[4]


def halves(questions: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two 2-fold splits of SQuAD dev ``questions`` (positions) by article: (fit on even, test on odd), (fit on
    odd, test on even)."""
    articles = np.array([dev_article(q["context_id"]) for q in questions])
    return [(np.where(articles % 2 == h)[0], np.where(articles % 2 != h)[0]) for h in (0, 1)]


def cls_ranking(data: dict[str, np.ndarray], fit: np.ndarray, test: np.ndarray, read: int, l2: float):
    """Held-out `top_of` figures when the first ``read`` passages are ordered by a linear map of ranker score,
    margin and the reader's [CLS] state, fitted listwise (softmax over the passages that hold an answer) on ``fit``.

    Tried for issue 12's top-passage target: does the reader's state say more about which passage answers than its
    margin does?  ``l2`` penalises the [CLS] weights alone.
    """
    import torch

    def features(rows):
        parts = [data["score"][rows, :read, None], data["margin"][rows, :read, None], data["cls"][rows, :read]]
        return torch.tensor(np.concatenate(parts, axis=2), dtype=torch.float32)

    x, y = features(fit), torch.tensor(data["holds"][fit, :read], dtype=torch.float32)
    keep = (y.sum(1) > 0) & (y.sum(1) < read) & torch.isfinite(x[:, :, 0]).all(1)  # rows where the order matters
    x, y = x[keep], y[keep]
    flat = x.reshape(-1, x.shape[2])
    mean, scale = flat.mean(0), flat.std(0) + 1e-6
    w = torch.zeros(x.shape[2], requires_grad=True)
    optimiser = torch.optim.LBFGS([w], max_iter=200)

    def loss():
        optimiser.zero_grad()
        log_p = torch.log_softmax(((x - mean) / scale) @ w, 1)
        value = -torch.logsumexp(log_p + torch.log(y + 1e-12), 1).mean() + l2 * (w[2:] ** 2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    score = data["score"][test]
    mapped = score.copy()  # the read passages scored by the map, the rest below them in ranker order (`order_of`)
    learned = (((features(test) - mean) / scale) @ w.detach()).numpy()
    mapped[:, :read] = np.where(np.isfinite(score[:, :read]), learned, -np.inf)
    return figures(data, test, order_of(mapped, data["margin"][test], read, 0.0))


# The settings that decide which passages the reader reads (`Engine.choose`), and so key the cache of its readings.
CHOOSING = (
    "stage",
    "candidates",
    "rrf_k",
    "rerank_depth",
    "dense_weight",
    "lexical_weight",
    "min_dense",
    "max_overlap",
    "near_duplicate",
    "reader_passages",
    "reader_weight",
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="SQuAD dev questions (fixed-seed sample; default all)")
    ap.add_argument("--cls", action="store_true", help="also try a linear map of the reader's [CLS] state")
    args = ap.parse_args(argv)
    reader = OnnxReader.load()
    settings = qa.RetrievalSettings(reader_passages=READ, reader_weight=0.0)
    squad = cached_engine("squad", squad_corpus())
    engine = squad.staged(settings, squad.ranker).reading(reader)
    questions = subsample(read_jsonl(EVAL / "squad" / "questions_dev.jsonl"), args.n)
    chosen_by = {f: getattr(settings, f) for f in CHOOSING}  # not every setting: a new one must not void the cache
    parts = [fingerprint(reader), len(questions), READ, index_key(), squad.ranker.fingerprint(), chosen_by]
    key = CACHE / "reader" / f"ranking-{hashlib.sha256(repr(parts).encode()).hexdigest()[:12]}.npz"
    data = cached_arrays(key, lambda: readings(engine, questions))
    everything = np.arange(len(questions))
    rows = []
    for r in (1, 2, 3, 4, 5, 6, 8, 10):
        for w in (0.0, 0.25, 0.5, 1.0, 1.5, 2.0):
            rows.append([r, w, *top_of(data, everything, r, w)])
    print(f"### Reader in the ranking, SQuAD v1.1 dev, {len(questions)} questions (reader {fingerprint(reader)})\n")
    header = ["passages read", "weight", "answer in top passage", "exact F1 of top passage", "answer in top 5"]
    print(table(header, rows))
    print("\n| chosen on articles | R | w | on the other half: answer in top | exact F1 | answer in top 5 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for half, (fit, test) in enumerate(halves(questions)):
        r, w = choose(data, fit)
        held = " | ".join(f"{x:.3f}" for x in top_of(data, test, r, w))
        print(f"| {'even' if half == 0 else 'odd'} | {r} | {w} | {held} |")
    r, w = choose(data, everything)
    print(f"\nchosen on all: reader_passages={r}, reader_weight={w}: {top_of(data, everything, r, w)}")
    if args.cls:
        print("\n| [CLS] model, R = 3, L2 | held out by article: answer in top | exact F1 | answer in top 5 |")
        print("| --- | --- | --- | --- |")
        for l2 in (1e-3, 1e-2, 1e-1, 1.0):
            held = [(cls_ranking(data, fit, test, 3, l2), len(test)) for fit, test in halves(questions)]
            mean = sum(np.array(h) * n for h, n in held) / len(questions)
            print(f"| {l2:g} | " + " | ".join(f"{x:.3f}" for x in mean) + " |")


if __name__ == "__main__":
    main()
