"""The ``qa`` command: index a corpus, ask questions, evaluate, serve the chat."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from qa.answer import Answer
from qa.documents import CorpusError
from qa.folders import FolderLockedError as IndexLockedError
from qa.models import RUNTIMES, ModelError
from qa.stores import IndexFormatError, StaleIndexError
from qa.stores.milvus import StoreUnavailableError


def _engine(args: argparse.Namespace, reader: bool = True, progress=None):
    """The engine of the index folder or Milvus store the arguments name, brought up to date first if its corpus
    changed (the steps drawn on stderr)."""
    from qa.progress import Bars
    from qa.store import load

    store = _milvus(args)
    engine = load(args.index if store is None else None, store=store, progress=progress or Bars())
    return engine if reader else engine.reading(None)


def _milvus(args: argparse.Namespace):
    """The Milvus store ``--milvus`` (or ``$QA_MILVUS_URI``) names, or None for an index folder."""
    uri = getattr(args, "milvus", None) or os.environ.get("QA_MILVUS_URI")
    if not uri:
        return None
    from qa.stores.milvus import MilvusStore

    return MilvusStore(uri, args.collection or os.environ.get("QA_MILVUS_COLLECTION") or "qa")


def _reader_line() -> str:
    """Which reader answers will use (its weights' fingerprint), or that none is shipped."""
    from qa.reader import READER_RECORD, reader_shipped

    if not reader_shipped():
        return "reader: none shipped (answers carry no exact spans)"
    record = json.loads(READER_RECORD.read_text())
    return f"reader: {record.get('weights_sha256', '?')[:12]} ({READER_RECORD.name}, {record.get('steps', '?')} steps)"


def cmd_index(args: argparse.Namespace) -> int:
    from qa.models import DEFAULT_MODEL, load_embedder
    from qa.progress import Bars, silent
    from qa.store import build, default_index_dir

    milvus = _milvus(args)
    out = None if milvus is not None else Path(args.out) if args.out else default_index_dir()
    started = time.perf_counter()
    embedder = load_embedder(DEFAULT_MODEL, args.runtime) if args.runtime else None
    progress = silent if args.quiet else Bars()
    notes = logging.getLogger("qa.index")  # its notes of skipped files: listed below, once
    level = notes.level
    notes.setLevel(logging.ERROR)
    try:
        engine = build(args.corpus, out, store=milvus, embedder=embedder, progress=progress, strict=args.strict)
    finally:
        notes.setLevel(level)
    store = engine.store
    where = out if milvus is None else f"Milvus {milvus.uri} ({milvus.collection})"
    print(
        f"indexed {len(engine.documents)} documents as {len(store)} chunks with {store.info.model} "
        f"into {where} in {time.perf_counter() - started:.1f}s"
    )
    print(_reader_line())
    if store.skipped:
        print(f"skipped {len(store.skipped)} file(s):")
        for doc_id, why in sorted(store.skipped.items()):
            print(f"  {doc_id}: {why}")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    from qa.progress import Bars, silent
    from qa.store import copy, default_index_dir

    milvus = _milvus(args)
    if milvus is None:
        raise ValueError("qa copy copies an index folder into a Milvus store: name it with --milvus URI")
    source = Path(args.index) if args.index else default_index_dir()
    started = time.perf_counter()
    engine = copy(source, milvus, progress=silent if args.quiet else Bars())
    print(
        f"copied {len(engine.documents)} documents as {len(engine.store)} chunks from {source} into Milvus "
        f"{milvus.uri} ({milvus.collection}) in {time.perf_counter() - started:.1f}s; nothing was embedded again"
    )
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from qa.progress import Bars, silent

    progress = silent if args.quiet else Bars()
    engine = _engine(args, progress=progress)
    doc_ids = engine.add(args.files, progress=progress)
    print(f"added {len(doc_ids)} document(s): {', '.join(doc_ids)}; the index holds {len(engine.documents)}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from qa.progress import Bars, silent

    progress = silent if args.quiet else Bars()
    engine = _engine(args, progress=progress)
    skipped = {d: why for d, why in engine.store.skipped.items() if d in args.doc_ids}  # never indexed
    engine.remove(args.doc_ids, progress=progress)
    if indexed := [d for d in args.doc_ids if d not in skipped]:
        print(f"removed {len(indexed)} document(s): {', '.join(indexed)}; the index holds {len(engine.documents)}")
    if skipped:
        listed = ", ".join(f"{d} ({why})" for d, why in skipped.items())
        print(f"deleted {len(skipped)} file(s) that were skipped, never indexed: {listed}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    answer = _engine(args, not args.no_reader).ask(args.question, k=args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(answer.to_text(bold=sys.stdout.isatty()))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Questions read one a line, each answered in the light of the ones before (as in the browser chat), until
    an empty line, "quit" or the end of input."""
    engine = _engine(args, not args.no_reader)
    history: list[Answer] = []
    interactive = sys.stdin.isatty()
    print("Ask the corpus; follow-ups read the questions before them. An empty line ends.", file=sys.stderr)
    while True:
        try:
            question = input("? " if interactive else "").strip()
        except EOFError:
            break
        if not question or question.lower() in ("quit", "exit"):
            break
        try:
            answer = engine.ask(question, k=args.k, history=history)
        except (TypeError, ValueError) as exc:  # a question too long, say: the session goes on
            print(f"qa: {exc}", file=sys.stderr)
            continue
        if answer.context:
            print(f"(read as: {answer.context})")
        print(answer.to_text(bold=sys.stdout.isatty()) + "\n", flush=True)
        history.append(answer)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation import evaluate

    report = evaluate(_engine(args, not args.no_reader), args.gold, k=args.k)
    missed = report.missed()
    print(f"missed ({len(missed)}): {' '.join(missed) if missed else '-'}")
    wrong = [q for q, t in report.types.items() if t in ("off-topic", "unanswerable") and report.answered[q]]
    print(f"answered but should abstain ({len(wrong)}): {' '.join(wrong) if wrong else '-'}")
    print()
    print("| metric | value |")
    print("| --- | --- |")
    for name, value in report.metrics().items():
        print(f"| {name} | {value:.3f} |" if isinstance(value, float) else f"| {name} | {value} |")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.index:
        os.environ["QA_INDEX_DIR"] = args.index
    if args.milvus:
        os.environ["QA_MILVUS_URI"] = args.milvus
    if args.collection:
        os.environ["QA_MILVUS_COLLECTION"] = args.collection
    from qa.ui import main as serve

    serve(["--processes", str(args.processes)])  # the chat's own options, not this command line's
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qa", description="Extractive QA over a document corpus: verbatim, cited passages."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and warnings")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("index", help="build the index of a corpus folder")
    s.add_argument("corpus", nargs="?", default="data", help="corpus folder (default: data)")
    s.add_argument("--out", help="index folder (default: embeddings/)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.add_argument("--strict", action="store_true", help="fail on the first unreadable file instead of skipping it")
    s.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="embedding path (default onnx-int8-pooled, about twice as fast as onnx-fp32, which gives torch's vectors)",
    )
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("add", help="add files to the corpus folder and its index (only they are embedded)")
    s.add_argument("files", nargs="+", help="files to add; one outside the corpus folder is copied into it")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_add)

    s = sub.add_parser("remove", help="remove documents from the index and delete their files from the corpus")
    s.add_argument("doc_ids", nargs="+", metavar="DOC_ID", help="a document's path relative to the corpus folder")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_remove)

    s = sub.add_parser("copy", help="copy an index folder into a Milvus store (--milvus): nothing embedded again")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    s.set_defaults(func=cmd_copy)

    s = sub.add_parser("ask", help="answer a question with cited passages")
    s.add_argument("question")
    s.add_argument("--k", type=int, default=5, help="passages to show (default 5)")
    s.add_argument("--json", action="store_true", help="print the Answer as JSON")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--no-reader", action="store_true", help="without the reader: no exact answers, about 3x faster")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", help="a conversation in the terminal: the engine loaded once, follow-ups understood")
    s.add_argument("--k", type=int, default=5, help="passages to show (default 5)")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--no-reader", action="store_true", help="without the reader")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("eval", help="score the engine on a gold question file (seed_dev.jsonl format)")
    s.add_argument("gold")
    s.add_argument("--k", type=int, default=5)
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument("--no-reader", action="store_true", help="without the reader")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("serve", help="start the Gradio chat")
    s.add_argument("--index", help="index folder (default: embeddings/)")
    s.add_argument(
        "--processes", type=int, default=os.environ.get("QA_PROCESSES", "1"), help="answering processes (default 1)"
    )
    s.set_defaults(func=cmd_serve)
    for command in sub.choices.values():
        command.add_argument(
            "--milvus", metavar="URI", help="a Milvus store instead of an index folder: a Milvus Lite file (./qa.db) "
            "or a server (http://host:19530); default $QA_MILVUS_URI",
        )
        command.add_argument("--collection", help="the Milvus store's collection name (default qa)")
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="qa: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a broken PDF is one line: the file skipped, and why
    try:
        return args.func(args)
    except (
        CorpusError,
        IndexFormatError,
        IndexLockedError,
        StaleIndexError,
        ModelError,
        StoreUnavailableError,
        ImportError,
        TypeError,
        ValueError,
        KeyError,
    ) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # str(KeyError) adds quotes
        print(f"qa: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing or unreadable file named on the command line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"qa: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
