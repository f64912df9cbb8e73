"""What changed in a corpus folder since an index recorded it, by size and modification time first (as git does).

A file whose size and modification time are those recorded is taken as
unchanged without being read; only the others are hashed, and a file whose
hash is the recorded one is unchanged too (touched, not edited).  So a scan
of a large corpus costs one directory walk, not a read of every file.
"""

from __future__ import annotations

import logging
import marshal
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from qa import listing
from qa.documents import DOCUMENT_SUFFIXES, METADATA_FILE, CorpusError, file_sha256
from qa.stores.segment import FileStat

log = logging.getLogger("qa")
LISTING_TIMEOUT_S = 600  # a listing that takes longer is done again in this process (a hung child, not a corpus)


@dataclass(frozen=True)
class Listing:
    """The document files of a corpus folder with their size and modification time, and its other files."""

    ids: list[str]  # doc ids, in the walk's order
    stats: np.ndarray  # int64 (len(ids), 2): each file's size and mtime_ns
    others: list[str]  # files of unsupported formats (named in a warning, never indexed)
    metadata: tuple[int, int] | None  # metadata.json's size and mtime, if there is one


def list_corpus(corpus_dir: Path) -> Listing:
    """Every file below ``corpus_dir``, by doc id (its posix path inside the folder); `CorpusError` without it.

    One ``stat`` a document file, nothing read (`qa.listing.walk`): about 3 µs a file here, most of it the
    system call."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: no such corpus folder")
    return _listing(listing.walk(os.fspath(corpus_dir), frozenset(DOCUMENT_SUFFIXES), METADATA_FILE))


def _listing(walked: listing.Walked) -> Listing:
    ids, sizes, mtimes, others, metadata = walked
    stats = np.stack([np.asarray(sizes, dtype=np.int64), np.asarray(mtimes, dtype=np.int64)], axis=1)
    return Listing(ids, stats, sorted(others), metadata)


def listing_soon(corpus_dir: Path, apart: bool = False) -> Future[Listing]:
    """`list_corpus` begun in a thread, so that an archive's listing (a second at 300k files) overlaps the opening
    of its store; ``apart`` (an archive: starting a process costs about 20 ms): in a bare interpreter of its own
    (`qa.listing`), else — where a process cannot be started — in the thread itself."""
    future: Future[Listing] = Future()

    def run() -> None:
        try:
            future.set_result(_listed_apart(corpus_dir) if apart else list_corpus(corpus_dir))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the listing
            future.set_exception(exc)

    threading.Thread(target=run, name="qa-corpus-listing", daemon=True).start()
    return future


def _listed_apart(corpus_dir: Path) -> Listing:
    """`list_corpus` run by ``python -I -S qa/listing.py`` (no GIL shared with this process); in this process
    when that cannot run or fails, so that the answer (or the `CorpusError`) is always list_corpus's own."""
    script = [sys.executable, "-I", "-S", listing.__file__, os.fspath(corpus_dir), METADATA_FILE, *DOCUMENT_SUFFIXES]
    try:
        done = subprocess.run(script, capture_output=True, timeout=LISTING_TIMEOUT_S, check=True)
        return _listing(marshal.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError, EOFError, TypeError) as exc:
        log.debug("%s: listed in this process (%s)", corpus_dir, exc)
        return list_corpus(corpus_dir)


class Recorded(Protocol):
    """What an index records of its corpus's files (`qa.stores.local.LocalStore` follows it)."""

    def recorded(self, doc_id: str) -> FileStat | None: ...

    def recorded_ids(self) -> list[str]: ...

    def recorded_stats(self, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The recorded size and modification time of each file (-1 for one not recorded)."""
        ...


@dataclass
class Changes:
    """How a corpus folder differs from what an index recorded of it."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stats: dict[str, FileStat] = field(default_factory=dict)  # of every added or changed file, hashed now
    metadata: bool = False  # metadata.json changed: every document is read again
    others: list[str] = field(default_factory=list)  # files of unsupported formats

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.metadata)

    def reasons(self) -> list[str]:
        """``["2 document(s) added: a.txt, b.txt", …]``."""
        out = [f"{METADATA_FILE} changed"] if self.metadata else []
        for label, names in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            if names:
                out.append(f"{len(names)} document(s) {label}: {', '.join(names[:5])}")
        return out


def compare(corpus_dir: Path, listing: Listing, recorded: Recorded, trust_stats: bool = True) -> Changes:
    """What was added, changed or removed since the index recorded the corpus's files.

    A file whose size and modification time are the recorded ones is taken as unchanged (``trust_stats``
    False: none is, every file is hashed); the others are hashed, and one whose hash is the recorded one is
    unchanged too (touched, not edited).  Added and changed files come in doc id order.
    """
    ids, stats = listing.ids, listing.stats
    sizes, mtimes = recorded.recorded_stats(ids)
    same = (sizes == stats[:, 0]) & (mtimes == stats[:, 1]) if trust_stats else np.zeros(len(ids), dtype=bool)
    changes = Changes()
    for i in sorted(np.flatnonzero(~same).tolist(), key=ids.__getitem__):
        doc_id = ids[i]
        before = recorded.recorded(doc_id)
        sha = file_sha256(corpus_dir / doc_id)
        if trust_stats and before is not None and before.sha256 == sha:
            continue  # touched, not edited
        (changes.added if before is None else changes.changed).append(doc_id)
        changes.stats[doc_id] = FileStat(int(stats[i, 0]), int(stats[i, 1]), sha)
    recorded_ids = recorded.recorded_ids()
    if np.count_nonzero(sizes >= 0) != len(recorded_ids):  # some recorded file was not listed (ids are unique)
        listed = set(ids)
        changes.removed = sorted(d for d in recorded_ids if d not in listed)
    return changes


def changes_since(
    corpus_dir: Path, recorded: Recorded, metadata_sha256: str | None, listing: Future[Listing] | None = None
) -> Changes:
    """What changed in ``corpus_dir`` since an index recorded its files (`compare`) and its metadata.json hash;
    `CorpusError` when the folder is gone.  A changed metadata.json can change any document's title: then
    every file counts as changed.  ``listing``: the folder's listing, begun before (`listing_soon`)."""
    listing = listing.result() if listing is not None else list_corpus(corpus_dir)
    meta = corpus_dir / METADATA_FILE
    metadata_same = (file_sha256(meta) if listing.metadata is not None else None) == metadata_sha256
    changes = compare(corpus_dir, listing, recorded, trust_stats=metadata_same)
    changes.metadata = not metadata_same
    changes.others = listing.others
    return changes


def stat_of(path: Path) -> FileStat:
    """A file's size, modification time and sha256, as a segment records them."""
    st = path.stat()
    return FileStat(st.st_size, st.st_mtime_ns, file_sha256(path))
