"""Fit the map from pooled sentence vectors to standalone ones, shipped as ``qa/sentence_map.npz``.

    python benchmarks/fit_sentence_map.py      # about 6 minutes on 2 cores (vectors cached after)

The default runtime (``onnx-int8-pooled``) takes a sentence's vector from
the chunk's own forward pass: the mean of its word pieces' outputs, read in
the context of the whole chunk.  That vector leans towards the chunk's
(cosine with the sentence embedded alone: about 0.81).  A linear map of the
pooled vector and the chunk's vector (ridge regression) brings it back
towards the standalone one, the vector the second stage was designed on.

Fitted on SQuAD v1.1 *train* paragraphs (3,000, fixed sample; training data,
never evaluated on), cut and pooled exactly as an index build does, against
the same sentences embedded alone by ``onnx-fp32`` (torch's vectors).
Reported: mean cosine with the standalone vectors on held-out paragraphs
(20%) and on the default corpus (news pages, another domain), before and
after the map.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa  # noqa: E402
from benchmarks.datasets import CACHE, EVAL, ROOT, cached_arrays  # noqa: E402
from qa.chunking import chunk_sentences  # noqa: E402
from qa.documents import read_corpus  # noqa: E402
from qa.index import Sentences, embedding_text_and_spans  # noqa: E402
from qa.models import installed_version  # noqa: E402
from qa.onnx_embedder import OnnxEmbedder  # noqa: E402
from qa.sentence_map import SENTENCE_MAP_FILE, SentenceMap  # noqa: E402

PARAGRAPHS = 3000


def pairs(folder: Path):
    """The documents of ``folder`` and their chunks with sentences, as an index build cuts them."""
    documents = {d.doc_id: d for d in read_corpus(folder).documents}
    return documents, [p for d in documents.values() for p in chunk_sentences(d)]


def vectors(folder: Path, pooled: OnnxEmbedder, alone: OnnxEmbedder) -> dict[str, np.ndarray]:
    """Each sentence's pooled vector, its chunk's vector, and its standalone vector."""
    documents, chunked = pairs(folder)
    texts, spans = zip(*(embedding_text_and_spans(documents[c.doc_id], c, s) for c, s in chunked), strict=True)
    chunk_vectors, parts = pooled.encode_pooled(list(texts), list(spans), mapped=False)
    prepared = Sentences.prepare(documents, dict(chunked))
    standalone = alone.encode([t for c, _ in chunked for t in prepared[c][1]])
    chunk_of = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return {"pooled": np.concatenate(parts), "chunk": chunk_vectors[chunk_of], "alone": standalone, "of": chunk_of}


def cached_vectors(name: str, make_folder, pooled: OnnxEmbedder, alone: OnnxEmbedder) -> dict[str, np.ndarray]:
    def compute() -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory() as work:
            return vectors(make_folder(Path(work)), pooled, alone)

    return cached_arrays(CACHE / f"sentence-map-{name}-{pooled.runtime}.npz", compute)


def squad_train_folder(work: Path) -> Path:
    with gzip.open(EVAL / "squad" / "train_contexts.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for i in np.random.default_rng(0).permutation(len(rows))[:PARAGRAPHS]:
        (work / f"{rows[i]['id']}.txt").write_text(f"{rows[i]['title']}\n\n{rows[i]['text']}\n", encoding="utf-8")
    return work


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return float(np.mean(np.sum(a * b, axis=1)))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--l2", type=float, default=0.1, help="ridge penalty")
    ap.add_argument("--out", default=str(SENTENCE_MAP_FILE))
    args = ap.parse_args(argv)
    version = installed_version(qa.DEFAULT_MODEL)
    pooled = OnnxEmbedder(qa.DEFAULT_MODEL, version, int8=True, pool_sentences=True)
    alone = OnnxEmbedder(qa.DEFAULT_MODEL, version, int8=False)
    train = cached_vectors("squad-train", squad_train_folder, pooled, alone)
    news = cached_vectors("default", lambda _: ROOT / "data", pooled, alone)
    held = train["of"] % 5 == 0  # every fifth chunk's sentences held out (chunks of one paragraph stay together)
    fit = SentenceMap.fit(train["pooled"][~held], train["chunk"][~held], train["alone"][~held], args.l2)
    print("| sentences | count | pooled | pooled, mapped |\n| --- | ---: | ---: | ---: |")
    for label, data, rows in (("SQuAD train, held out", train, held), ("default corpus (news)", news, None)):
        rows = np.ones(len(data["alone"]), dtype=bool) if rows is None else rows
        p, c, a = data["pooled"][rows], data["chunk"][rows], data["alone"][rows]
        print(f"| {label} | {len(a)} | {mean_cosine(p, a):.3f} | {mean_cosine(fit.apply(p, c), a):.3f} |")
    final = SentenceMap.fit(train["pooled"], train["chunk"], train["alone"], args.l2)
    final.save(Path(args.out), model=qa.DEFAULT_MODEL)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
