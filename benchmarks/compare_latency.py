"""`ask` latency of this checkout against another one, in alternating rounds of one run.

    python benchmarks/compare_latency.py --other ../baseline [--rounds 6]

Each round starts a fresh process per checkout (the other first, then this
one), loads the committed index with ``qa.load(strict=True)``, asks every seed
question once to warm up, then times five passes over them. Wall time on
these shared 2-core machines drifts between rounds by more than the code
changes it, so the table also gives each ask's CPU time (questions run on one
torch thread) and the ratio of this checkout to the other per round; compare
the medians of the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "eval" / "seed_dev.jsonl"

PROBE = """
import json, os, statistics, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import qa
engine = qa.load(strict=True)
questions = [json.loads(line)["question"] for line in open(sys.argv[1]) if line.strip()]
for q in questions:
    engine.ask(q)
wall, cpu = [], []
for q in questions * 5:
    w, c = time.perf_counter(), time.process_time()
    engine.ask(q)
    wall.append((time.perf_counter() - w) * 1000)
    cpu.append((time.process_time() - c) * 1000)
print(json.dumps({"wall": statistics.median(wall), "cpu": statistics.median(cpu)}))
"""


def probe(checkout: Path) -> dict[str, float]:
    """Median wall and CPU milliseconds of an ask, measured in a fresh process importing ``checkout``'s `qa`."""
    env = dict(os.environ, PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(SEED)], cwd=checkout, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", required=True, help="the checkout to compare against (its own embeddings/)")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    other = Path(args.other).resolve()
    rows = []
    print("| round | other p50 ms | this p50 ms | other CPU p50 ms | this CPU p50 ms | wall ratio | CPU ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in range(1, args.rounds + 1):
        theirs, ours = probe(other), probe(ROOT)
        rows.append((ours["wall"] / theirs["wall"], ours["cpu"] / theirs["cpu"]))
        print(
            f"| {n} | {theirs['wall']:.1f} | {ours['wall']:.1f} | {theirs['cpu']:.1f} | {ours['cpu']:.1f} "
            f"| {rows[-1][0]:.2f} | {rows[-1][1]:.2f} |",
            flush=True,
        )
    wall, cpu = (statistics.median(r[i] for r in rows) for i in (0, 1))
    print(f"| median | | | | | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
