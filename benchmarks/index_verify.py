"""What verifying an index costs at load: checksums and structural checks, on the committed index, scaled up, and
for one large vector file.

    python benchmarks/index_verify.py [--runs 20] [--copies 50] [--large-mib 512]

Prints Markdown tables.  The committed ``embeddings/`` is used as it is when it is in the current format, else
converted (without the model: same vectors, same BM25 tokens) into a temporary folder first.  "Scaled" is that
index's documents copied ``--copies`` times under other ids.  Every file is read from the page cache (each is
read once before timing), so the times are what verifying costs the CPU, not the disk.  Absolute times drift on
shared machines: compare rows of one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import bm25s
import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import qa.folders  # noqa: E402
import qa.index  # noqa: E402
import qa.integrity  # noqa: E402
from qa.chunking import Chunk  # noqa: E402
from qa.index import Index, Manifest, Sentences  # noqa: E402


def fastest(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """The fastest of ``runs`` calls of each action, in seconds, the actions taking turns.

    Taking turns and the minimum keep a busy machine's noise out of the comparison;
    one untimed round first warms the page cache.
    """
    best = dict.fromkeys(actions, float("inf"))
    for round_ in range(runs + 1):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            if round_:
                best[name] = min(best[name], time.perf_counter() - started)
    return best


def unverified_load(folder: Path) -> Index:
    """`Index.load` with its checksums and structural checks switched off."""
    saved = qa.folders.checksum_problem, qa.integrity.integrity_problem
    qa.folders.checksum_problem = qa.integrity.integrity_problem = lambda *args: None  # no mock.patch: it costs 0.1 ms
    try:
        return Index.load(folder)
    finally:
        qa.folders.checksum_problem, qa.integrity.integrity_problem = saved


def read_format_2(index_dir: Path) -> Index:
    """A format-2 index folder (one ``sentences.npz``, no checksums or frequencies) as an `Index`."""
    data = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest = Manifest(**(data | {"format_version": qa.index.FORMAT_VERSION}))
    documents = qa.index._read_documents(index_dir / "documents.jsonl")
    chunks = [Chunk(**row) for row in qa.index._read_jsonl(index_dir / "chunks.jsonl")]
    with np.load(index_dir / "sentences.npz") as table:
        sentences = Sentences(table["spans"], table["offsets"], table["vectors"])
    lexical = bm25s.BM25.load(str(index_dir / "bm25"))
    tokens = qa.index.tokenize([qa.index.lexical_text(documents[c.doc_id], c) for c in chunks])
    dense = faiss.read_index(str(index_dir / "dense.faiss"))
    return Index(manifest, documents, chunks, dense, lexical, sentences, qa.index.document_frequencies(tokens))


def committed_index(out: Path) -> Path:
    """The committed index folder, converted into ``out`` when it is in an older format."""
    index_dir = ROOT / "embeddings"
    version = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8")).get("format_version")
    if version == qa.index.FORMAT_VERSION:
        return index_dir
    read_format_2(index_dir).save(out)
    return out


def scaled(index: Index, copies: int) -> Index:
    """``index`` with its documents copied ``copies`` times under other ids (vectors copied, BM25 rebuilt)."""
    documents, chunks = {}, []
    for k in range(copies):
        for doc_id, doc in index.documents.items():
            documents[f"copy{k:03d}/{doc_id}"] = replace(doc, doc_id=f"copy{k:03d}/{doc_id}")
        chunks += [replace(c, doc_id=f"copy{k:03d}/{c.doc_id}") for c in index.chunks]
    s = index.sentences
    offsets = np.concatenate([[0], *(s.offsets[1:] + k * len(s.spans) for k in range(copies))])
    sentences = Sentences(np.tile(s.spans, (copies, 1)), offsets, np.tile(s.vectors, (copies, 1)))
    dense, kind = qa.index._dense_index(np.tile(index.dense.reconstruct_n(0, index.dense.ntotal), (copies, 1)))
    lexical, frequencies = qa.index._lexical_index(documents, chunks)
    files = {d: hashlib.sha256(doc.text.encode("utf-8")).hexdigest() for d, doc in documents.items()}
    manifest = replace(index.manifest, files=files, n_chunks=len(chunks), faiss=kind, checksums={})
    return Index(manifest, documents, chunks, dense, lexical, sentences, frequencies)


def load_costs(folder: Path, runs: int) -> dict[str, float]:
    """Seconds: a full load, one without verification, and each verification step alone."""
    index = Index.load(folder)
    return fastest(
        {
            "load": lambda: Index.load(folder),
            "load, unverified": lambda: unverified_load(folder),
            "checksums": lambda: qa.folders.checksum_problem(folder, index.manifest.checksums, qa.index.LAYOUT),
            "structure and text hashes": lambda: qa.integrity.integrity_problem(index),
        },
        runs,
    )


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def full_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def vector_file_costs(folder: Path, mib: int, runs: int) -> dict[str, float]:
    """Seconds to hash a ``mib`` MiB vector file by sample and in full, and to read it."""
    path = folder / "sentence_vectors.npy"
    np.save(path, np.random.default_rng(0).standard_normal((mib * 1024 * 1024 // 768, 384)).astype(np.float16))
    size = path.stat().st_size
    return fastest(
        {
            "sampled sha256": lambda: qa.folders.sample_sha256(path, size),
            "full sha256": lambda: full_sha256(path),
            "np.load": lambda: np.load(path),
        },
        max(3, runs // 4),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--copies", type=int, default=50, help="copies of the committed documents in the scaled index")
    p.add_argument("--large-mib", type=int, default=512, help="size of the synthetic vector file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="index-verify-") as tmp:
        tmp = Path(tmp)
        committed = committed_index(tmp / "committed")
        big = scaled(Index.load(committed), args.copies)
        big.save(tmp / "scaled")
        print("| index | chunks | MiB | load ms | unverified ms | checksums ms | structure + text ms | overhead |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, folder in (("committed", committed), (f"scaled x{args.copies}", tmp / "scaled")):
            c = load_costs(folder, args.runs)
            n = json.loads((folder / "manifest.json").read_text())["n_chunks"]
            print(
                f"| {name} | {n} | {folder_size(folder) / 2**20:.1f} | {c['load'] * 1e3:.1f} | "
                f"{c['load, unverified'] * 1e3:.1f} | {c['checksums'] * 1e3:.2f} | "
                f"{c['structure and text hashes'] * 1e3:.2f} | {c['load'] / c['load, unverified'] - 1:+.0%} |"
            )
        print()
        v = vector_file_costs(tmp, args.large_mib, args.runs)
        print(f"| {args.large_mib} MiB vector file | ms |")
        print("| --- | ---: |")
        for name, seconds in v.items():
            print(f"| {name} | {seconds * 1e3:.2f} |")


if __name__ == "__main__":
    main()
