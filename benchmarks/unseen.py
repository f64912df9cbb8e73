"""Confidence on corpora its calibrators never saw: answerable questions refused, off-topic questions caught.

    python benchmarks/unseen.py [--articles 12] [--questions 400] [--features] [--out FILE] [--cache DIR]

Two kinds of corpus, each indexed as a user would index it and asked through
`Engine.ask` with the shipped reader and calibrator:

- **SQuAD train articles**: the paragraphs of the first ``--articles`` odd
  train articles (`squad_train("unseen")`: the calibrators' off-topic
  questions come from the even ones; the reader was trained on SQuAD train,
  every article, so its evidence here is in-sample for it).  Questions of
  those articles are answerable; questions of other odd articles are off-topic.
- **Documents of other kinds** written for this benchmark
  (`benchmarks/unseen/docs/`: a field report, a pump manual, council minutes)
  with their own questions: answerable ones with their answers, questions
  about the same things that they do not answer, and off-topic ones.

Per corpus: answerable questions refused (target ≤ 3%), unanswerable and
off-topic questions caught (target ≥ 95% off-topic), bold answers given to
answerable questions and right (F1 ≥ 0.5), and bold answers given where the
corpus does not answer.  ``--features`` also prints, per corpus and kind of
question, the mean of each feature the shipped calibrator reads beside the
same means over the examples it was fitted on (from the benchmark cache of
`benchmarks/train_confidence.py`): whether a feature's scale moves with the
corpus.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.datasets import (  # noqa: E402
    CACHE,
    cached_engine,
    emit,
    index_folder,
    squad_train,
    train_article,
    write_corpus,
)
from benchmarks.quality import progress, table  # noqa: E402
from qa.confidence import CLS_FEATURES, READER_CONFIDENCE_FILE, Calibrator, confidence_features  # noqa: E402
from qa.evaluation import answer_f1  # noqa: E402

HERE = Path(__file__).resolve().parent / "unseen"


def squad_set(articles: int, questions: int, cache: Path = CACHE) -> tuple[Path, list[dict]]:
    """The corpus of the first ``articles`` unseen train articles, and a fixed sample of questions: answerable
    ones of those articles, off-topic ones of the other unseen articles (as many of each)."""
    contexts, asked = squad_train("unseen")
    chosen = sorted({train_article(r["id"]) for r in contexts})[:articles]
    kept = [r for r in contexts if train_article(r["id"]) in chosen]
    docs = {f"{r['id']}.txt": r["text"] for r in kept}
    titles = {f"{r['id']}.txt": r["title"].replace("_", " ") for r in kept}
    corpus = write_corpus(cache / "corpora" / f"squad-train-{articles}", docs, titles)
    rng = np.random.default_rng(0)
    inside = [q for q in asked if train_article(q["context_id"]) in chosen]
    outside = [q for q in asked if train_article(q["context_id"]) not in chosen]
    sample = [{"question": inside[i]["question"], "kind": "answerable", "answers": inside[i]["answers"]}
              for i in rng.choice(len(inside), size=min(questions, len(inside)), replace=False)]  # fmt: skip
    sample += [{"question": outside[i]["question"], "kind": "off-topic", "answers": []}
               for i in rng.choice(len(outside), size=min(questions, len(outside)), replace=False)]  # fmt: skip
    return corpus, sample


def written_set() -> tuple[Path, list[dict]]:
    """The documents of `benchmarks/unseen/` and their questions."""
    questions = [json.loads(line) for line in (HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    return HERE / "docs", questions


def measure(name: str, corpus: Path, questions: list[dict], cache: Path = CACHE) -> list:
    """One row of the table: how the engine over ``corpus`` (indexed into ``cache``) decides on ``questions``."""
    engine = cached_engine(name, corpus, cache).reading("shipped")
    refused, bold, right, wrong_bold = {}, 0, 0, 0
    for q in progress(questions, name):
        answer = engine.ask(q["question"])
        refused.setdefault(q["kind"], []).append(not answer.answered)
        exact = answer.passages[0].answer_text if answer.answered and answer.passages else None
        if exact and q["kind"] == "answerable":
            bold += 1
            right += max(answer_f1(exact, a) for a in q["answers"]) >= 0.5
        elif exact:
            wrong_bold += 1
    answerable = len(refused.get("answerable", []))

    def share(kind: str) -> str:
        return f"{np.mean(refused[kind]):.3f} ({len(refused[kind])})" if kind in refused else "–"

    return [name, share("answerable"), share("unanswerable"), share("off-topic"), f"{bold} of {answerable}",
            f"{right} of {bold}", wrong_bold]  # fmt: skip


def calibrator_features(calibrator: Calibrator) -> list[str]:
    """The features ``calibrator`` reads, but the reader's [CLS] ones (the shipped one is fitted without them)."""
    return [f for f in calibrator.features if f not in CLS_FEATURES]


def feature_means(name: str, corpus: Path, questions: list[dict], names: list[str], cache: Path = CACHE) -> list:
    """Rows of the features table: per kind of question, how many and the mean of each of ``names``, as `ask`
    computes them."""
    engine = cached_engine(name, corpus, cache).reading("shipped")
    by_kind = {}
    for q in progress(questions, f"{name}: features"):
        evidence = engine.evidence(q["question"])
        named = confidence_features(evidence, engine.choose(evidence, 1))
        by_kind.setdefault(q["kind"], []).append([named[f] for f in names])
    return [[name, kind, len(rows), *(f"{m:.3f}" for m in np.mean(rows, 0))] for kind, rows in by_kind.items()]


def fitted_means(calibrator: Calibrator) -> list:
    """The same rows over the examples the reader ``calibrator`` was fitted on, by kind (none when the benchmark
    cache does not hold them: `python benchmarks/train_confidence.py --reader` makes them)."""
    from benchmarks.train_confidence import examples_path

    if not index_folder("squad").is_dir():  # naming the examples would index SQuAD first
        print("no SQuAD index in the benchmark cache: the calibrator's own rows are left out", file=sys.stderr)
        return []
    sample = calibrator.training["sample"]
    path = examples_path(sample["n"], True, sample["v2"])
    if not path.exists():
        print(f"no fitted examples in {path}: the calibrator's own rows are left out", file=sys.stderr)
        return []
    fitted, names, out = json.loads(path.read_text()), calibrator_features(calibrator), []
    for kind in ("squad", "squad2", "squad-absent", "off-topic-wiki", "off-topic"):
        rows = [[row[f] for f in names] for row, k in zip(fitted["rows"], fitted["kinds"], strict=True) if k == kind]
        out.append(["fitted on", kind, len(rows), *(f"{m:.3f}" for m in np.mean(rows, 0))])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=12, help="unseen SQuAD train articles indexed")
    ap.add_argument("--questions", type=int, default=400, help="answerable and off-topic questions asked of them")
    ap.add_argument("--features", action="store_true", help="also each calibrator feature's mean per kind")
    ap.add_argument("--out", default=None, help="also write the table here")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where corpora and indexes are kept")
    args = ap.parse_args(argv)
    squad = squad_set(args.articles, args.questions, args.cache)
    sets = [("documents written for this", *written_set()), (f"SQuAD train, {args.articles} unseen articles", *squad)]
    rows = [measure(name, corpus, questions, args.cache) for name, corpus, questions in sets]
    header = ["corpus", "answerable refused", "unanswerable caught", "off-topic caught", "bold answers",
              "bold right", "bold where not answerable"]  # fmt: skip
    text = "### Confidence on corpora it never saw\n\n" + table(header, rows)
    if args.features:
        calibrator = Calibrator.load(READER_CONFIDENCE_FILE)
        names = calibrator_features(calibrator)
        means = [row for name, corpus, asked in sets for row in feature_means(name, corpus, asked, names, args.cache)]
        header = ["corpus", "questions", "n", *names]
        text += "\n\n### Feature means per kind of question\n\n" + table(header, fitted_means(calibrator) + means)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
