"""Many visitors at once: concurrent gradio_client clients against one chat process, per endpoint.

    python benchmarks/visitors.py [--clients 20] [--requests 5] [--endpoints /search,/ask] [--processes 1,2]
                                  [--out FILE]

`python app.py` is started on a free loopback port as a user starts it; then, for each endpoint, ``--clients``
threads each open their own `gradio_client.Client` and send ``--requests`` seed dev questions one after another
(each request bounded by a timeout, so a stuck one counts as an error instead of hanging the run). Printed: the
requests sent, the errors (any exception, timeouts included), the p50 / p95 of the answered ones, the wall time
and the requests answered per second. ``--processes 1,2``: a row per endpoint for each count of answering processes
(`python app.py --processes N`; 1 answers in the chat's own process). Absolute times drift on shared machines:
compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import SEED, emit  # noqa: E402
from benchmarks.latency import free_port  # noqa: E402

REQUEST_TIMEOUT_S = 120.0


def started_chat(port: int, processes: int = 1) -> subprocess.Popen:
    """`python app.py --processes N` on ``port``, answering (its first answer asked and received)."""
    from gradio_client import Client

    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), HF_HUB_OFFLINE="1")
    env["QA_PROCESSES"] = str(processes)
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while True:
        try:
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Who was Zahran Alloush?", api_name="/ask")
            return proc
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("app.py did not start answering within 180 s") from None
            time.sleep(0.5)


def visitor(url: str, endpoint: str, questions: list[str]) -> tuple[list[float], list[str]]:
    """One client's requests in turn: the seconds each answered one took, and the errors."""
    from gradio_client import Client

    times, errors = [], []
    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # noqa: BLE001 - counted, not raised: the table says how many
        return [], [f"connect: {type(exc).__name__}: {exc}"] * len(questions)
    for question in questions:
        args = (question, 5) if endpoint == "/search" else (question,)
        started = time.perf_counter()
        job = client.submit(*args, api_name=endpoint)
        try:
            job.result(timeout=REQUEST_TIMEOUT_S)
            times.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    return times, errors


def crowd(url: str, endpoint: str, clients: int, questions: list[str], per_client: int) -> list[str]:
    """The row of ``clients`` visitors sending ``per_client`` requests each to ``endpoint`` at once."""
    gate = threading.Barrier(clients)

    def one(i: int) -> tuple[list[float], list[str]]:
        mine = [questions[(i * per_client + j) % len(questions)] for j in range(per_client)]
        gate.wait()  # every client starts together
        return visitor(url, endpoint, mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(clients)))
    wall = time.perf_counter() - started
    times = sorted(t for ts, _ in results for t in ts)
    errors = [e for _, es in results for e in es]
    p50 = f"{1000 * statistics.median(times):.0f}" if times else "–"
    p95 = f"{1000 * times[math.ceil(0.95 * len(times)) - 1]:.0f}" if times else "–"  # nearest rank
    if errors:
        print(f"{endpoint}: {len(errors)} error(s), e.g. {errors[0]}", file=sys.stderr)
    return [f"`{endpoint}`", str(clients), str(clients * per_client), str(len(errors)), p50, p95,
            f"{wall:.1f}", f"{len(times) / wall:.1f}"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20, help="visitors at once (default 20)")
    ap.add_argument("--requests", type=int, default=5, help="requests each visitor sends in turn (default 5)")
    ap.add_argument("--endpoints", default="/search,/ask", help="comma-separated (default /search,/ask)")
    ap.add_argument("--processes", default="1", help="comma-separated counts of answering processes (default 1)")
    ap.add_argument("--out", help="also write the table to this Markdown file")
    args = ap.parse_args(argv)
    questions = [json.loads(line)["question"] for line in SEED.read_text(encoding="utf-8").splitlines() if line]
    rows = []
    for processes in [int(n) for n in args.processes.split(",")]:
        port = free_port()
        chat = started_chat(port, processes)
        try:
            rows += [
                [str(processes), *crowd(f"http://127.0.0.1:{port}/", endpoint.strip(), args.clients, questions,
                                        args.requests)]
                for endpoint in args.endpoints.split(",")
                if endpoint.strip()
            ]  # fmt: skip
        finally:
            chat.terminate()
            chat.wait(timeout=30)
    header = ["answering processes", "endpoint", "clients at once", "requests", "errors", "p50 ms", "p95 ms",
              "wall s", "answered / s"]  # fmt: skip
    lines = [
        f"### {args.clients} visitors at once, one chat ({len(os.sched_getaffinity(0))} cores, loopback)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    emit("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
