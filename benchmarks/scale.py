"""Scale of a store: build, disk, load, ask, add, remove, recall and resume at N passages, as one table.

    python benchmarks/scale.py [--passages 100000] [--questions 100] [--phases build,load,ask,add,remove,recall,resume]
                               [--stores local,milvus] [--skip-build] [--full-s SECONDS] [--cache DIR] [--out FILE]

The corpus (the issue's): the SQuAD dev paragraphs of ``../shared/eval/squad/contexts.jsonl``
(``squad/<id>.txt``) and the articles of ``../shared/eval/wikipedia/`` (``wikipedia/<doc_id>.txt``),
repeated under ``copy-2/``, ``copy-3/``… until it holds about ``--passages`` passages (estimated
per paragraph at the chunker's target words; the table gives the index's real chunk count).  It
is written once into ``<cache>/corpus-<N>/`` (default cache ``.benchcache/scale/``; files that
exist are kept, so an interrupted generation resumes) and indexed with ``qa.HashEmbedder(384)``,
so that the figures are the index's own and not the model's.

Everything goes through the public API (`qa.build`, `qa.load(strict=True)`, `Engine.ask`, `add`,
`remove`), and each phase runs in a fresh process, so that its peak RSS is its own:
``ru_maxrss`` for the build, VmRSS after `qa.load`, and VmRSS sampled every 50 ms during `add` and
`remove`.  Asks are timed after three warm-up asks (one of them "who": it loads the parser for
names), beside the same questions on a small index of the corpus's SQuAD paragraphs alone, built
in the same run and asked in the same process, each question of both in turn: the ratio says what
the size itself costs, both timed under the same load of the machine.  Recall@10 of the dense store against
exact search over every stored vector (`dense_recall`).  Resume:
a fresh build killed (SIGKILL) halfway through the time a full build took, then built again.

``--stores local,milvus`` measures the same phases of the same corpus in a Milvus Lite file too
(``<cache>/milvus-<N>.db``; recall and resume are the local store's alone), a row per store, in one run.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

import qa  # noqa: E402
from qa.progress import Bars  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import CACHE, EVAL, emit, read_jsonl, squad_questions, write_atomic  # noqa: E402

PHASES = ("build", "load", "ask", "add", "remove", "recall", "resume")
STORES = ("local", "milvus")
MILVUS_PHASES = ("build", "load", "ask", "add", "remove")  # its index is exact (FLAT): no recall to measure
DIM = 384
WARM_UP = ["Who founded the university?", "How many people live in the city?", "When was the bridge built?"]
RECALL_QUESTIONS = 200
PROBE = "scale-probe"  # the stem of the file `add` indexes and `remove` takes out
SAMPLE_S = 0.05


# --- the corpus -----------------------------------------------------------------


def wikipedia_articles() -> dict[str, str]:
    """Each Wikipedia article's passages as paragraphs of one text, in file order."""
    articles: dict[str, list[str]] = {}
    for row in read_jsonl(EVAL / "wikipedia" / "passages_120w.jsonl.gz"):
        articles.setdefault(row["doc_id"], []).append(row["text"])
    return {doc_id: "\n\n".join(passages) for doc_id, passages in articles.items()}


def corpus_files() -> Iterator[tuple[str, str]]:
    """(path, text) of every corpus file in order, without end: SQuAD, Wikipedia, then both again under copy-N/.

    Wikipedia is read only when the SQuAD paragraphs are not enough.
    """
    squad = read_jsonl(EVAL / "squad" / "contexts.jsonl")
    wikipedia: dict[str, str] = {}
    for copy in itertools.count(1):
        prefix = f"copy-{copy}/" if copy > 1 else ""
        yield from ((f"{prefix}squad/{r['id']}.txt", r["text"]) for r in squad)
        wikipedia = wikipedia or wikipedia_articles()
        yield from ((f"{prefix}wikipedia/{doc_id}.txt", text) for doc_id, text in wikipedia.items())


def passages_in(text: str, target: int = qa.ChunkingSettings().target_words) -> int:
    """About how many chunks the index cuts ``text`` into: chunks end at paragraphs (6% high on Wikipedia)."""
    return sum(max(1, math.ceil(len(p.split()) / target)) for p in text.split("\n\n") if p.strip())


def write_corpus(folder: Path, passages: int) -> tuple[int, int]:
    """Corpus files into ``folder`` until they hold about ``passages`` passages, keeping those already there.

    Returns (files, files written now).
    """
    files = written = estimated = 0
    for name, text in corpus_files():
        if estimated >= passages:
            break
        path = folder / name
        if not path.exists():
            write_atomic(path, text.encode())  # a killed run leaves whole files or hidden temporaries
            written += 1
        files += 1
        estimated += passages_in(text)
    return files, written


def questions(n: int) -> list[str]:
    """``n`` SQuAD dev questions (articles 0-23, those kept for evaluation), a fixed sample (seed 0)."""
    rows = squad_questions()
    return [rows[i].question for i in sorted(random.Random(0).sample(range(len(rows)), min(n, len(rows))))]


class Paths:
    """Where one corpus size keeps its corpus and one store's indexes under the cache."""

    def __init__(self, root: Path, passages: int, store: str = "local"):
        self.passages, self.store = passages, store
        self.corpus = root / f"corpus-{passages}"
        name = f"index-{passages}" if store == "local" else f"milvus-{passages}"
        suffix = "" if store == "local" else ".db"  # a Milvus Lite file
        self.index = root / f"{name}{suffix}"
        self.small_corpus = self.corpus / "squad"  # the SQuAD paragraphs alone (all 2,067 from ~2,100 passages on)
        self.small_index = root / f"{name}-squad{suffix}"
        self.resume_index = root / f"resume-{passages}" / "index"  # in a folder of its own, with its save's siblings


def is_milvus(index: Path) -> bool:
    return index.suffix == ".db"


def opened(index: Path, **how) -> qa.Engine:
    """`qa.load` of the local index folder or the Milvus Lite file ``index``."""
    return qa.load(store=qa.MilvusStore(str(index)), **how) if is_milvus(index) else qa.load(index, **how)


def removed(index: Path) -> None:
    if index.is_dir():
        shutil.rmtree(index)
    else:
        index.unlink(missing_ok=True)


# --- what runs in each fresh process ------------------------------------------------


def rss_gb() -> float:
    """The resident memory now (VmRSS) of this process and the processes it started (a Milvus Lite server), in GB
    (10^9 bytes)."""
    return sum(_vm_rss_kib(pid) for pid in _family(os.getpid())) * 1024 / 1e9


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux: each thread's ``children`` file)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended
            continue
        for child in children:
            found += _family(int(child))
    return found


def _vm_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
    except OSError:  # it ended
        return 0


def max_rss_gb() -> float:
    """This process's peak resident memory so far (Linux: ru_maxrss is in KiB), in GB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


class PeakRss:
    """VmRSS sampled every 50 ms on a thread while the block runs: the peak of one step, not of the process."""

    def __enter__(self) -> PeakRss:
        self.gb = rss_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.gb = max(self.gb, rss_gb())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.gb = max(self.gb, rss_gb())


def timed_load(index: Path) -> tuple[qa.Engine, dict]:
    started = time.perf_counter()
    engine = opened(index, strict=True)
    return engine, {"load_s": time.perf_counter() - started, "rss_gb": rss_gb()}


def chunk_count(engine: qa.Engine) -> int | None:
    """The index's chunk count where the engine tells it (None where the index internals no longer do)."""
    try:
        return len(engine.store)
    except AttributeError:
        return None


def child_build(corpus: Path, index: Path) -> dict:
    print("building", flush=True)  # the resume phase starts its clock here
    started = time.perf_counter()
    where = {"store": qa.MilvusStore(str(index))} if is_milvus(index) else {"index_dir": index}
    with PeakRss() as peak:  # the Milvus Lite server's memory too
        qa.build(corpus, embedder=qa.HashEmbedder(DIM), progress=Bars(file=sys.stderr), **where)
    return {"seconds": time.perf_counter() - started, "peak_gb": max(max_rss_gb(), peak.gb)}


def child_load(index: Path) -> dict:
    """A strict load (the corpus scanned before it returns), then the chat's: answering at once, the corpus
    scanned in the background (how long that took too; a Milvus store has the strict load alone)."""
    engine, loaded = timed_load(index)
    counts = {"documents": len(engine.documents), "chunks": chunk_count(engine)}
    if is_milvus(index):
        return loaded | counts
    started = time.perf_counter()
    later = qa.load(index, check="later")
    opened = time.perf_counter() - started
    later.catching_up.join()
    checked = time.perf_counter() - started
    return loaded | counts | {"open_s": opened, "check_s": checked}


def child_ask(index: Path, n: int, beside: Path) -> dict:
    """`ask` p50 and p95 on ``index`` ("ask") and on the small index ``beside`` ("small"): each question asked of
    both in turn, which one first alternating, so that both are timed under the same load of the machine (their
    ratio is what the size costs, not what else the machine was doing at the time)."""
    engines = {"ask": timed_load(index)[0], "small": timed_load(beside)[0]}
    for engine in engines.values():
        for question in WARM_UP:
            engine.ask(question, k=5)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for i, question in enumerate(questions(n)):
        for name in list(engines)[:: 1 if i % 2 else -1]:
            started = time.perf_counter()
            engines[name].ask(question, k=5)
            times[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"p50": statistics.median(ms), "p95": sorted(ms)[int(0.95 * (len(ms) - 1))]} for name, ms in times.items()
    }


def probes(engine: qa.Engine) -> list[str]:
    return [d for d in engine.documents if Path(d).name.startswith(PROBE)]


def child_add(index: Path) -> dict:
    engine, loaded = timed_load(index)
    if leftover := probes(engine):  # from a run stopped between its add and its remove
        engine.remove(leftover)
        engine, loaded = timed_load(index)
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / f"{PROBE}.txt"
        probe.write_text(probe_text(), encoding="utf-8")
        started = time.perf_counter()
        with PeakRss() as peak:
            engine.add([probe])
        seconds = time.perf_counter() - started
    return loaded | {"seconds": seconds, "peak_gb": peak.gb}


def child_remove(index: Path) -> dict:
    engine, loaded = timed_load(index)
    if not probes(engine):  # the add phase did not run: add the probe, untimed, then load afresh
        child_add(index)
        engine, loaded = timed_load(index)
    doc_ids = probes(engine)  # listing every document is not the removal's cost
    started = time.perf_counter()
    with PeakRss() as peak:
        engine.remove(doc_ids)
    return loaded | {"seconds": time.perf_counter() - started, "peak_gb": peak.gb}


def dense_recall(engine: qa.Engine, asked: list[str], k: int) -> float:
    """Share of the exact top ``k`` (cosine over every live chunk's stored vector) that ``store.dense_search``
    returns, over the questions ``asked``: what the quantized segments cost."""
    store = engine.store
    queries = engine.embedder.encode(asked)
    best_ids = np.full((len(asked), 0), -1, dtype=np.int64)
    best = np.zeros((len(asked), 0), dtype=np.float32)
    ids = np.fromiter(store.chunk_ids(), dtype=np.int64)
    for start in range(0, len(ids), 65_536):
        block = ids[start : start + 65_536]
        scores = queries @ np.stack([store.vector(int(i)) for i in block]).T
        merged_ids = np.concatenate([best_ids, np.broadcast_to(block, scores.shape)], axis=1)
        merged = np.concatenate([best, scores], axis=1)
        order = np.argsort(-merged, axis=1, kind="stable")[:, :k]
        best_ids, best = np.take_along_axis(merged_ids, order, 1), np.take_along_axis(merged, order, 1)
    pairs = zip(queries, best_ids, strict=True)
    found = [len(set(store.dense_search(q, k).ids.tolist()) & set(row.tolist())) for q, row in pairs]
    return sum(found) / (k * len(asked))


def child_recall(index: Path) -> dict:
    engine, _ = timed_load(index)
    return {"recall": float(dense_recall(engine, questions(RECALL_QUESTIONS), k=10))}


def probe_text() -> str:
    """About 1 KB of text no corpus file holds: the first paragraphs of SQuAD *train*."""
    with gzip.open(EVAL / "squad" / "train_contexts.jsonl.gz", "rt", encoding="utf-8") as rows:
        text = ""
        for line in rows:
            text += json.loads(line)["text"] + "\n\n"
            if len(text.encode()) >= 1000:
                return text
    return text


def child(args: argparse.Namespace) -> int:
    """Run the phase ``--child`` names and print its figures as the last line of JSON."""
    index = Path(args.index)
    if args.child == "build":
        result = child_build(Path(args.corpus), index)
    elif args.child == "ask":
        result = child_ask(index, args.questions, Path(args.corpus))
    else:
        result = CHILDREN[args.child](index)
    print(json.dumps(result), flush=True)
    return 0


CHILDREN: dict[str, Callable[[Path], dict]] = {
    "load": child_load, "add": child_add, "remove": child_remove, "recall": child_recall
}  # fmt: skip


# --- the parent: one fresh process per phase ---------------------------------------


def start(phase: str, index: Path, corpus: Path | None = None, n: int = 0) -> subprocess.Popen:
    """This script running one phase in a fresh process: its figures on a pipe, its progress on our stderr."""
    line = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--index", str(index)]
    line += (["--corpus", str(corpus)] if corpus else []) + ["--questions", str(n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.Popen(line, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def run_child(phase: str, index: Path, corpus: Path | None = None, n: int = 0) -> dict:
    """One phase's figures, measured in a fresh process."""
    proc = start(phase, index, corpus, n)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the {phase} phase failed (exit {proc.returncode}) on {index}")
    return json.loads(out.strip().splitlines()[-1])


def fresh_build(corpus: Path, index: Path) -> dict:
    """A build from nothing (the index removed first)."""
    removed(index)
    return run_child("build", index, corpus)


def killed_build(corpus: Path, index: Path, after_s: float) -> bool:
    """Start a fresh build and SIGKILL it ``after_s`` seconds after it starts building; False if it ended first."""
    shutil.rmtree(index.parent, ignore_errors=True)
    proc = start("build", index, corpus)
    assert proc.stdout is not None
    proc.stdout.readline()  # "building"
    try:
        proc.wait(timeout=after_s)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    finally:
        proc.stdout.close()


def resume(paths: Paths, full_s: float | None) -> dict:
    """Resume time over full time: a build killed halfway (at a quarter or an eighth if it ends before), then built
    again (the full time measured if not given).

    ``share`` is the resumed build's part of the killed one's time plus its own, both measured in this run: it
    stays near 0.5 whatever the full time was, if the resume redoes only what the kill lost.
    """
    index = paths.resume_index
    if full_s is None:
        full_s = fresh_build(paths.corpus, index)["seconds"]
    for waited in (full_s / 2, full_s / 4, full_s / 8):  # a build quicker than the measured one is killed sooner
        if killed := killed_build(paths.corpus, index, waited):
            break
    again = run_child("build", index, paths.corpus)["seconds"]
    shutil.rmtree(index.parent, ignore_errors=True)
    share = again / (waited + again) if killed else None
    return {"seconds": again, "full_s": full_s, "ratio": again / full_s, "share": share, "killed": killed}


def megabytes(index: Path) -> float:
    files = index.rglob("*") if index.is_dir() else [index]
    return sum(p.stat().st_size for p in files if p.is_file()) / 1e6


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def measure(paths: Paths, phases: list[str], n: int, full_s: float | None = None) -> dict[str, dict]:
    """Each phase's figures, the phases in the order of `PHASES` whatever the order asked."""
    files, written = write_corpus(paths.corpus, paths.passages)
    log(f"corpus {paths.corpus}: {files} files ({written} written now)")
    got: dict[str, dict] = {}
    if "build" in phases:
        log("build")
        got["build"] = fresh_build(paths.corpus, paths.index)
    elif not paths.index.exists():
        log(f"no index to reuse in {paths.index}: building it (untimed)")
        fresh_build(paths.corpus, paths.index)
    got["disk"] = {"mb": megabytes(paths.index)}
    for phase in [p for p in PHASES if p in phases and p != "build"]:
        log(phase)
        if phase == "ask":
            log("ask, beside the SQuAD paragraphs alone")
            run_child("build", paths.small_index, paths.small_corpus)
            got |= run_child("ask", paths.index, paths.small_index, n=n)
        elif phase == "resume":
            got["resume"] = resume(paths, got.get("build", {}).get("seconds") or full_s)
        else:
            got[phase] = run_child(phase, paths.index)
    return got


# --- the tables -------------------------------------------------------------------


COLUMNS = [
    "store", "passages", "chunks", "documents", "build s", "build peak GB", "disk MB",
    "load s: strict / answering / scanned", "RSS after load GB",
    "ask p50 / p95 ms", "small-corpus p50 ms", "p50 ratio", "add s / peak ratio", "remove s / peak ratio",
    "recall@10", "resume / full; resume / (killed + resume)",
]  # fmt: skip


def cell(got: dict[str, dict], phase: str, *keys: str, fmt: str = ".2f") -> str:
    """The phase's figures joined with " / ", "–" where the phase did not run and "n/a" where it gave none."""
    if phase not in got:
        return "–"
    values = [got[phase].get(key) for key in keys]
    return " / ".join("n/a" if v is None else format(v, fmt) for v in values)


def derive(got: dict[str, dict]) -> None:
    """Add the ratios the limits are about."""
    for phase in ("add", "remove"):
        if phase in got:
            got[phase]["peak_ratio"] = got[phase]["peak_gb"] / got[phase]["rss_gb"]
    if "ask" in got:
        ask, small = got["ask"], got["small"]
        ask["ratio"], ask["tail"] = ask["p50"] / small["p50"], ask["p95"] / ask["p50"]


def row(store: str, passages: int, got: dict[str, dict]) -> list[str]:
    counts = [cell(got, "load", key, fmt="d") for key in ("chunks", "documents")]
    resume = cell(got, "resume", "ratio", "share")
    if got.get("resume", {}).get("killed") is False:
        resume += " (build ended before the kill)"
    return [
        STORE_NAMES[store], f"{passages:,}", *counts,
        cell(got, "build", "seconds", fmt=".1f"), cell(got, "build", "peak_gb"), cell(got, "disk", "mb", fmt=".1f"),
        cell(got, "load", "load_s", "open_s", "check_s"), cell(got, "load", "rss_gb"),
        cell(got, "ask", "p50", "p95", fmt=".1f"), cell(got, "small", "p50", fmt=".1f"), cell(got, "ask", "ratio"),
        cell(got, "add", "seconds", "peak_ratio"), cell(got, "remove", "seconds", "peak_ratio"),
        cell(got, "recall", "recall", fmt=".3f"), resume,
    ]  # fmt: skip


LIMITS = [  # (what, phase, key, the most (or with ">=" the least) the issue allows, unit)
    ("build peak RSS", "build", "peak_gb", "<=", 6.0, " GB"),
    ("load (strict: the corpus scanned first)", "load", "load_s", "<=", 2.0, " s"),
    ("load to answering (the chat's: scanned after)", "load", "open_s", "<=", 2.0, " s"),
    ("RSS after load", "load", "rss_gb", "<=", 3.0, " GB"),
    ("ask p50 / small-corpus p50", "ask", "ratio", "<=", 1.3, "×"),
    ("ask p95 / p50", "ask", "tail", "<=", 2.0, "×"),
    ("add", "add", "seconds", "<=", 3.0, " s"),
    ("peak during add / RSS after load", "add", "peak_ratio", "<=", 1.3, "×"),
    ("remove", "remove", "seconds", "<=", 3.0, " s"),
    ("peak during remove / RSS after load", "remove", "peak_ratio", "<=", 1.3, "×"),
    ("recall@10 against exact search", "recall", "recall", ">=", 0.95, ""),
    ("resume / full build", "resume", "ratio", "<=", 0.6, "×"),
    ("resume / (killed build + resume), one run", "resume", "share", "<=", 0.6, "×"),
]


def limit_rows(got: dict[str, dict]) -> list[list[str]]:
    rows = []
    for what, phase, key, op, bound, unit in LIMITS:
        value = got.get(phase, {}).get(key)
        if value is None:
            measured, mark = cell(got, phase, key), ""
        else:
            measured, mark = f"{value:.2f}{unit}", "✓" if (value <= bound if op == "<=" else value >= bound) else "✗"
        rows.append([what, f"{op.replace('<=', '≤').replace('>=', '≥')} {bound:g}{unit}", measured, mark])
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


STORE_NAMES = {"local": "local", "milvus": "Milvus Lite"}
BESIDE = [  # (what, phase, key) compared between the stores
    ("build s", "build", "seconds"), ("build peak GB", "build", "peak_gb"), ("load s (strict)", "load", "load_s"),
    ("RSS after load GB", "load", "rss_gb"), ("ask p50 ms", "ask", "p50"), ("ask p95 ms", "ask", "p95"),
    ("add s", "add", "seconds"), ("remove s", "remove", "seconds"),
]  # fmt: skip


def beside_rows(local: dict[str, dict], milvus: dict[str, dict]) -> list[list[str]]:
    """Each measure of both stores and the Milvus / local ratio, where both measured it."""
    rows = []
    for what, phase, key in BESIDE:
        a, b = local.get(phase, {}).get(key), milvus.get(phase, {}).get(key)
        if a is not None and b is not None:
            rows.append([what, f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}×" if a else "n/a"])
    return rows


def report(args: argparse.Namespace, got: dict[str, dict[str, dict]], wall_s: float) -> str:
    for figures in got.values():
        derive(figures)
    title = (
        f"### Scale of the {' and the '.join(STORE_NAMES[s] for s in got)} store, about {args.passages:,} passages "
        f"(`qa.HashEmbedder({DIM})`, {len(os.sched_getaffinity(0))} cores, {args.questions} questions)"
    )
    parts = [title, table(COLUMNS, [row(store, args.passages, figures) for store, figures in got.items()])]
    if "local" in got:
        limits = table(["measure", "limit", "measured", "within"], limit_rows(got["local"]))
        parts += ["### Limits of the issue", limits]
    if {"local", "milvus"} <= set(got):
        parts += [
            "### Milvus Lite beside the local store",
            table(["measure", "local", "Milvus Lite", "Milvus / local"], beside_rows(got["local"], got["milvus"])),
        ]
    return "\n\n".join([*parts, f"Phases {','.join(args.phases)} in {wall_s:.0f} s."])


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=100_000, help="about how many passages the corpus holds")
    ap.add_argument("--questions", type=int, default=100, help="SQuAD dev questions to time (fixed sample)")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {','.join(PHASES)}")
    ap.add_argument("--stores", default="local", help=f"comma-separated, of {','.join(STORES)}")
    ap.add_argument("--skip-build", action="store_true", help="reuse the cached index (the build phase left out)")
    ap.add_argument("--cache", default=str(CACHE / "scale"), help="corpora and indexes (default .benchcache/scale)")
    ap.add_argument("--out", help="also write the tables to this Markdown file")
    ap.add_argument(
        "--full-s",
        type=float,
        help="a full build's seconds measured before: the resume phase kills at half of it "
        "instead of timing a full build first (when the build phase is left out)",
    )
    ap.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)  # one phase, in its fresh process
    ap.add_argument("--index", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip() and not (args.skip_build and p == "build")]
    if unknown := set(args.phases) - set(PHASES):
        ap.error(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {','.join(PHASES)}")
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if (unknown := set(args.stores) - set(STORES)) or not args.stores:
        ap.error(f"unknown store(s) {', '.join(sorted(unknown))}; choose from {','.join(STORES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return child(args)
    started = time.perf_counter()
    got = {}
    for store in args.stores:
        phases = [p for p in args.phases if store == "local" or p in MILVUS_PHASES]
        got[store] = measure(Paths(Path(args.cache), args.passages, store), phases, args.questions, args.full_s)
    text = report(args, got, time.perf_counter() - started)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
