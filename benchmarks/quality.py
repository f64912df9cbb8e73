"""Retrieval and answer quality of `qa` on SciFact, SQuAD and the seed set, as Markdown tables.

    python benchmarks/quality.py [--smoke] [--only scifact,squad,seed,curve,squad2,latency] [--squad-limit N]
                                 [--cache DIR] [--rebuild] [--write]

Everything goes through the product (`qa.build`, `qa.load`, `Engine.search`, `Engine.ask`); the
benchmark corpora and their indexes are cached under ``.benchcache/`` (first run ~20 min on 2 cores).
One liberty outside the latency part (`QueryMemo`): a question asked at several stages is encoded once
(the same vector). The latency part times `ask` exactly as users get it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date
from functools import cached_property
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import qa  # noqa: E402
import qa.evaluation  # noqa: E402
import qa.index  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import datasets  # noqa: E402
from benchmarks.datasets import EVAL, SEED, memoised, read_jsonl  # noqa: E402

README = ROOT / "benchmarks" / "README.md"
MARKERS = ("<!-- quality:start -->", "<!-- quality:end -->")
PARTS = ("scifact", "squad", "seed", "curve", "squad2", "latency")
PUBLISHED = [  # SciFact test split nDCG@10: BEIR paper (Thakur et al. 2021) and MTEB
    ("BM25", 0.665), ("ColBERT", 0.671), ("BM25 + cross-encoder", 0.688),
    ("all-MiniLM-L6-v2 (MTEB)", 0.645), ("bge-small-en-v1.5 (MTEB)", 0.713),
]  # fmt: skip


# --- small helpers ------------------------------------------------------------


def table(header: list[str], rows: Iterable[list]) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows])


def subsample(items: list, n: int | None) -> list:
    """``n`` items picked with a fixed seed, in their original order (all when ``n`` is None or too big)."""
    if n is None or n >= len(items):
        return list(items)
    return [items[i] for i in sorted(random.Random(0).sample(range(len(items)), n))]


def progress(items: list, label: str) -> tqdm:
    return tqdm(items, desc=label, mininterval=10, file=sys.stderr, leave=False)


def norm(text: str) -> str:
    return " ".join(text.split()).lower()


# --- corpora and indexes ------------------------------------------------------


def default_engine(cache: Path) -> qa.Engine:
    """The committed index (``qa.load()``); if it is stale, the default corpus indexed into the cache (memoised)."""
    try:
        return memoised(qa.load(strict=True))
    except (qa.IndexFormatError, qa.StaleIndexError) as exc:
        print(f"default index unusable ({exc}); indexing data/ into the cache", file=sys.stderr)
        return datasets.cached_engine("default", ROOT / "data", cache)


def at_stage(engine: qa.Engine, stage: str, reader: bool = False) -> qa.Engine:
    """The engine's index ranked up to ``stage``, with the shipped reader or (the stages before it) without."""
    return qa.Engine(engine.store, qa.RetrievalSettings(stage=stage), reader="shipped" if reader else None)


STAGES = (("fused", False), ("ranked", False), ("ranked", True))  # the last is `ask` as users get it


def stage_name(stage: str, reader: bool) -> str:
    return f"{stage} + reader" if reader else stage


# --- data -----------------------------------------------------------------------


class Bench:
    """The data sets and engines, each loaded or built on first use."""

    def __init__(self, args: argparse.Namespace):
        self.args, self.cache, self.tag = args, Path(args.cache), "-smoke" if args.smoke else ""

    @cached_property
    def qrels(self) -> dict[str, set[str]]:
        """Train query id -> relevant doc ids (``<_id>.txt``), in file order (first 30 in smoke mode)."""
        qrels: dict[str, set[str]] = {}
        for line in (EVAL / "scifact" / "qrels" / "train.tsv").read_text().splitlines()[1:]:
            qid, doc, score = line.split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(f"{doc}.txt")
        return dict(list(qrels.items())[:30]) if self.args.smoke else qrels

    @cached_property
    def queries(self) -> dict[str, str]:
        text = {q["_id"]: q["text"] for q in read_jsonl(EVAL / "scifact" / "queries.jsonl")}
        return {qid: text[qid] for qid in self.qrels}

    @cached_property
    def scifact_engine(self) -> qa.Engine:
        rows = read_jsonl(EVAL / "scifact" / "corpus.jsonl.gz")
        if self.args.smoke:  # the relevant documents, then others up to 200
            relevant = set().union(*self.qrels.values())
            others = [r for r in rows if f"{r['_id']}.txt" not in relevant]
            rows = [r for r in rows if f"{r['_id']}.txt" in relevant] + others[: 200 - len(relevant)]
        name = "scifact" + self.tag
        return datasets.cached_engine(
            name, datasets.scifact_corpus(self.cache, rows, name), self.cache, self.args.rebuild
        )

    @cached_property
    def contexts(self) -> list[dict]:
        rows = read_jsonl(EVAL / "squad" / "contexts.jsonl")
        return rows[:60] if self.args.smoke else rows

    @cached_property
    def squad_questions(self) -> list[dict]:
        ids = {c["id"] for c in self.contexts}
        rows = [q for q in read_jsonl(EVAL / "squad" / "questions_dev.jsonl") if q["context_id"] in ids]
        return subsample(rows, 100 if self.args.smoke else self.args.squad_limit)

    @cached_property
    def squad_engine(self) -> qa.Engine:
        name = "squad" + self.tag
        corpus = datasets.squad_corpus(self.cache, self.contexts, name)
        return datasets.cached_engine(name, corpus, self.cache, self.args.rebuild)

    @cached_property
    def squad_holes(self) -> tuple[qa.Engine, list[str]]:
        """On-topic questions the corpus does not answer, and the engine of that corpus.

        SQuAD with the paragraphs of some questions removed: the rest of each
        article stays (the right topic, not the answer). A question whose answer
        still stands in a remaining paragraph of its article is dropped.
        """
        questions = subsample(self.squad_questions, 20 if self.args.smoke else 200)
        removed = {q["context_id"] for q in questions}
        kept = [c for c in self.contexts if c["id"] not in removed]
        article = lambda context_id: context_id.split("-", 1)[0]  # noqa: E731
        unanswered = [
            q["question"]
            for q in questions
            if not any(
                a in c["text"] for c in kept if article(c["id"]) == article(q["context_id"]) for a in q["answers"]
            )
        ]
        name = "squad-holes" + self.tag
        corpus = datasets.squad_corpus(self.cache, kept, name)
        engine = datasets.cached_engine(name, corpus, self.cache, self.args.rebuild)
        return engine, unanswered

    @cached_property
    def default_engine(self) -> qa.Engine:
        return default_engine(self.cache)

    @cached_property
    def seed(self) -> list[qa.evaluation.GoldQuestion]:
        return qa.evaluation.read_gold(SEED)


# --- SciFact: document ranking ------------------------------------------------------


def doc_ranking(engine: qa.Engine, query: str) -> list[str]:
    """Documents in order of their best chunk in ``engine.search(query, 300)``."""
    return list(dict.fromkeys(engine.store.chunk(c.chunk_id).doc_id for c in engine.search(query, n=300)))


def ndcg_at_10(ranking: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / np.log2(rank + 1) for rank, doc in enumerate(ranking[:10], 1) if doc in relevant)
    return float(dcg / sum(1 / np.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1)))


SCIFACT_STAGES = ("lexical", "dense", "fused", "ranked")


def scifact_scores(engine: qa.Engine, stage: str, bench: Bench) -> tuple[float, float, float]:
    """nDCG@10, recall@100 and the documents ranked, each a mean over the train queries, of ``engine``'s store
    ranked up to ``stage``."""
    engine, ndcg, recall, ranked = at_stage(engine, stage), [], [], []
    for qid in progress(list(bench.qrels), f"scifact {stage}"):
        ranking, relevant = doc_ranking(engine, bench.queries[qid]), bench.qrels[qid]
        ndcg.append(ndcg_at_10(ranking, relevant))
        recall.append(len(relevant & set(ranking[:100])) / len(relevant))
        ranked.append(len(ranking))
    return float(np.mean(ndcg)), float(np.mean(recall)), float(np.mean(ranked))


def part_scifact(bench: Bench) -> str:
    rows = []
    for stage in SCIFACT_STAGES:
        ndcg, recall, ranked = scifact_scores(bench.scifact_engine, stage, bench)
        rows.append([f"qa, stage {stage}", f"train ({len(bench.qrels)} q)", ndcg, recall, f"{ranked:.0f}"])
    rows += [[f"{name} (published, test split)", "test", score, "–", "–"] for name, score in PUBLISHED]
    header = ["system", "split", "nDCG@10", "recall@100", "docs ranked (mean)"]
    return "### SciFact retrieval (documents by best passage of `search(q, 300)`)\n\n" + table(header, rows)


# --- SQuAD: does a passage hold the answer ------------------------------------------


def holds_answer(question: dict, doc_id: str, spans: list[tuple[int, int]], text: str) -> bool:
    """``text`` (at ``spans`` of ``doc_id``) covers a gold answer span or contains an answer string."""
    if doc_id == f"{question['context_id']}.txt":
        for start, answer in zip(question["answer_starts"], question["answers"], strict=True):
            if all(any(s <= i < e for s, e in spans) for i in range(start, start + len(answer))):
                return True
    return any(norm(answer) in norm(text) for answer in question["answers"])


def squad_outcome(engine: qa.Engine, question: dict) -> tuple[bool, bool, bool, float]:
    """Answer in the top passage, in a top-5 passage, in the top passage's highlighted text; exact-answer F1.

    The F1 (SQuAD's normalisation) is of the span the reader marks in the top
    passage against the best gold answer, 0 when it marks none.
    """
    passages = engine.ask(question["question"], k=5).passages
    held = [holds_answer(question, p.doc_id, [(p.start, p.end)], p.text) for p in passages]
    if not passages:
        return False, False, False, 0.0
    top, doc_text = passages[0], engine.document(passages[0].doc_id).text
    marked = " … ".join(doc_text[s:e] for s, e in sorted(top.highlights))
    f1 = max(qa.evaluation.answer_f1(top.answer_text, a) for a in question["answers"]) if top.answer_text else 0.0
    return held[0], any(held), bool(top.highlights) and holds_answer(question, top.doc_id, top.highlights, marked), f1


def part_squad(bench: Bench) -> str:
    rows = []
    for stage, reader in STAGES:
        engine, name = at_stage(bench.squad_engine, stage, reader), stage_name(stage, reader)
        outcomes = np.array([squad_outcome(engine, q) for q in progress(bench.squad_questions, f"squad {name}")])
        means = [float(x) for x in outcomes.mean(axis=0)]
        rows.append([name, len(outcomes), *means[:3], means[3] if reader else "–"])
    header = [
        "stage", "questions", "answer in top-1 passage", "in a top-5 passage", "in top passage's highlight",
        "exact answer F1 (top passage)",
    ]  # fmt: skip
    title = f"### SQuAD v1.1 dev ({len(bench.contexts)} paragraphs), `ask(q, k=5)`\n\n"
    return title + table(header, rows) + ranker_note(engine) + reader_note(engine)


# --- seed set, abstention, latency ------------------------------------------------------


def ranker_note(engine: qa.Engine) -> str:
    ranker = getattr(engine, "ranker", None)
    if ranker is None:
        return "\n\n`ranked` equals `fused` here: no `qa/ranker.json` is shipped yet."
    return (
        f"\n\n`ranked` re-orders with `qa/ranker.json` ({ranker.fingerprint()[:10]}), which "
        "`benchmarks/train_ranker.py` fits on SQuAD dev and the seed set: its rows here are in-sample."
    )


def reader_note(engine: qa.Engine) -> str:
    reader = engine.reading("shipped").reader
    if reader is None:
        return ""
    record = reader.record
    return (
        f" `+ reader` reads with `qa/reader.json` ({record['weights_sha256'][:10]}, trained on SQuAD train only) "
        "and decides with `qa/confidence_reader.json`, fitted on SQuAD dev, SQuAD 2.0 dev, the seed set and "
        "SQuAD train questions (as off-topic ones): its abstention figures here are in-sample. The `+ reader` row "
        "is `ask` as users get it (the default)."
    )


def part_seed(bench: Bench) -> str:
    keys = ["hit@1", "hit@5", "MRR", "off-topic abstained", "unanswerable abstained", "false abstentions"]
    rows = []
    for stage, reader in STAGES:
        metrics = qa.evaluation.evaluate(at_stage(bench.default_engine, stage, reader), SEED, k=5).metrics()
        rows.append([stage_name(stage, reader), *(metrics[key] for key in keys)])
    title = f"### Seed dev set ({len(bench.seed)} questions, default corpus), k=5\n\n"
    return title + table(["stage", *keys], rows) + ranker_note(bench.default_engine) + reader_note(bench.default_engine)


def confidences(engine: qa.Engine, questions: list[str], label: str) -> list[tuple[float, bool]]:
    """``(confidence, answered)`` of `ask` as users get it (ranked, with the reader) for each question."""
    product = at_stage(engine, "ranked", reader=True)
    return [(a.confidence, a.answered) for a in (product.ask(q, k=5) for q in progress(questions, label))]


def part_curve(bench: Bench) -> str:
    seed, default = bench.seed, bench.default_engine
    squad = [q["question"] for q in subsample(bench.squad_questions, 300)]
    answerable = confidences(default, [q.question for q in seed if q.answerable], "curve seed")
    answerable += confidences(bench.squad_engine, squad, "curve squad")
    holes, absent = bench.squad_holes
    on_topic = confidences(default, [q.question for q in seed if q.type == "unanswerable"], "curve unanswerable")
    on_topic += confidences(holes, absent, "curve paragraph removed")
    off_topic = [q.question for q in seed if q.type == "off-topic"] + squad
    if not bench.args.smoke:
        off_topic += subsample(list(bench.queries.values()), 300)
    off_topic = confidences(default, off_topic, "curve off-topic")
    groups = (answerable, on_topic, off_topic)

    def rates(abstains: Callable[[float, bool], bool]) -> list[float]:
        return [100 * float(np.mean([abstains(*x) for x in group])) for group in groups]

    rows = [[f"{t:.2f}", *(f"{r:.1f}" for r in rates(lambda c, _, t=t: c < t))] for t in np.arange(0, 1.001, 0.05)]
    rows.append(["engine's `answered`", *(f"{r:.1f}" for r in rates(lambda _, answered: not answered))])
    header = [
        "abstain below confidence",
        "false abstentions, answerable %",
        "on-topic unanswerable caught %",
        "off-topic caught %",
    ]
    title = (
        f"### Abstention trade-off, stage ranked + reader ({len(answerable)} answerable: seed + SQuAD on its index; "
        f"{len(on_topic)} on-topic unanswerable: seed `unanswerable` + SQuAD questions on SQuAD without their "
        f"paragraph; {len(off_topic)} off-topic: seed `off-topic`, SQuAD and SciFact on the default index)"
    )
    note = (
        "\n\nIn-sample, mostly: the calibrator was fitted on every seed question (at weight 10) and on SQuAD dev "
        "questions of each kind but the paragraph-removed ones (`benchmarks/train_confidence.py`); never on SciFact. "
        "Held-out figures: `benchmarks/README.md`, \"Abstention on questions it was not fitted on\", and "
        "`python benchmarks/unseen.py` for corpora it never saw."
    )
    return title + "\n\n" + table(header, rows) + note


def ask_times(engine: qa.Engine, questions: list[str]) -> list[float]:
    """Milliseconds of each `ask(q, k=5)`, after one warm-up question, sorted."""
    engine.ask("warm-up question", k=5)
    times = []
    for q in questions:
        started = time.perf_counter()
        engine.ask(q, k=5)
        times.append(1000 * (time.perf_counter() - started))
    return sorted(times)


def part_squad2(bench: Bench) -> str:
    """SQuAD 2.0 dev on the SQuAD index: answerable against unanswerable, the calibrator held out by article.

    The shipped calibrator's own recipe (`benchmarks/train_confidence.py
    --reader`, its settings read from its record) is refitted four times, each
    time without every example of a quarter of the articles, and scores those:
    the calibrator never saw the articles it is scored on, and the reader never
    saw SQuAD 2.0 nor any dev article.  Not held out: the ranker (fitted on
    SQuAD v1.1 dev, whose questions are SQuAD 2.0's answerable ones), the
    reader's two settings (chosen on SQuAD dev) and the threshold (the highest
    whose held-out refusals of answerable questions stay within the recipe's
    share).
    """
    from benchmarks import train_confidence as recipe
    from qa.confidence import READER_CONFIDENCE_FILE, Calibrator

    shipped = Calibrator.load(READER_CONFIDENCE_FILE)
    sample = {"n": 40, "v2": 200} if bench.args.smoke else shipped.training["sample"]
    examples = recipe.cached_examples(sample["n"], True, sample["v2"])
    calibrator, p, y, kinds = recipe.fitted(examples, list(shipped.features), **shipped.training["recipe"])
    v2_rows = np.isin(kinds, ["squad2", "squad2-impossible"])
    counts = f"{int((kinds == 'squad2').sum())} answerable, {int((kinds == 'squad2-impossible').sum())} unanswerable"
    title = f"### SQuAD 2.0 dev, articles 0-23 ({counts}), calibrator held out by article, with the reader\n\n"
    t = calibrator.threshold
    refused, caught = np.mean(p[kinds == "squad2"] < t), np.mean(p[kinds == "squad2-impossible"] < t)
    return title + recipe.curve(p[v2_rows], y[v2_rows], kinds[v2_rows]) + (
        f"\n\nAt the threshold the recipe chooses ({t:.2f}): {caught:.1%} of the unanswerable abstained, "
        f"{refused:.1%} of the answerable refused (held out)."
    )


def part_latency(bench: Bench) -> str:
    """As users get it: a fresh engine, the model's own threads, no memo; with the reader (the default) and without."""
    rows = []
    load = os.getloadavg()[0]
    questions = [q.question for q in bench.seed] * (1 if bench.args.smoke else 5)
    for reader in (True, False):
        fresh = qa.load(strict=True)  # not memoised: every question is embedded, as users get it
        times = ask_times(at_stage(fresh, "ranked", reader), questions)
        p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        rows.append(["on (default)" if reader else "off", f"{p50:.1f}", f"{p95:.1f}"])
    title = f"`ask` latency, default corpus, stage ranked, k=5 ({len(questions)} asks each; load {load:.1f} before)"
    return f"### {title}\n\n" + table(["reader", "p50 ms", "p95 ms"], rows)


# --- output ----------------------------------------------------------------------


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{len(os.sched_getaffinity(0))} cores (`nproc`), {cpu}"


def write_readme(body: str, command: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n\nMeasurements of `qa`, regenerated by scripts.\n"
    stamp = f"`{command}` on {date.today().isoformat()}, {machine()}."
    block = f"{MARKERS[0]}\n{stamp}\n\n{body}\n{MARKERS[1]}"
    if MARKERS[0] in text and MARKERS[1] in text:
        text = text[: text.index(MARKERS[0])] + block + text[text.index(MARKERS[1]) + len(MARKERS[1]) :]
    else:
        text = text.rstrip() + "\n\n## Quality\n\n" + block + "\n"
    README.write_text(text)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny corpora and question sets (about a minute)")
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {','.join(PARTS)}")
    ap.add_argument("--squad-limit", type=int, default=None, help="SQuAD questions to ask (fixed-seed sample)")
    ap.add_argument("--cache", default=str(ROOT / ".benchcache"), help="corpora and indexes (default .benchcache)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the benchmark indexes even if current")
    ap.add_argument("--write", action="store_true", help=f"put the tables into {README.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(args.parts) - set(PARTS):
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {','.join(PARTS)}")
    if args.write and args.smoke:
        ap.error("--smoke results are not for the README")
    return args


PART_RUNNERS: dict[str, Callable[[Bench], str]] = {
    "scifact": part_scifact, "squad": part_squad, "seed": part_seed, "curve": part_curve, "squad2": part_squad2,
    "latency": part_latency,
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    bench, sections, timings = Bench(args), [], []
    for part in args.parts:
        started = time.perf_counter()
        sections.append(PART_RUNNERS[part](bench))
        timings.append([part, f"{time.perf_counter() - started:.0f}"])
        print(sections[-1] + "\n", flush=True)
    print("### Wall time\n\n" + table(["part (includes the index builds it triggered)", "s"], timings), flush=True)
    if args.write:
        write_readme("\n\n".join(sections), " ".join(["python benchmarks/quality.py", *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
