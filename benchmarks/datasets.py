"""The shared evaluation sets as corpus folders and cached indexes, for benchmarks and training.

Each corpus is written as ``.benchcache/corpora/<name>/`` (one .txt per
document, titles in metadata.json) and indexed once per model, chunking and
index format into ``.benchcache/index/<name>-<key>/`` through the product's
own `qa.build`; `benchmarks/quality.py` and the training scripts share them.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

import qa
from qa.documents import file_sha256
from qa.models import DEFAULT_RUNTIME
from qa.progress import Bars
from qa.sentence_map import SENTENCE_MAP_FILE
from qa.stores.local import FORMAT as FORMAT_VERSION

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
SEED = EVAL / "seed_dev.jsonl"
CACHE = ROOT / ".benchcache"


@dataclass
class SquadQuestion:
    id: str
    question: str
    doc_id: str  # <context id>.txt
    answers: list[str]
    starts: list[int]

    @property
    def article(self) -> str:
        return self.doc_id.split("-", 1)[0]


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a sibling temporary file, then rename it over ``path``: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_arrays(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved at ``path`` (.npz), else ``compute()``'s, saved there atomically first."""
    if path.exists():
        return dict(np.load(path))
    data = compute()
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    write_atomic(path, buffer.getvalue())
    return data


def emit(text: str, out: str | None) -> None:
    """A benchmark's tables printed, and written to ``out`` too when one is given."""
    print(text, flush=True)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")


def write_corpus(folder: Path, docs: dict[str, str], titles: dict[str, str]) -> Path:
    """One .txt per document plus metadata.json, rewriting only what changed and removing stray .txt files."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({d: {"title": t} for d, t in titles.items()}, ensure_ascii=False)
    files = {d: t.encode() for d, t in docs.items()} | {"metadata.json": meta.encode()}
    for name, data in files.items():
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    for path in folder.glob("*.txt"):
        if path.name not in files:
            path.unlink()
    return folder


def squad_docs(contexts: list[dict] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """SQuAD dev paragraphs (all 2,067 by default) as ``({doc id: text}, {doc id: title})``."""
    rows = contexts if contexts is not None else read_jsonl(EVAL / "squad" / "contexts.jsonl")
    return {f"{r['id']}.txt": r["text"] for r in rows}, {f"{r['id']}.txt": r["title"].replace("_", " ") for r in rows}


def squad_corpus(cache: Path = CACHE, contexts: list[dict] | None = None, name: str = "squad") -> Path:
    """SQuAD dev paragraphs (all 2,067 by default), the text alone: answer offsets stay valid."""
    return write_corpus(cache / "corpora" / name, *squad_docs(contexts))


def squad_train(half: Literal["fit", "unseen"]) -> tuple[list[dict], list[dict]]:
    """SQuAD *train* paragraphs and questions of half its articles: the even ones may be fitted on (off-topic
    questions for the calibrators), the odd ones never are (`benchmarks/unseen.py`'s corpora)."""
    keep = 0 if half == "fit" else 1
    contexts = [r for r in read_jsonl(EVAL / "squad" / "train_contexts.jsonl.gz") if train_article(r["id"]) % 2 == keep]
    questions = read_jsonl(EVAL / "squad" / "train_questions.jsonl.gz")
    return contexts, [q for q in questions if train_article(q["context_id"]) % 2 == keep]


def dev_article(context_id: str) -> int:
    """The article number of a SQuAD dev paragraph id (``<article>-<paragraph>``)."""
    return int(context_id.split("-", 1)[0])


def train_article(context_id: str) -> int:
    """The article number of a SQuAD train paragraph id (``t<article>-<paragraph>``)."""
    return int(context_id[1:].split("-", 1)[0])


def wikipedia_docs(megabytes: float = 1.0) -> tuple[dict[str, str], dict[str, str]]:
    """Whole articles of the Wikipedia passages, in file order, until their text holds ``megabytes`` MB (10^6
    bytes), as ``({doc id: text}, {doc id: title})``: one .txt per article, its passages as paragraphs.

    1 MB is 687 articles; ``float("inf")`` all 35,843 (112k passages).
    """
    articles: dict[str, list[dict]] = {}
    size, limit = 0, megabytes * 1_000_000
    with gzip.open(EVAL / "wikipedia" / "passages_120w.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["doc_id"] not in articles and size >= limit:
                break
            passages = articles.setdefault(row["doc_id"], [])
            size += len(row["text"].encode()) + (2 if passages else 0)
            passages.append(row)
    docs = {f"{d}.txt": "\n\n".join(p["text"] for p in ps) for d, ps in articles.items()}
    return docs, {f"{d}.txt": ps[0]["title"] for d, ps in articles.items()}


def wikipedia_corpus(megabytes: float = 1.0, cache: Path = CACHE) -> Path:
    """`wikipedia_docs` written as a corpus folder, titles in metadata.json."""
    return write_corpus(cache / "corpora" / f"wikipedia-{megabytes:g}mb", *wikipedia_docs(megabytes))


def squad_questions() -> list[SquadQuestion]:
    return [
        SquadQuestion(r["id"], r["question"], f"{r['context_id']}.txt", r["answers"], r["answer_starts"])
        for r in read_jsonl(EVAL / "squad" / "questions_dev.jsonl")
    ]


def scifact_corpus(cache: Path = CACHE, rows: list[dict] | None = None, name: str = "scifact") -> Path:
    """SciFact abstracts (all 5,183 by default), title line then text."""
    rows = rows if rows is not None else read_jsonl(EVAL / "scifact" / "corpus.jsonl.gz")
    docs = {f"{r['_id']}.txt": f"{r['title']}\n\n{r['text']}" for r in rows}
    return write_corpus(cache / "corpora" / name, docs, {f"{r['_id']}.txt": r["title"] for r in rows})


def index_key() -> str:
    """What an index depends on besides its corpus: model, chunking, format, embedding runtime (and its map)."""
    sentence_map = file_sha256(SENTENCE_MAP_FILE) if "pooled" in DEFAULT_RUNTIME else None
    blob = json.dumps(
        [qa.DEFAULT_MODEL, qa.ChunkingSettings().to_dict(), FORMAT_VERSION, DEFAULT_RUNTIME, sentence_map],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def index_folder(name: str, cache: Path = CACHE) -> Path:
    """Where `cached_engine` keeps the index of the corpus called ``name``."""
    return cache / "index" / f"{name}-{index_key()}"


def cached_engine(name: str, corpus: Path, cache: Path = CACHE, rebuild: bool = False) -> qa.Engine:
    """The engine of ``corpus``, indexed once into ``cache/index/<name>-<key>`` and reused while current (memoised)."""
    index_dir = index_folder(name, cache)
    if not rebuild:
        try:
            return memoised(qa.load(index_dir, strict=True))
        except (qa.IndexFormatError, qa.StaleIndexError) as exc:
            print(f"indexing {name}: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
    return memoised(qa.build(corpus, index_dir, progress=Bars(file=sys.stderr)))


class QueryMemo:
    """An index's embedder that encodes each single question once (stages share the vector)."""

    def __init__(self, inner):
        self.inner, self.name, self.version, self.dim = inner, inner.name, inner.version, inner.dim
        self.runtime = inner.runtime
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], *, progress=None) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.encode(texts, progress=progress)
        if texts[0] not in self.vectors:
            self.vectors[texts[0]] = self.inner.encode(texts)
        return self.vectors[texts[0]]

    def word_vectors(self, words: list[str]) -> np.ndarray:
        return self.inner.word_vectors(words)


def memoised(engine: qa.Engine) -> qa.Engine:
    """An engine like ``engine`` (default ranker, calibrator and reader) that embeds each text once."""
    return qa.Engine(engine.store, engine.settings, engine.ranker, embedder=QueryMemo(engine.embedder))


def training_record(command: str) -> dict:
    """How a shipped model was fitted: the command, the day, and hashes of the data it saw."""
    return {
        "command": command,
        "date": datetime.date.today().isoformat(),
        "data": {
            "squad/questions_dev.jsonl": file_sha256(EVAL / "squad" / "questions_dev.jsonl"),
            "seed_dev.jsonl": file_sha256(SEED),
        },
    }
