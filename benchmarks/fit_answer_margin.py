"""When `ask` shows a passage's exact answer in bold: the reader's margin, the checks of `qa.answer_checks`, and
the confidence (`RetrievalSettings.answer_margin`, `.bold_confidence`), and what each trades.

    python benchmarks/fit_answer_margin.py [--n 5690]

SQuAD 2.0 dev (articles 0-23: answerable questions and unanswerable ones on
the same paragraphs) and SQuAD v1.1 dev (the same articles, every question
answerable) over the 2,067-paragraph index, through the product: each
question's top passage as `ask` chooses it, whether `ask` answers, the
reader's span and margin there, and the sentence it lies in.  A span is
"right" when its F1 against a gold answer is at least 0.5 (as shown: a figure
with its qualifier); precision is the share of bold spans that are right,
coverage the share of answerable questions given a right one.  Printed: per
margin (every check on), per check alone (the spans it refuses and how many
of them were right), per bold confidence, then the margin and confidence
that SQuAD 2.0 F1 would choose on half the articles (keeping v1.1's exact F1
of answerable questions at 0.55 or more), scored on the other half.  The
confidence of a SQuAD 2.0 question is the shipped calibrator's recipe
refitted without the question's article fold (`train_confidence.fitted`); of
a v1.1 question, the shipped calibrator (fitted on 1,200 of them: partly
in-sample).  Last, the bold answers `ask` gives on the seed dev set.  The
reader never saw these articles.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa  # noqa: E402
from benchmarks.datasets import CACHE, EVAL, SEED, cached_arrays, cached_engine, index_key, read_jsonl, squad_corpus  # noqa: E402
from benchmarks.fit_reader_ranking import halves  # noqa: E402
from benchmarks.quality import progress, subsample, table  # noqa: E402
from qa.answer_checks import CHECKS, failed_checks, qualified  # noqa: E402
from qa.confidence import FEATURES, confidence_features  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402
from qa.highlight import holding  # noqa: E402
from qa.reader import fingerprint, shipped_reader  # noqa: E402
from qa.retrieval import RetrievalSettings  # noqa: E402

EXACT_FLOOR = 0.55  # the exact F1 of answerable questions a choice of margin and confidence may not go below
READINGS = 3  # what `readings` keeps (a new value reads anew)
MARGINS = [-np.inf, *np.round(np.arange(-4.0, 8.01, 1.0), 2)]
CONFIDENCES = [0.0, *np.round(np.arange(0.3, 0.951, 0.05), 2)]


def readings(questions: list[dict]) -> dict[str, np.ndarray]:
    """Per question: answered by `ask`, the top passage's margin (-inf: no span), its span's F1, unanswerable, and
    the sentences the span lies in with the span's place in them (what `qa.answer_checks` reads)."""
    engine = cached_engine("squad", squad_corpus()).reading("shipped")
    out = {name: np.zeros(len(questions)) for name in ("answered", "margin", "f1", "impossible", "at", "to")}
    out["features"] = np.zeros((len(questions), len(FEATURES)), dtype=np.float32)
    sentences = [""] * len(questions)
    for i, q in enumerate(progress(questions, "reading")):
        evidence = engine.evidence(q["question"])
        chosen = engine.choose(evidence, 1)
        out["answered"][i] = engine.confidence(evidence, chosen)[1]
        named = confidence_features(evidence, chosen)
        out["features"][i] = [named[f] for f in FEATURES]
        out["impossible"][i] = q["is_impossible"]
        top = chosen[0] if chosen else None
        reading = top.reading if top else None
        if reading is None or reading.span is None:
            out["margin"][i] = -np.inf
            continue
        out["margin"][i] = reading.margin
        chunk = engine.store.chunk(top.chunk_id)
        text = engine.document(chunk.doc_id).text
        answer = (chunk.start + reading.span[0], chunk.start + reading.span[1])
        held = holding(answer, top.signals.sentences) or [answer]
        sentences[i] = text[held[0][0] : held[-1][1]]
        out["at"][i], out["to"][i] = answer[0] - held[0][0], answer[1] - held[0][0]
        if not q["is_impossible"]:
            out["f1"][i] = max(answer_f1(text[answer[0] : answer[1]], a) for a in q["answers"])
    return out | {"sentence": np.array(sentences, dtype=str)}


def cached_readings(name: str, questions: list[dict]) -> dict[str, np.ndarray]:
    """`readings` of ``questions`` (set ``name``), cached under what they depend on."""
    squad = cached_engine("squad", squad_corpus())
    parts = [name, fingerprint(shipped_reader()), len(questions), index_key(), squad.ranker.fingerprint()]
    parts += [squad.settings.reader_passages, squad.settings.reader_weight, READINGS]
    key = CACHE / "reader" / f"answer-margin-{hashlib.sha256(repr(parts).encode()).hexdigest()[:12]}.npz"
    return cached_arrays(key, lambda: readings([{"is_impossible": False} | q for q in questions]))


def failures(questions: list[dict], data: dict[str, np.ndarray]) -> np.ndarray:
    """Per question and check of `CHECKS`: whether the top passage's span fails it (False where there is no span).

    Also rescores ``data["f1"]`` as `ask` shows the span: a figure with its qualifier ("at least 40")."""
    out = np.zeros((len(questions), len(CHECKS)), dtype=bool)
    for i, q in enumerate(questions):
        if np.isfinite(data["margin"][i]):
            sentence, at, to = str(data["sentence"][i]), int(data["at"][i]), int(data["to"][i])
            failed = failed_checks(q["question"], sentence, at, to)
            out[i] = [c in failed for c in CHECKS]
            if not q.get("is_impossible"):
                shown = sentence[qualified(sentence, at, to) : to]
                data["f1"][i] = max(answer_f1(shown, a) for a in q["answers"])
    return out


def scores(data: dict[str, np.ndarray], rows: np.ndarray, margin: float, passes: np.ndarray) -> tuple[float, ...]:
    """Over ``rows``, when spans are marked above ``margin`` where ``passes``: SQuAD 2.0 F1, v1.1 exact F1 of the
    answerable, the marked spans that are right (F1 >= 0.5: precision), the answerable questions given a right one
    (coverage), and the share of questions marked."""
    marked = (data["answered"][rows] > 0) & (data["margin"][rows] > margin) & passes[rows]
    impossible = data["impossible"][rows] > 0
    per_question = np.where(impossible, ~marked, np.where(marked, data["f1"][rows], 0.0))
    right = marked & ~impossible & (data["f1"][rows] >= 0.5)
    precision = right.sum() / max(marked.sum(), 1)
    coverage = right.sum() / max((~impossible).sum(), 1)
    exact = float(per_question[~impossible].mean()) if (~impossible).any() else 0.0
    return float(per_question.mean()), exact, float(precision), float(coverage), float(marked.mean())


def choose(data: dict[str, np.ndarray], rows: np.ndarray, passes: np.ndarray) -> tuple[float, float]:
    """The margin and bold confidence with the best SQuAD 2.0 F1 on ``rows`` whose exact F1 of the answerable stays
    at least `EXACT_FLOOR` (some coverage traded for precision, no more); the loosest pair when none does."""
    pairs = [(m, t) for m in MARGINS for t in CONFIDENCES]
    scored = {(m, t): scores(data, rows, m, passes & (data["p"] >= t)) for m, t in pairs}
    good = [pair for pair in pairs if scored[pair][1] >= EXACT_FLOOR]
    return max(good, key=lambda pair: (round(scored[pair][0], 4), -pair[1], -pair[0])) if good else pairs[0]


def report(name: str, questions: list[dict], data: dict[str, np.ndarray], shipped: RetrievalSettings) -> None:
    """The trade-off tables of one question set: per margin, per check, per bold confidence, and the margin and
    confidence chosen on half the articles, scored on the other half."""
    failed = failures(questions, data)
    every, none = np.ones(len(questions), dtype=bool), ~failed.any(axis=1)
    impossible = int(data["impossible"].sum())
    everything = np.arange(len(questions))
    margin, bar = shipped.answer_margin, shipped.bold_confidence
    print(f"\n### {name}: {len(questions)} questions ({impossible} unanswerable), reader {data['reader']}\n")
    header = ["marked above margin", "SQuAD 2.0 F1", "exact F1 (answerable)", "precision", "coverage", "marked"]
    rows = [[f"{m:g}", *scores(data, everything, m, none)] for m in MARGINS]
    print("With every check, whatever the confidence:\n\n" + table(header, rows))
    print(f"\nEach check alone at the shipped margin ({margin:g}), whatever the confidence: spans it refuses, how "
          "many of them were right, and the precision and coverage with it alone\n")
    lines = [["none", 0, 0, *scores(data, everything, margin, every)[2:4]]]
    marked = (data["answered"] > 0) & (data["margin"] > margin)
    right = marked & (data["impossible"] == 0) & (data["f1"] >= 0.5)
    for j, check in enumerate(CHECKS):
        refused = marked & failed[:, j]
        alone = scores(data, everything, margin, ~failed[:, j])[2:4]
        lines.append([check, int(refused.sum()), int((refused & right).sum()), *alone])
    refused, together = marked & ~none, scores(data, everything, margin, none)[2:4]
    lines.append(["all", int(refused.sum()), int((refused & right).sum()), *together])
    print(table(["check", "spans refused", "of them right", "precision", "coverage"], lines))
    print(f"\nBold only at a confidence of at least ... (every check, margin {margin:g}; {data['p_source']}):\n")
    rows = [[f"{t:g}", *scores(data, everything, margin, none & (data["p"] >= t))] for t in CONFIDENCES]
    print(table(["bold confidence", *header[1:]], rows))
    print(f"\nMargin and bold confidence chosen on half the articles (the best SQuAD 2.0 F1 with an exact F1 of at "
          f"least {EXACT_FLOOR}, every check), scored on the other half:\n")
    lines = []
    for half, (fit, test) in enumerate(halves(questions)):
        m, t = choose(data, fit, none)
        gate = none & (data["p"] >= t)
        lines.append([f"{'even' if half == 0 else 'odd'}", f"{m:g}", f"{t:g}", *scores(data, fit, m, gate)[2:4],
                      *scores(data, test, m, gate)])
    lines.append(["shipped", f"{margin:g}", f"{bar:g}", "–", "–", *scores(data, everything, margin,
                                                                        none & (data["p"] >= bar))])
    header = ["fit on articles", "margin", "bold confidence", "precision (fit)", "coverage (fit)",
              "scored on: SQuAD 2.0 F1", "exact F1", "precision", "coverage", "marked"]
    print(table(header, lines))


def seed_report() -> None:
    """Bold answers `ask` gives on the seed dev set (default corpus, shipped engine): how many, how many right."""
    engine = qa.load().reading("shipped")
    rows = {"answerable": [0, 0, 0], "unanswerable or off-topic": [0, 0, 0]}  # questions, bold, right
    for q in read_jsonl(SEED):
        answer = engine.ask(q["question"])
        exact = answer.passages[0].answer_text if answer.answered and answer.passages else None
        row = rows["unanswerable or off-topic" if q["type"] in ("unanswerable", "off-topic") else "answerable"]
        row[0] += 1
        row[1] += exact is not None
        row[2] += exact is not None and bool(q.get("answer")) and answer_f1(exact, q["answer"]) >= 0.5
    print("\n### Seed dev set (default corpus): bold answers `ask` gives\n")
    print(table(["questions", "asked", "given a bold answer", "right (F1 >= 0.5)"], [[k, *v] for k, v in rows.items()]))


def confidences(name: str, questions: list[dict], data: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """Each question's confidence that the corpus answers, and where it comes from: for all of SQuAD 2.0 dev, the
    shipped calibrator's recipe refitted without the question's article fold (`train_confidence.fitted`); else the
    shipped calibrator itself (fitted on some of these questions: in-sample for those)."""
    from benchmarks import train_confidence as recipe
    from qa.confidence import READER_CONFIDENCE_FILE, Calibrator

    shipped = Calibrator.load(READER_CONFIDENCE_FILE)
    if name == "v2" and len(questions) == len(read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl")):
        sample = shipped.training["sample"]
        examples = recipe.cached_examples(sample["n"], True, sample["v2"])
        _, p, _, kinds = recipe.fitted(examples, list(shipped.features), **shipped.training["recipe"])
        held = p[np.isin(kinds, ["squad2", "squad2-impossible"])]  # in the file's order
        if len(held) == len(questions):
            return held, "the calibrator held out by article fold"
    named = [dict(zip(FEATURES, row, strict=True)) for row in data["features"].astype(float)]
    return np.array([shipped.probability(x) for x in named]), "the shipped calibrator, in-sample for some questions"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="questions of each set (fixed-seed sample; default all)")
    args = ap.parse_args(argv)
    for name, file, label in (
        ("v2", "questions_v2_dev.jsonl", "SQuAD 2.0 dev"),
        ("v1", "questions_dev.jsonl", "SQuAD v1.1 dev"),
    ):
        questions = subsample(read_jsonl(EVAL / "squad" / file), args.n)
        data = cached_readings(name, questions) | {"reader": fingerprint(shipped_reader())}
        data["p"], data["p_source"] = confidences(name, questions, data)
        report(label, questions, data, RetrievalSettings())
    seed_report()


if __name__ == "__main__":
    main()
