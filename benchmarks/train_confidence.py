"""Train the answer-confidence calibrators shipped as ``qa/confidence*.json``, and print their trade-off curves.

    python benchmarks/train_confidence.py             # without the reader: qa/confidence.json
    python benchmarks/train_confidence.py --reader    # with the shipped reader: qa/confidence_reader.json

Answerable examples: SQuAD dev questions on the SQuAD corpus and the seed dev
set's answerable questions on the default corpus. Unanswerable examples, of
the two kinds a user meets:
- on topic, answer absent: SQuAD questions on the SQuAD corpus with their own
  paragraph left out (the rest of the article remains: the right topic, not
  the answer; skipped when a remaining top passage still holds the answer) or
  with every passage of their own article left out, and the seed set's
  `unanswerable` questions;
- off topic: SQuAD dev questions and SQuAD *train* questions (of the even
  train articles: `squad_train("fit")`) asked of the default (news) corpus,
  SQuAD train questions asked of the SQuAD dev corpus (other Wikipedia
  articles: off-topic text of the same kind as the answerable questions',
  skipped when the top passage holds an answer), and the seed set's
  `off-topic` questions.  Never SciFact: its licence allows evaluation only,
  and a calibrator is shipped.
With ``--reader``, also SQuAD 2.0 dev (`questions_v2_dev.jsonl`, articles
0-23) on the SQuAD corpus: its answerable questions and its unanswerable ones
(about a paragraph of the corpus, not answered by it), the hard case the
reader's features are for.
Features come from the product's own ranked search and choice of passages
(`Engine.choose`, `qa.confidence.FEATURES`).
The paragraph-absent questions are scored on the curve but not fitted: with
them in the fit, a logistic model over these features gave up off-topic
refusals (99.8% -> 95.5% at 2% false abstentions) for few of them (26%).
The threshold is the highest that refuses at most ``--max-false`` of the
answerable development questions, checked on held-out folds: four folds by
SQuAD article (the seed set and the SQuAD train questions spread over them), so that
every figure printed is of questions whose article the model was not fitted on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa  # noqa: E402
from benchmarks.datasets import (  # noqa: E402
    CACHE,
    EVAL,
    SEED,
    cached_engine,
    index_key,
    memoised,
    read_jsonl,
    squad_corpus,
    squad_questions,
    squad_train,
    training_record,
    write_atomic,
)
from qa.confidence import (  # noqa: E402
    CLS_FEATURES,
    CONFIDENCE_FILE,
    FEATURES,
    READER_CONFIDENCE_FILE,
    READER_FEATURES,
    Calibrator,
    confidence_features,
)
from qa.documents import file_sha256  # noqa: E402
from qa.evaluation import read_gold  # noqa: E402

FOLDS = 4
MARKING = frozenset(  # settings of how an answer is marked and compared, after the features: not in the cache key
    "statement_similarity statement_margin measured_similarity answer_margin bold_confidence name_disagreements".split()
)


def features(engine: qa.Engine, question: str, leave_out: str | None = None, answers: list[str] = ()):
    """Confidence features of ``question``, from the same evidence and choice of passages as `ask` (by name).

    ``leave_out``: a doc-id prefix whose candidates don't count, as if those
    documents were not in the corpus. None when the remaining top candidate
    still holds one of ``answers`` (the corpus answers it elsewhere: not a clean negative).
    """
    evidence = engine.evidence(question)
    if leave_out:
        kept = tuple(c for c in evidence.candidates if not engine.store.chunk(c.chunk_id).doc_id.startswith(leave_out))
        evidence = replace(evidence, candidates=kept, best_dense=max((c.dense for c in kept), default=0.0))
    chosen = engine.choose(evidence) if evidence.candidates else []
    if chosen and answers:
        chunk = engine.store.chunk(chosen[0].chunk_id)
        if any(a in engine.store.document(chunk.doc_id).text[chunk.start : chunk.end] for a in answers):
            return None
    return confidence_features(evidence, chosen)


@dataclass
class Examples:
    """Named feature rows with their labels (1 = answerable), kinds ("squad", "squad2-impossible", …) and folds."""

    rows: list[dict[str, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    folds: list[int] = field(default_factory=list)

    def add(self, named: dict[str, float] | None, label: int, kind: str, fold: int) -> None:
        if named is not None:
            self.rows.append(named), self.labels.append(label), self.kinds.append(kind), self.folds.append(fold)

    def arrays(self, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray([[r[f] for f in names] for r in self.rows], dtype=float)
        return x, np.asarray(self.labels), np.asarray(self.kinds), np.asarray(self.folds)


def article_fold(context_id: str) -> int:
    return int(context_id.split("-", 1)[0]) % FOLDS


def collect(n: int, reader: bool, v2: int | None = None) -> Examples:
    """The examples of the module's docstring, through engines with the shipped reader or without one."""
    choice = "shipped" if reader else None
    squad = cached_engine("squad", squad_corpus()).reading(choice)
    seed = memoised(qa.load()).reading(choice)
    rng = np.random.default_rng(0)
    questions = squad_questions()
    sample = [questions[i] for i in rng.choice(len(questions), size=min(n, len(questions)), replace=False)]
    out = Examples()
    for i, q in enumerate(sample):
        fold = article_fold(q.doc_id)
        out.add(features(squad, q.question), 1, "squad", fold)
        out.add(features(squad, q.question, leave_out=f"{q.article}-"), 0, "squad-absent", fold)
        out.add(features(squad, q.question, leave_out=q.doc_id, answers=q.answers), 0, "squad-near", fold)
        if i % 3 == 0:
            out.add(features(seed, q.question), 0, "off-topic", fold)
    _, train = squad_train("fit")  # other articles' questions: off topic for the news pages and for SQuAD dev's
    for i in rng.choice(len(train), size=min(n // 3, len(train)), replace=False):
        out.add(features(seed, train[i]["question"]), 0, "off-topic", int(i) % FOLDS)
    for i in rng.choice(len(train), size=min(n // 2, len(train)), replace=False):  # the same kind of text as the
        q = train[i]  # answerable questions: a calibrator must not learn "Wikipedia-like" as "answered"
        out.add(features(squad, q["question"], answers=q["answers"]), 0, "off-topic-wiki", int(i) % FOLDS)
    for i, g in enumerate(read_gold(SEED)):
        out.add(features(seed, g.question), int(g.answerable), f"seed-{g.type}", i % FOLDS)
    if reader:
        for q in read_jsonl(EVAL / "squad" / "questions_v2_dev.jsonl")[:v2]:
            kind = "squad2-impossible" if q["is_impossible"] else "squad2"
            out.add(features(squad, q["question"]), int(not q["is_impossible"]), kind, article_fold(q["context_id"]))
    return out


def examples_path(n: int, reader: bool, v2: int | None) -> Path:
    """Where `cached_examples` keeps its examples: named by everything their features depend on."""
    from qa.reader import fingerprint, shipped_reader

    squad = cached_engine("squad", squad_corpus())
    read = {k: v for k, v in asdict(squad.settings).items() if k not in MARKING}  # what the features depend on
    parts = [n, v2, index_key(), squad.ranker.fingerprint() if squad.ranker else None, read]
    parts += [fingerprint(shipped_reader()) if reader else None, FEATURES, "off-topic: squad train, news and wiki"]
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
    return CACHE / "confidence" / f"examples-{n}-{v2}-{'reader' if reader else 'plain'}-{key}.json"


def cached_examples(n: int, reader: bool, v2: int | None) -> Examples:
    """`collect`, kept in the benchmark cache per reader, ranker and index (refits then take seconds)."""
    path = examples_path(n, reader, v2)
    if path.exists():  # plain JSON, so the cache reads the same whichever script wrote it
        return Examples(**json.loads(path.read_text()))
    examples = collect(n, reader, v2)
    write_atomic(path, json.dumps(asdict(examples)).encode())
    return examples


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray, names: list[str], c: float = 1.0) -> Calibrator:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y, sample_weight=weight)
    return Calibrator(list(names), mean.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]))


def held_out_probabilities(x, y, weight, folds: np.ndarray, names: list[str], c: float = 1.0) -> np.ndarray:
    """Each row's probability from the model fitted on the other folds."""
    p = np.zeros(len(y))
    for f in np.unique(folds):
        test = folds == f
        model = fit(x[~test], y[~test], weight[~test], names, c)
        p[test] = [model.probability(dict(zip(names, row, strict=True))) for row in x[test]]
    return p


CAUGHT = {  # unanswerable kinds whose refusal the curve shows
    "squad2-impossible": "SQuAD 2.0 unanswerable",
    "squad-near": "paragraph absent",
    "squad-absent": "article absent",
    "off-topic": "off-topic",
    "off-topic-wiki": "off-topic, same kind of text",
    "seed-unanswerable": "seed unanswerable",
}


def curve(p: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> str:
    """A Markdown table: at each threshold, the answerable refused (all, and SQuAD 2.0's) and each kind caught."""
    shown = [k for k in CAUGHT if (kinds == k).any()]
    answerable2 = kinds == "squad2"
    header = ["threshold", "answerable refused"] + (["SQuAD 2.0 answerable refused"] if answerable2.any() else [])
    header += [f"{CAUGHT[k]} caught" for k in shown]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for t in np.round(np.arange(0.0, 1.0001, 0.05), 2):
        cells = [f"{t:.2f}", f"{np.mean(p[y == 1] < t):.3f}"]
        cells += [f"{np.mean(p[answerable2] < t):.3f}"] if answerable2.any() else []
        cells += [f"{np.mean(p[kinds == k] < t):.3f}" for k in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fitted(examples: Examples, names: list[str], max_false: float, seed_weight: float, c: float = 1.0):
    """The calibrator fitted on every example, its threshold from held-out folds, and the held-out probabilities."""
    x, y, kinds, folds = examples.arrays(names)
    weight = np.where(np.char.startswith(kinds.astype(str), "seed"), seed_weight, 1.0)
    weight[kinds == "squad-near"] = 0.0  # scored, not fitted: see the module's docstring
    p = held_out_probabilities(x, y, weight, folds, names, c)
    allowed = [t for t in np.round(np.arange(0.0, 1.0001, 0.01), 2) if np.mean(p[y == 1] < t) <= max_false]
    calibrator = fit(x, y, weight, names, c)
    calibrator.threshold = float(max(allowed))
    return calibrator, p, y, kinds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1200, help="SQuAD questions sampled")
    ap.add_argument("--reader", action="store_true", help="with the shipped reader and its features")
    ap.add_argument("--v2", type=int, default=None, help="with --reader: the first N SQuAD 2.0 questions (all)")
    ap.add_argument("--max-false", type=float, default=0.03, help="share of answerable questions it may refuse")
    ap.add_argument("--seed-weight", type=float, default=10.0)
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic fit")
    ap.add_argument("--cls", action="store_true", help="with --reader: the reader's [CLS] state too (384 features)")
    ap.add_argument("--out", default=None, help="default: qa/confidence.json, or qa/confidence_reader.json")
    args = ap.parse_args(argv)
    names = [f for f in FEATURES if (args.reader or f not in READER_FEATURES) and (args.cls or f not in CLS_FEATURES)]
    out = args.out or str(READER_CONFIDENCE_FILE if args.reader else CONFIDENCE_FILE)
    examples = cached_examples(args.n, args.reader, args.v2)
    calibrator, p, y, kinds = fitted(examples, names, args.max_false, args.seed_weight, args.c)
    threshold = calibrator.threshold
    print(f"Held out (4 folds by SQuAD article), {len(y):,} examples:\n")
    print(curve(p, y, kinds))
    command = f"python benchmarks/train_confidence.py --n {args.n} --max-false {args.max_false} --c {args.c}"
    command += (" --reader" if args.reader else "") + (" --cls" if args.cls else "")
    calibrator.training = training_record(command) | {
        "recipe": {"max_false": args.max_false, "seed_weight": args.seed_weight, "c": args.c},
        "sample": {"n": args.n, "v2": args.v2},
        "examples": {k: int((kinds == k).sum()) for k in np.unique(kinds)},
        "held_out_at_threshold": {
            "false_abstentions": float(np.mean(p[y == 1] < threshold)),
            "unanswerable_caught": float(np.mean(p[y == 0] < threshold)),
        }
        | {f"{k}_caught": float(np.mean(p[kinds == k] < threshold)) for k in CAUGHT if (kinds == k).any()},
    }
    calibrator.training["data"]["squad/train_questions.jsonl.gz"] = file_sha256(
        EVAL / "squad" / "train_questions.jsonl.gz"
    )
    if args.reader:
        from qa.reader import shipped_reader

        calibrator.training["reader"] = shipped_reader().record["weights_sha256"]
        calibrator.training["data"]["squad/questions_v2_dev.jsonl"] = file_sha256(
            EVAL / "squad" / "questions_v2_dev.jsonl"
        )
    calibrator.save(out)
    print(
        f"saved {out}, threshold {threshold:.2f}: "
        + ", ".join(f"{f}={w:+.2f}" for f, w in list(zip(names, calibrator.weights, strict=True))[:10])
    )


if __name__ == "__main__":
    main()
