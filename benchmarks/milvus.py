"""The Milvus store beside the local store on the default corpus, the shipped model: the same answers?

    python benchmarks/milvus.py [--cache DIR] [--out FILE]

Both stores are built from a copy of ``data/`` with the shipped model (the local one into a fresh folder, the
Milvus one into a Milvus Lite file), then the 40 seed dev questions (``../shared/eval/seed_dev.jsonl``) are asked
of each with ``ask(q, k=5)``: how often the top passage is the same, each store's hit@1 / hit@5 / MRR
(`qa.evaluation.evaluate`), the mean absolute difference of the confidences, and the ask p50.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa  # noqa: E402
from benchmarks.datasets import SEED, emit, read_jsonl  # noqa: E402
from qa.evaluation import evaluate  # noqa: E402


def asked(engine: qa.Engine, questions: list[str]) -> tuple[list[qa.Answer], float]:
    """Every answer, and the p50 of the asks in ms (after one warm-up ask)."""
    engine.ask(questions[0])
    answers, seconds = [], []
    for question in questions:
        started = time.perf_counter()
        answers.append(engine.ask(question, k=5))
        seconds.append(time.perf_counter() - started)
    return answers, 1000 * statistics.median(seconds)


def first(answer: qa.Answer) -> tuple[str, int] | None:
    return (answer.passages[0].doc_id, answer.passages[0].start) if answer.passages else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the table to this Markdown file")
    args = ap.parse_args(argv)
    questions = [row["question"] for row in read_jsonl(SEED)]
    with tempfile.TemporaryDirectory() as work:
        corpus = Path(shutil.copytree(ROOT / "data", Path(work) / "corpus"))
        embedder = qa.load_embedder(qa.DEFAULT_MODEL)
        local = qa.build(corpus, Path(work) / "index", embedder=embedder)
        milvus = qa.build(corpus, store=qa.MilvusStore(str(Path(work) / "qa.db")), embedder=embedder)
        rows, tops = {}, {}
        for name, engine in (("local store", local), ("Milvus Lite", milvus)):
            answers, p50 = asked(engine, questions)
            tops[name] = answers
            metrics = evaluate(engine, SEED, k=5).metrics()
            rows[name] = (metrics["hit@1"], metrics["hit@5"], metrics["MRR"], p50)
        milvus.close()
    pairs = list(zip(tops["local store"], tops["Milvus Lite"], strict=True))
    same = sum(first(a) == first(b) for a, b in pairs)
    drift = statistics.mean(abs(a.confidence - b.confidence) for a, b in pairs)
    lines = [
        f"### Milvus Lite beside the local store: default corpus, {len(questions)} seed dev questions, shipped model",
        "",
        "| store | hit@1 | hit@5 | MRR | ask p50 ms |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {n} | {h1:.3f} | {h5:.3f} | {mrr:.3f} | {p50:.0f} |" for n, (h1, h5, mrr, p50) in rows.items()),
        "",
        f"Same top passage: {same}/{len(pairs)} ({same / len(pairs):.1%}); mean |confidence difference|: {drift:.4f}.",
    ]
    text = "\n".join(lines)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
