"""The shipped model on an archive: SQuAD dev questions over SQuAD dev plus every Wikipedia passage, as one table.

    python benchmarks/archive.py [--questions 1000] [--cache DIR] [--out FILE]

The archive: the 2,067 SQuAD dev paragraphs of ``../shared/eval/squad/contexts.jsonl`` and the 35,843
articles of ``../shared/eval/wikipedia/`` (112k passages), one ``.txt`` each in one folder, titles in
``metadata.json`` (``<cache>/corpora/archive``).  It is indexed once with `qa.build` and the shipped model
(about an hour on 2 cores) into ``<cache>/index/archive-<key>``; a build stopped part-way is resumed by the next
run, not started again.  Beside it, the SQuAD paragraphs alone (``quality.py``'s index).

The questions: a fixed-seed sample of the SQuAD dev questions of articles 0–23 (``quality.py --squad-limit``
draws the same), each asked with ``Engine.ask(q, k=5)`` as a user asks (ranked, with the reader), scored as
``quality.py`` scores SQuAD: the answer in the top passage, in a top-5 one (a gold span covered or an answer
string contained, so a Wikipedia passage that states the answer counts), and the reader's exact-answer F1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import qa  # noqa: E402
from benchmarks.datasets import (  # noqa: E402
    CACHE,
    EVAL,
    cached_engine,
    emit,
    read_jsonl,
    squad_corpus,
    squad_docs,
    wikipedia_docs,
    write_corpus,
)
from benchmarks.quality import squad_outcome, subsample  # noqa: E402


def archive_corpus(cache: Path) -> Path:
    """SQuAD dev paragraphs (``<article>-<paragraph>.txt``) and Wikipedia articles (``<doc id>.txt``) in one folder."""
    (squad, squad_titles), (wikipedia, wikipedia_titles) = squad_docs(), wikipedia_docs(float("inf"))
    return write_corpus(cache / "corpora" / "archive", squad | wikipedia, squad_titles | wikipedia_titles)


def measure(engine: qa.Engine, questions: list[dict], label: str) -> dict:
    """The SQuAD figures of ``engine`` and its ask latency (after one warm-up ask)."""
    engine.ask(questions[0]["question"], k=5)
    outcomes, seconds = [], []
    for i, question in enumerate(questions, 1):
        started = time.perf_counter()
        outcomes.append(squad_outcome(engine, question))
        seconds.append(time.perf_counter() - started)
        if i % 100 == 0:
            print(f"[archive] {label}: {i} of {len(questions)} questions", file=sys.stderr, flush=True)
    means = np.asarray(outcomes, dtype=float).mean(axis=0)
    return {
        "documents": len(engine.documents),
        "chunks": len(engine.store),
        "top1": float(means[0]),
        "top5": float(means[1]),
        "f1": float(means[3]),
        "p50_ms": 1000 * statistics.median(seconds),
    }


def report(rows: dict[str, dict], n: int) -> str:
    header = ["corpus", "documents", "chunks", "answer in top-1 passage", "in a top-5 passage", "exact F1"]
    header.append("ask p50 ms")
    lines = [
        f"### SQuAD dev questions (articles 0–23, {n} drawn) over an archive, the shipped model, `ask(q, k=5)`",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for name, r in rows.items():
        cells = [f"{r['documents']:,}", f"{r['chunks']:,}", f"{r['top1']:.3f}", f"{r['top5']:.3f}", f"{r['f1']:.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['p50_ms']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=int, default=1000, help="SQuAD dev questions to ask (fixed-seed sample)")
    ap.add_argument("--cache", default=str(CACHE), help="corpora and indexes (default .benchcache)")
    ap.add_argument("--out", help="also write the table to this Markdown file")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    questions = subsample(read_jsonl(EVAL / "squad" / "questions_dev.jsonl"), args.questions)
    rows = {}
    for name, corpus in (("SQuAD dev paragraphs alone", squad_corpus(cache)), ("+ 112k Wikipedia passages", None)):
        if corpus is None:
            print("[archive] writing and indexing the archive (resumed if a build was stopped)", file=sys.stderr)
            engine = cached_engine("archive", archive_corpus(cache), cache)
        else:
            engine = cached_engine("squad", corpus, cache)
        rows[name] = measure(engine, questions, name)
    text = report(rows, len(questions))
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
