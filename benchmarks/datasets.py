"""The shared evaluation sets as corpus folders and cached indexes, for benchmarks and training.

Each corpus is written once as ``.benchcache/corpora/<name>/`` (one .txt per
document, titles in metadata.json) and indexed once per model, chunking and
index format into ``.benchcache/index/<name>-<key>/`` through the product's
own `qa.build`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import qa
from qa.index import FORMAT_VERSION

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


def _jsonl(path: Path) -> Iterable[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def write_corpus(name: str, docs: Iterable[tuple[str, str, str]], cache: Path = CACHE) -> Path:
    """Write ``(doc_id, title, text)`` documents as a corpus folder, once."""
    folder = cache / "corpora" / name
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    titles = {}
    for doc_id, title, text in docs:
        (folder / doc_id).write_text(text, encoding="utf-8")
        titles[doc_id] = {"title": title}
    (folder / "metadata.json").write_text(json.dumps(titles, ensure_ascii=False))
    done.write_text("")
    return folder


def squad_corpus(cache: Path = CACHE) -> Path:
    """The 2,067 SQuAD dev paragraphs, the text alone (answer offsets stay valid)."""
    rows = _jsonl(EVAL / "squad" / "contexts.jsonl")
    return write_corpus("squad", ((f"{r['id']}.txt", r["title"].replace("_", " "), r["text"]) for r in rows), cache)


def squad_questions() -> list[SquadQuestion]:
    return [
        SquadQuestion(r["id"], r["question"], f"{r['context_id']}.txt", r["answers"], r["answer_starts"])
        for r in _jsonl(EVAL / "squad" / "questions_dev.jsonl")
    ]


def scifact_corpus(cache: Path = CACHE) -> Path:
    """The 5,183 SciFact abstracts, title line then text."""
    rows = _jsonl(EVAL / "scifact" / "corpus.jsonl.gz")
    docs = ((f"{r['_id']}.txt", r["title"], f"{r['title']}\n\n{r['text']}") for r in rows)
    return write_corpus("scifact", docs, cache)


def index_key() -> str:
    """What an index depends on besides its corpus: model, chunking, format."""
    blob = json.dumps([qa.DEFAULT_MODEL, qa.ChunkingSettings().to_dict(), FORMAT_VERSION], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def cached_engine(name: str, corpus: Path, cache: Path = CACHE) -> qa.Engine:
    """The engine of ``corpus``, built once per `index_key`."""
    index_dir = cache / "index" / f"{name}-{index_key()}"
    try:
        return qa.load(index_dir, strict=True)
    except (qa.IndexFormatError, qa.StaleIndexError):
        print(f"building the {name} index (cached in {index_dir}) ...", flush=True)
        return qa.build(corpus, index_dir, show_progress=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
