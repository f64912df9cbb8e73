"""How the reader margin above which `ask` marks a passage's exact answer (`RetrievalSettings.answer_margin`) trades.

    python benchmarks/fit_answer_margin.py [--n 5690]

SQuAD 2.0 dev (articles 0-23: answerable questions and unanswerable ones on
the same paragraphs) over the 2,067-paragraph index, through the product:
each question's top passage as `ask` chooses it, whether `ask` answers, and
the reader's span and margin there.  For each margin a span is marked above,
scored the way SQuAD 2.0 scores a system (an answerable question gets the
F1 of the marked span, 0 when none is marked; an unanswerable one 1 when no
span is marked or `ask` abstains, 0 when one is), SQuAD v1.1's exact F1 of
the answerable ones alone, the share of marked spans that are right (F1 ≥
0.5) and of questions given one.  Then the margin SQuAD 2.0's F1 would
choose on half the articles, scored on the other half.  The reader never
saw these articles; the calibrator that decides `answered` was fitted on
SQuAD 2.0 dev (by article folds), so `answered` here is in-sample.  The
default is set by hand in `qa.retrieval.RetrievalSettings`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.datasets import CACHE, EVAL, cached_arrays, cached_engine, index_key, read_jsonl, squad_corpus  # noqa: E402
from benchmarks.fit_reader_ranking import halves  # noqa: E402
from benchmarks.quality import progress, subsample, table  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402
from qa.reader import fingerprint, shipped_reader  # noqa: E402

MARGINS = [-np.inf, *np.round(np.arange(-6.0, 6.01, 0.5), 2)]


def readings(questions: list[dict]) -> dict[str, np.ndarray]:
    """Per question: answered by `ask`, the top passage's margin (-inf: no span), its span's F1, unanswerable."""
    engine = cached_engine("squad", squad_corpus()).reading("shipped")
    out = {name: np.zeros(len(questions)) for name in ("answered", "margin", "f1", "impossible")}
    for i, q in enumerate(progress(questions, "reading")):
        evidence = engine.evidence(q["question"])
        chosen = engine.choose(evidence, 1)
        out["answered"][i] = engine.confidence(evidence, chosen)[1]
        out["impossible"][i] = q["is_impossible"]
        top = chosen[0] if chosen else None
        reading = top.reading if top else None
        if reading is None or reading.span is None:
            out["margin"][i] = -np.inf
            continue
        out["margin"][i] = reading.margin
        if not q["is_impossible"]:
            chunk = engine.store.chunk(top.chunk_id)
            text = engine.document(chunk.doc_id).text[chunk.start : chunk.end]
            out["f1"][i] = max(answer_f1(text[reading.span[0] : reading.span[1]], a) for a in q["answers"])
    return out


def scores(data: dict[str, np.ndarray], rows: np.ndarray, margin: float) -> tuple[float, float, float, float]:
    """SQuAD 2.0 F1, v1.1 exact F1 of the answerable, marked spans that are right, and the share of questions
    marked, over ``rows`` when spans are marked above ``margin``."""
    marked = (data["answered"][rows] > 0) & (data["margin"][rows] > margin)
    impossible = data["impossible"][rows] > 0
    per_question = np.where(impossible, ~marked, np.where(marked, data["f1"][rows], 0.0))
    right = marked & ~impossible & (data["f1"][rows] >= 0.5)
    precision = right.sum() / max(marked.sum(), 1)
    return float(per_question.mean()), float(per_question[~impossible].mean()), float(precision), float(marked.mean())


def choose(data: dict[str, np.ndarray], rows: np.ndarray) -> float:
    """The margin with the best SQuAD 2.0 F1 on ``rows`` (the higher margin on a tie: fewer spans marked)."""
    return max(MARGINS, key=lambda m: (round(scores(data, rows, m)[0], 4), m))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="SQuAD 2.0 dev questions (fixed-seed sample; default all)")
    args = ap.parse_args(argv)
    questions = subsample(read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl"), args.n)
    squad = cached_engine("squad", squad_corpus())
    reader = fingerprint(shipped_reader())
    parts = [reader, len(questions), index_key(), squad.ranker.fingerprint(), squad.settings.reader_passages]
    parts += [squad.settings.reader_weight]
    key = CACHE / "reader" / f"answer-margin-{hashlib.sha256(repr(parts).encode()).hexdigest()[:12]}.npz"
    data = cached_arrays(key, lambda: readings(questions))
    impossible = int(data["impossible"].sum())
    print(
        f"### Marking the exact answer, SQuAD 2.0 dev, {len(questions)} questions ({impossible} unanswerable), "
        f"reader {reader}\n"
    )
    everything = np.arange(len(questions))
    header = ["marked above margin", "SQuAD 2.0 F1", "exact F1 (answerable)", "marked spans right", "marked"]
    print(table(header, [[f"{m:g}", *scores(data, everything, m)] for m in MARGINS]))
    articles = np.array([int(q["context_id"].split("-")[0]) for q in questions])
    print("\n| chosen on articles | margin | on the other half: SQuAD 2.0 F1 | exact F1 | marked right | marked |")
    print("| --- | --- | --- | --- | --- | --- |")
    for half, (fit, test) in enumerate(halves(articles)):
        m = choose(data, fit)
        held = " | ".join(f"{x:.3f}" for x in scores(data, test, m))
        print(f"| {'even' if half == 0 else 'odd'} | {m:g} | {held} |")
    print(f"\nSQuAD 2.0 F1's choice on all: answer_margin={choose(data, everything):g}")


if __name__ == "__main__":
    main()
