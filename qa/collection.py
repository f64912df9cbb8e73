"""Change a corpus folder and its saved index together: add files, remove documents.

Each change holds the index's writer lock from the first file it touches to
the swap of the saved index, so two writers (threads or processes) take
turns and never lose each other's change: the one that waited starts from
the index on disk, not from the one it had loaded.  Only new and changed
files are read and embedded (`Index.build` with the current index as
``previous``); BM25 and the document frequencies are recomputed.

- A file added from outside the corpus folder is checked first (it must be
  a readable document of a supported format), then copied in under a safe
  name; a file inside it is indexed where it stands.
- A removed document's file is deleted only after the index without it is
  saved: a crash in between leaves the file, and the next load, seeing the
  corpus and the index disagree, indexes it again; nothing is lost.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qa import folders
from qa.chunking import ChunkingSettings
from qa.documents import CorpusError, doc_id_of, file_sha256, load_document, unsupported_format
from qa.index import LOCK_TIMEOUT, Index, IndexFormatError, saved_checksums
from qa.progress import Callback, silent

MAX_NAME = 120  # characters of a copied file's name, before any "-2"


def add_files(
    index: Index,
    index_dir: str | Path,
    paths: Sequence[str | Path],
    *,
    progress: Callback = silent,
    lock_timeout: float = LOCK_TIMEOUT,
) -> tuple[Index, list[str]]:
    """Put ``paths`` into the corpus folder of the index saved in ``index_dir``; the new index and their doc ids.

    `CorpusError` (naming the file and why) before anything changes, for a
    file that is missing, a folder, of an unsupported format or unreadable.
    """
    index_dir = Path(index_dir)
    sources = [Path(p) for p in paths]
    if not sources:
        raise ValueError("no files to add")
    with _editing(index, index_dir, lock_timeout) as (current, corpus_dir):
        for path in sources:
            _check_addable(path)
        placed: list[Path] = []  # copies made by this call, removed again if it fails
        try:
            doc_ids = [_place(path, corpus_dir, placed) for path in sources]
            new = _rebuild(current, index_dir, corpus_dir, progress)
        except BaseException:
            for copy in placed:
                copy.unlink(missing_ok=True)
            raise
    return new, list(dict.fromkeys(doc_ids))


def remove_documents(
    index: Index,
    index_dir: str | Path,
    doc_ids: Iterable[str],
    *,
    progress: Callback = silent,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Index:
    """Take documents out of the index saved in ``index_dir`` and delete their files; the new index.

    `KeyError` for a doc id the index does not know (indexed or skipped);
    `CorpusError` when nothing would be left to index.
    """
    index_dir = Path(index_dir)
    doc_ids = list(dict.fromkeys(doc_ids))
    if not doc_ids:
        raise ValueError("no documents to remove")
    with _editing(index, index_dir, lock_timeout) as (current, corpus_dir):
        for doc_id in doc_ids:
            if doc_id not in current.manifest.files:
                raise KeyError(f"no document {doc_id!r} in the index {index_dir}")
        files = [_inside(corpus_dir / doc_id, corpus_dir) for doc_id in doc_ids]
        new = _rebuild(current, index_dir, corpus_dir, progress, exclude=set(doc_ids))
        for path in files:
            path.unlink(missing_ok=True)
    return new


@contextmanager
def _editing(index: Index, index_dir: Path, lock_timeout: float) -> Iterator[tuple[Index, Path]]:
    """Under the writer lock: the index to start from (the saved one if another writer changed it), its corpus."""
    with folders.writer_lock(index_dir, lock_timeout, "index"):
        current = _current(index, index_dir)
        yield current, current.corpus_path(index_dir)


def _current(index: Index, index_dir: Path) -> Index:
    """``index`` if it is still the one saved in ``index_dir``; else the saved one (another writer changed it)."""
    saved = saved_checksums(index_dir)
    if saved is None or saved == index.manifest.checksums:
        return index  # the same index, or nothing usable on disk (the rebuild replaces it)
    try:
        return Index.load(index_dir, embedder=index.embedder)
    except (IndexFormatError, RuntimeError):
        return index


def _rebuild(
    current: Index, index_dir: Path, corpus_dir: Path, progress: Callback, exclude: set[str] | None = None
) -> Index:
    """The corpus folder indexed again with what ``current`` holds reused, saved into ``index_dir``."""
    new = Index.build(
        corpus_dir,
        embedder=current.model,
        settings=ChunkingSettings(**current.manifest.chunking),
        progress=progress,
        corpus_label=current.manifest.corpus_dir,
        previous=current,
        exclude=exclude or (),
    )
    new.save(index_dir, progress=progress)
    return new


def _check_addable(path: Path) -> None:
    """`CorpusError` naming ``path`` unless it is a file of a supported format that reads as a usable document."""
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if not path.is_file():
        raise CorpusError(f"{path}: not a file (add the files of a folder one by one, or `qa index` the folder)")
    if reason := unsupported_format(path):
        raise CorpusError(f"{path}: {reason}")
    load_document(path, path.parent)  # `UnusableFile` says why it cannot be used


def _place(path: Path, corpus_dir: Path, placed: list[Path]) -> str:
    """The doc id of ``path`` in the corpus: where it stands if inside the folder, else that of a copy made now."""
    root = corpus_dir.resolve()
    resolved = path.resolve()
    if resolved.is_relative_to(root):
        return doc_id_of(resolved, root)
    name = safe_name(path.name)
    digest = file_sha256(path)
    for target in _candidates(corpus_dir, name):
        if target.exists():
            if target.is_file() and file_sha256(target) == digest:
                return doc_id_of(target, corpus_dir)  # the same file is there already
            continue
        if _copy_new(path, target):
            placed.append(target)
            return doc_id_of(target, corpus_dir)
    raise AssertionError("unreachable")


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


def _copy_new(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` whole or not at all, never over an existing file; False if one appeared."""
    partial = target.with_name(f".{target.name}.part-{secrets.token_hex(4)}")  # not a document suffix: never indexed
    try:
        partial.write_bytes(source.read_bytes())
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(partial, target)  # fails rather than replacing a file that appeared meanwhile
        except FileExistsError:
            return False
        return True
    finally:
        partial.unlink(missing_ok=True)


def _inside(path: Path, corpus_dir: Path) -> Path:
    """``path`` if it lies inside the corpus folder (a doc id is never followed out of it); else `CorpusError`."""
    if not path.resolve().is_relative_to(corpus_dir.resolve()):
        raise CorpusError(f"{path}: outside the corpus folder {corpus_dir}; not removing it")
    return path
