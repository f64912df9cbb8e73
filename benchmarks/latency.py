"""Cold start of `python app.py` to its first answer, `Engine.ask` latency, and many visitors at once.

    python benchmarks/latency.py [--runs 3] [--threads 8] [--fresh-cache] [--processes 2]

``--fresh-cache``: each cold start gets an empty model cache (``QA_MODEL_CACHE``), as a Space does on its fresh disk.

Prints Markdown tables. Absolute times drift on shared machines: compare rows of one run.
The concurrency table asks the same questions of one engine from 1 thread and
from ``--threads`` threads: the engine keeps no per-question state and takes no
lock around `ask`, so throughput should not drop (on 2 cores it can at most
double) and each visitor's wait grows only with the work queued ahead of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "eval" / "seed_dev.jsonl"
QUESTION = "How many people were killed in the Tartus bombing?"
SECOND_QUESTIONS = [
    "Who was Zahran Alloush?",
    "How many fighters does ISIS still have in Syria?",
    "What did the State Department say about joint air strikes with Russia?",
    "Where is the Russian naval base?",
    "How long should I boil an egg?",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(fresh_cache: bool = False) -> tuple[float, float, float, int]:
    """Seconds from launching `python app.py` to the first answer through gradio_client; then how long that
    first question's request took, and the median of five more (the first answer should be as quick); and the
    lines the app wrote to its log (stdout and stderr) by then."""
    import tempfile

    from gradio_client import Client

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1")
    env.pop("GRADIO_ANALYTICS_ENABLED", None)  # as a user starts it: the product turns analytics off itself
    cache = tempfile.TemporaryDirectory()
    if fresh_cache:
        env["QA_MODEL_CACHE"] = cache.name
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:
                if proc.poll() is not None or time.perf_counter() - started > 180:
                    raise RuntimeError("app.py did not start") from None
                time.sleep(0.2)
        asked = time.perf_counter()
        client.predict(QUESTION, api_name="/ask")
        answered = time.perf_counter()
        later = []
        for question in SECOND_QUESTIONS:
            t = time.perf_counter()
            client.predict(question, api_name="/ask")
            later.append(time.perf_counter() - t)
        log.seek(0)
        return answered - started, answered - asked, statistics.median(later), len(log.read().splitlines())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        cache.cleanup()


def ask_latencies(questions: list[str]) -> tuple[float, list[float]]:
    import qa

    started = time.perf_counter()
    engine = qa.load()
    engine.ask(QUESTION)  # first call loads the model
    load_s = time.perf_counter() - started
    times = []
    for q in questions:
        t = time.perf_counter()
        engine.ask(q, k=5)
        times.append((time.perf_counter() - t) * 1000)
    return load_s, times


def timed(engine, question: str) -> float:
    started = time.perf_counter()
    engine.ask(question, k=5)
    return (time.perf_counter() - started) * 1000


def concurrency(questions: list[str], threads: int, processes: int = 0) -> list[list[str]]:
    """Rows of the concurrency table: the same asks of one engine from 1 thread, one per core, and ``threads``;
    then (``processes``) from one thread per worker process answering them (`qa.processes`)."""
    import qa
    from qa.processes import AnsweringProcesses

    engine = qa.load()
    engine.ask(QUESTION)
    runs = [(f"{n} thread(s), one process", n, engine) for n in sorted({1, len(os.sched_getaffinity(0)), threads})]
    answering = AnsweringProcesses(engine, processes, warm_up=QUESTION) if processes > 1 else None
    if answering:
        answering.ask(QUESTION)
        runs.append((f"{processes} threads, {processes} worker processes", processes, answering))
    rows = []
    for label, workers, asker in runs:
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            times = sorted(pool.map(lambda q, a=asker: timed(a, q), questions))
        wall = time.perf_counter() - started
        rows.append(
            [
                label,
                f"{len(questions) / wall:.1f}",
                f"{statistics.median(times):.1f}",
                f"{times[int(0.95 * (len(times) - 1))]:.1f}",
            ]
        )
    if answering:
        answering.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time (0: none)")
    ap.add_argument("--threads", type=int, default=8, help="visitors asking at once in the concurrency table")
    ap.add_argument("--fresh-cache", action="store_true", help="each cold start with an empty model cache")
    ap.add_argument("--processes", type=int, default=0, help="also: that many answering processes")
    args = ap.parse_args()
    import json

    questions = [json.loads(line)["question"] for line in SEED.read_text().splitlines() if line.strip()]
    colds = [cold_start(args.fresh_cache) for _ in range(args.runs)]
    load_s, times = ask_latencies(questions * 5)
    times.sort()
    print(f"| measure (2-core CPU, {len(questions) * 5} asks) | value |")
    print("| --- | --- |")
    if colds:
        total, first, later, lines = (statistics.median(c[i] for c in colds) for i in range(4))
        cache = "an empty model cache" if args.fresh_cache else "this machine's model cache"
        print(f"| `python app.py` to first answer ({cache}), median of {args.runs} | {total:.1f} s |")
        print(f"| lines in the app's log by then, median | {lines:.0f} |")
        print(f"| the first question's `/ask` request (gradio_client) | {first * 1000:.0f} ms |")
        print(f"| later `/ask` requests, median | {later * 1000:.0f} ms |")
    print(f"| `qa.load()` + first `ask` in-process | {load_s:.1f} s |")
    print(f"| `ask` p50 | {statistics.median(times):.1f} ms |")
    print(f"| `ask` p95 | {times[int(0.95 * (len(times) - 1))]:.1f} ms |")
    print()
    print(f"| asking at once ({len(questions) * 5} asks) | asks/s | ask p50 ms | ask p95 ms |")
    print("| --- | --- | --- | --- |")
    for row in concurrency(questions * 5, args.threads, args.processes):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
