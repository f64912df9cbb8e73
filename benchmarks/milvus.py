"""The Milvus store beside the local store, the shipped model: the same answers, the same rankings?

    python benchmarks/milvus.py [--parts seed,scifact] [--smoke] [--out FILE]

seed: both stores are built from a copy of ``data/`` (the local one into a fresh folder, the Milvus one into a
Milvus Lite file), then the 40 seed dev questions (``../shared/eval/seed_dev.jsonl``) are asked of each with
``ask(q, k=5)``: how often the top passage is the same, each store's hit@1 / hit@5 / MRR
(`qa.evaluation.evaluate`), the mean absolute difference of the confidences, and the ask p50.

scifact: the SciFact index `benchmarks/quality.py` ranks (cached under ``.benchcache/index/``) copied into a
Milvus Lite file with `qa.copy` (the same vectors: what differs is the store alone), then every train query
ranked by each store at each stage, scored as `quality.py` scores SciFact (nDCG@10, recall@100).
``--smoke``: 30 queries over 200 documents.
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
from benchmarks import datasets  # noqa: E402
from benchmarks.datasets import SEED, emit, memoised, read_jsonl  # noqa: E402
from benchmarks.quality import SCIFACT_STAGES, Bench, scifact_scores  # noqa: E402
from qa.evaluation import evaluate  # noqa: E402

PARTS = ("seed", "scifact")


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


def part_seed(work: Path) -> str:
    questions = [row["question"] for row in read_jsonl(SEED)]
    corpus = Path(shutil.copytree(ROOT / "data", work / "corpus"))
    embedder = qa.load_embedder(qa.DEFAULT_MODEL)
    local = qa.build(corpus, work / "index", embedder=embedder)
    milvus = qa.build(corpus, store=qa.MilvusStore(str(work / "qa.db")), embedder=embedder)
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
    return "\n".join([
        f"### Milvus Lite beside the local store: default corpus, {len(questions)} seed dev questions, shipped model",
        "",
        "| store | hit@1 | hit@5 | MRR | ask p50 ms |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {n} | {h1:.3f} | {h5:.3f} | {mrr:.3f} | {p50:.0f} |" for n, (h1, h5, mrr, p50) in rows.items()),
        "",
        f"Same top passage: {same}/{len(pairs)} ({same / len(pairs):.1%}); mean |confidence difference|: {drift:.4f}.",
    ])  # fmt: skip


def part_scifact(work: Path, smoke: bool) -> str:
    bench = Bench(argparse.Namespace(smoke=smoke, cache=str(datasets.CACHE), rebuild=False))
    local = bench.scifact_engine
    started = time.perf_counter()
    milvus = memoised(qa.copy(local.store.folder, qa.MilvusStore(str(work / "scifact.db"))))
    copied = time.perf_counter() - started
    rows = []
    for stage in SCIFACT_STAGES:
        (a, ra, _), (b, rb, _) = scifact_scores(local, stage, bench), scifact_scores(milvus, stage, bench)
        rows.append(f"| {stage} | {a:.3f} | {b:.3f} | {b - a:+.3f} | {ra:.3f} | {rb:.3f} |")
    milvus.close()
    return "\n".join([
        f"### SciFact train ({len(bench.qrels)} queries) through both stores: documents by best passage of "
        "`search(q, 300)`",
        "",
        "| stage | local nDCG@10 | Milvus Lite nDCG@10 | difference | local recall@100 | Milvus Lite recall@100 |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"The local index ({len(local.store):,} chunks) copied into Milvus Lite with `qa.copy` in {copied:.0f} s.",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {','.join(PARTS)}")
    ap.add_argument("--smoke", action="store_true", help="scifact: 30 queries over 200 documents")
    ap.add_argument("--out", help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {','.join(PARTS)}")
    texts = []
    with tempfile.TemporaryDirectory() as work:
        if "seed" in parts:
            texts.append(part_seed(Path(work)))
        if "scifact" in parts:
            texts.append(part_scifact(Path(work), args.smoke))
    emit("\n\n".join(texts), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
