"""Cold start of `python app.py` to its first answer, and `Engine.ask` latency, on the default corpus.

    python benchmarks/latency.py [--runs 3]

Prints a Markdown table. Absolute times drift on shared machines: compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "eval" / "seed_dev.jsonl"
QUESTION = "How many people were killed in the Tartus bombing?"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start() -> float:
    """Seconds from launching `python app.py` to the first answer through gradio_client."""
    from gradio_client import Client

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False).predict(QUESTION, api_name="/ask")
                return time.perf_counter() - started
            except Exception:
                if proc.poll() is not None or time.perf_counter() - started > 180:
                    raise RuntimeError("app.py did not answer") from None
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time")
    args = ap.parse_args()
    import json

    questions = [json.loads(line)["question"] for line in SEED.read_text().splitlines() if line.strip()]
    colds = [cold_start() for _ in range(args.runs)]
    load_s, times = ask_latencies(questions * 5)
    times.sort()
    print(f"| measure (2-core CPU, {len(questions) * 5} asks) | value |")
    print("| --- | --- |")
    print(f"| `python app.py` to first answer, median of {args.runs} | {statistics.median(colds):.1f} s |")
    print(f"| `qa.load()` + first `ask` in-process | {load_s:.1f} s |")
    print(f"| `ask` p50 | {statistics.median(times):.1f} ms |")
    print(f"| `ask` p95 | {times[int(0.95 * (len(times) - 1))]:.1f} ms |")


if __name__ == "__main__":
    main()
