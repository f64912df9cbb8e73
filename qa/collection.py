"""Change a corpus folder and its store together, as one transaction: add files, remove documents.

Each change holds the store's writer lock from its first step to its
commit, so two writers (threads or processes) take turns; the one that
waited starts from the store as committed, not from the one it had opened.
Only the files added are read and embedded, into one small new segment; a
removal is a deletion mark.  Neither rewrites the rest of the index.

The corpus folder and the store change together or not at all: before it
touches the folder, a change writes a journal (``pending.json`` in the
store folder) naming the files it will copy in or delete and the commit it
starts from.  `recover` (run by the next writer, and by `qa.load`) reads a
journal left by a killed change: if the store was not committed, the copies
are deleted again (rolled back); if it was, the deletions are finished
(rolled forward).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import secrets
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qa import folders
from qa.chunking import ChunkingSettings
from qa.documents import CorpusError, doc_id_of, file_sha256, load_document, read_metadata, unsupported_format
from qa.index import segment_contents
from qa.models import Embedder
from qa.progress import Callback, Progress, silent
from qa.scan import stat_of
from qa.stores import WritableStore
from qa.stores.local import LocalStore, Manifest, write_atomically

MAX_NAME = 120  # characters of a copied file's name, before any "-2"
JOURNAL = "pending.json"
LOCK_TIMEOUT = 30.0  # seconds a change waits while another process writes the same store


def add_files(
    store: WritableStore,
    paths: Sequence[str | Path],
    *,
    embedder: Embedder,
    progress: Callback = silent,
    lock_timeout: float = LOCK_TIMEOUT,
) -> tuple[WritableStore, list[str]]:
    """Put ``paths`` into the store's corpus folder and index them; the new store and their doc ids.

    A file the store already indexes as it is (same size, modification time
    and sha256) is neither copied nor embedded again.  A store in a folder keeps a journal (see the module's
    docstring); one in another process (Milvus), with no folder to keep it in, gets the files copied first and
    indexed in one commit after: killed between the two, the next scan of the corpus finds and indexes them.

    `CorpusError` (naming the file and why) before anything changes, for a
    file that is missing, a folder, of an unsupported format or unreadable.
    """
    sources = [Path(p) for p in paths]
    if not sources:
        raise ValueError("no files to add")
    if not isinstance(store, LocalStore):
        corpus_dir = _local_corpus(store)
        for path in sources:
            _check_addable(path)
        new, doc_ids = _copied_and_indexed(store, _placements(sources, corpus_dir), corpus_dir, embedder, progress)
        return new.merged(), doc_ids
    with _editing(store, lock_timeout) as current:
        corpus_dir = current.corpus_path()
        for path in sources:
            _check_addable(path)
        placements = _placements(sources, corpus_dir)
        copies = [target for source, target in placements if source != target]
        _begin(current, copies=copies)
        try:
            new, doc_ids = _copied_and_indexed(current, placements, corpus_dir, embedder, progress)
        except BaseException:
            for copy in copies:
                copy.unlink(missing_ok=True)
            _end(current)
            raise
        _end(current)
        return new.merged(), doc_ids


def remove_documents(
    store: WritableStore, doc_ids: Iterable[str], *, lock_timeout: float = LOCK_TIMEOUT
) -> WritableStore:
    """Take documents out of the store and delete their files from its corpus folder; the new store.

    A store in a folder keeps a journal; one in another process gets the files deleted first and the documents
    removed in one commit after: killed between the two, the next scan finds them gone and removes them.
    `KeyError` for a doc id the store does not know (indexed or skipped);
    `CorpusError` when nothing would be left to answer from.
    """
    doc_ids = list(dict.fromkeys(doc_ids))
    if not doc_ids:
        raise ValueError("no documents to remove")
    if not isinstance(store, LocalStore):
        for path in _removable(store, doc_ids, _local_corpus(store), "this index"):
            path.unlink(missing_ok=True)
        return store.write(remove=doc_ids).merged()
    with _editing(store, lock_timeout) as current:
        files = _removable(current, doc_ids, current.corpus_path(), f"the index {current.folder}")
        _begin(current, deletes=files)
        new = current.write(remove=doc_ids)
        for path in files:
            path.unlink(missing_ok=True)
        _end(current)
        return new.merged()


def _removable(store: WritableStore, doc_ids: list[str], corpus_dir: Path, index: str) -> list[Path]:
    """The files of ``doc_ids`` in the corpus folder, once each is known to ``index`` (named in the error) and
    something is left to answer from."""
    for doc_id in doc_ids:
        if store.recorded(doc_id) is None:
            raise KeyError(f"no document {doc_id!r} in {index}")
    files = [_inside(corpus_dir / doc_id, corpus_dir) for doc_id in doc_ids]
    if store.document_count <= sum(store.has_document(d) for d in doc_ids):  # counted, never listed
        raise CorpusError(f"{corpus_dir}: removing {', '.join(doc_ids)} would leave no usable documents")
    return files


def _local_corpus(store: WritableStore) -> Path:
    corpus_dir = store.corpus_path()
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: the corpus folder of this index is not on this machine; change it there")
    return corpus_dir


def _copied_and_indexed(
    store: WritableStore,
    placements: list[tuple[Path, Path]],
    corpus_dir: Path,
    embedder: Embedder,
    progress: Callback,
) -> tuple[WritableStore, list[str]]:
    """The files placed in the corpus folder (copied where they are not there yet), then those not indexed as
    they are read, embedded and committed in one write; the new store and the doc ids of every file."""
    for source, target in placements:
        if source != target:
            _copy_new(source, target)
    doc_ids = list(dict.fromkeys(doc_id_of(target, corpus_dir) for _, target in placements))
    stats = {d: stat_of(corpus_dir / d) for d in doc_ids}
    todo = [d for d in doc_ids if not (store.has_document(d) and store.recorded(d) == stats[d])]
    metadata = read_metadata(corpus_dir)
    documents = []
    progress(Progress("reading", 0, len(todo)))
    for done, doc_id in enumerate(todo, 1):
        documents.append(load_document(corpus_dir / doc_id, corpus_dir, metadata.get(doc_id)))
        progress(Progress("reading", done, len(todo)))
    contents = segment_contents(
        documents, [stats[d] for d in todo], embedder=embedder, settings=_chunking(store), progress=progress
    )
    progress(Progress("saving", 0, 1))
    new = store.write(add=contents) if todo else store  # a file indexed as it is: nothing to do
    progress(Progress("saving", 1, 1))
    return new, doc_ids


def _chunking(store: WritableStore) -> ChunkingSettings:
    return ChunkingSettings(**store.info.chunking)


@contextmanager
def _editing(store: LocalStore, lock_timeout: float) -> Iterator[LocalStore]:
    """Under the writer lock: the store as committed now (another writer may have changed it), journal recovered."""
    if store.folder is None:
        raise TypeError("an in-memory store is never saved")
    with folders.writer_lock(store.folder, lock_timeout, "index"):
        unchanged = Manifest.read(store.folder) == store.manifest and not (store.folder / JOURNAL).exists()
        current = store if unchanged else LocalStore.open(store.folder)  # opening an archive again costs a second
        recover(current)
        current.tidy()
        yield current


def _begin(store: LocalStore, *, copies: Sequence[Path] = (), deletes: Sequence[Path] = ()) -> None:
    entry = {
        "generation": store.manifest.generation,
        "copies": [str(p) for p in copies],
        "deletes": [str(p) for p in deletes],
    }
    write_atomically(store.folder / JOURNAL, json.dumps(entry).encode("utf-8"))


def _end(store: LocalStore) -> None:
    (store.folder / JOURNAL).unlink(missing_ok=True)
    folders.flush(store.folder)


def recover(store: LocalStore) -> bool:
    """Finish or undo what a killed change left in the corpus folder (its journal says which); whether there
    was anything.  Call it holding the writer lock, with ``store`` as committed."""
    path = store.folder / JOURNAL
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        entry = {}
    committed = store.manifest.generation > entry.get("generation", store.manifest.generation)
    for name in entry.get("deletes", []) if committed else entry.get("copies", []):
        Path(name).unlink(missing_ok=True)
    _end(store)
    return True


def _placements(sources: Sequence[Path], corpus_dir: Path) -> list[tuple[Path, Path]]:
    """Where each file goes in the corpus: where it stands if inside the folder or if the same file is already
    there; else a new name (``name``, ``name-2``…) that neither the folder nor an earlier file of this call takes."""
    root = corpus_dir.resolve()
    out, taken = [], set()
    for path in sources:
        resolved = path.resolve()
        if resolved.is_relative_to(root):
            out.append((resolved, resolved))
            continue
        digest = file_sha256(path)
        for target in _candidates(corpus_dir, safe_name(path.name)):
            if target in taken:
                continue
            if target.exists():
                if target.is_file() and file_sha256(target) == digest:
                    out.append((target, target))  # the same file is there already
                    break
                continue
            out.append((path, target))
            taken.add(target)
            break
    return out


def _check_addable(path: Path) -> None:
    """`CorpusError` naming ``path`` unless it is a file of a supported format that reads as a usable document."""
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if not path.is_file():
        raise CorpusError(f"{path}: not a file (add the files of a folder one by one, or `qa index` the folder)")
    if reason := unsupported_format(path):
        raise CorpusError(f"{path}: {reason}")
    load_document(path, path.parent)  # `UnusableFile` says why it cannot be used


def safe_name(name: str) -> str:
    """A file name from outside made safe to create in the corpus folder: no path, no hidden name, no odd characters."""
    name = Path(name.replace("\\", "/")).name  # never a path: "../../etc/passwd.txt" is "passwd.txt"
    suffix = Path(name).suffix.lower()
    stem = re.sub(r"[^\w.-]+", "_", name[: len(name) - len(suffix)]).strip("._-")[:MAX_NAME] or "document"
    return stem + suffix


def _candidates(corpus_dir: Path, name: str) -> Iterator[Path]:
    """``name``, then ``name-2``, ``name-3``… in the corpus folder."""
    return (corpus_dir / n for n in _names(name))


def _names(name: str) -> Iterator[str]:
    stem, suffix = Path(name).stem, Path(name).suffix
    yield name
    yield from (f"{stem}-{n}{suffix}" for n in itertools.count(2))


def unused_name(name: str, taken: Container[str]) -> str:
    """``name``, or the first of ``name-2``, ``name-3``… that is not in ``taken``."""
    return next(n for n in _names(name) if n not in taken)


def _copy_new(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` whole or not at all, never over an existing file (`FileExistsError`)."""
    partial = target.with_name(f".{target.name}.part-{secrets.token_hex(4)}")  # not a document suffix: never indexed
    try:
        partial.write_bytes(source.read_bytes())
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.link(partial, target)  # fails rather than replacing a file that appeared meanwhile
    finally:
        partial.unlink(missing_ok=True)


def _inside(path: Path, corpus_dir: Path) -> Path:
    """``path`` if it lies inside the corpus folder (a doc id is never followed out of it); else `CorpusError`."""
    if not path.resolve().is_relative_to(corpus_dir.resolve()):
        raise CorpusError(f"{path}: outside the corpus folder {corpus_dir}; not removing it")
    return path
