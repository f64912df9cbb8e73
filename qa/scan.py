"""What changed in a corpus folder since an index recorded it, by size and modification time first (as git does).

A file whose size and modification time are those recorded is taken as
unchanged without being read; only the others are hashed, and a file whose
hash is the recorded one is unchanged too (touched, not edited).  So a scan
of a large corpus costs one directory walk, not a read of every file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.documents import DOCUMENT_SUFFIXES, METADATA_FILE, CorpusError, file_sha256
from qa.stores.segment import FileStat

log = logging.getLogger("qa")


@dataclass(frozen=True)
class Listing:
    """The document files of a corpus folder with their size and modification time, and its other files."""

    files: dict[str, tuple[int, int]]  # doc id -> (size, mtime_ns), sorted by doc id
    others: list[str]  # files of unsupported formats (named in a warning, never indexed)
    metadata: tuple[int, int] | None  # metadata.json's size and mtime, if there is one


def list_corpus(corpus_dir: Path) -> Listing:
    """Every file below ``corpus_dir``, by doc id (its posix path inside the folder); `CorpusError` without it.

    Folders that are symbolic links are not entered (as `qa.documents.corpus_files` does not): a link to a
    folder above would loop, and one to a folder inside would give its files a second doc id."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: no such corpus folder")
    files, others, metadata = {}, [], None
    pending = [(corpus_dir, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):  # a linked folder is not followed (a link to .. would loop)
                    pending.append((Path(entry.path), name + "/"))
                    continue
                if not entry.is_file(follow_symlinks=True):
                    continue
                if name == METADATA_FILE:
                    st = entry.stat()
                    metadata = (st.st_size, st.st_mtime_ns)
                elif os.path.splitext(entry.name)[1].lower() in DOCUMENT_SUFFIXES:
                    st = entry.stat()
                    files[name] = (st.st_size, st.st_mtime_ns)
                elif not entry.name.startswith("."):
                    others.append(name)
    return Listing(dict(sorted(files.items())), sorted(others), metadata)


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


def compare(
    corpus_dir: Path, listing: Listing, recorded: Callable[[str], FileStat | None], recorded_ids: list[str]
) -> Changes:
    """What was added, changed or removed since ``recorded`` (doc id -> its file's recorded stat, or None).

    ``recorded_ids``: every doc id the index records (indexed or skipped).
    """
    changes = Changes()
    for doc_id, (size, mtime) in listing.files.items():
        before = recorded(doc_id)
        if before is not None and (before.size, before.mtime_ns) == (size, mtime):
            continue
        sha = file_sha256(corpus_dir / doc_id)
        if before is not None and before.sha256 == sha:
            continue  # touched, not edited
        (changes.added if before is None else changes.changed).append(doc_id)
        changes.stats[doc_id] = FileStat(size, mtime, sha)
    changes.removed = sorted(set(recorded_ids) - set(listing.files))
    return changes


def changes_since(
    corpus_dir: Path,
    recorded: Callable[[str], FileStat | None],
    recorded_ids: list[str],
    metadata_sha256: str | None,
) -> Changes:
    """What changed in ``corpus_dir`` since an index recorded its files (`compare`) and its metadata.json hash;
    `CorpusError` when the folder is gone.  A changed metadata.json can change any document's title: then
    every file counts as changed."""
    listing = list_corpus(corpus_dir)
    meta = corpus_dir / METADATA_FILE
    if (file_sha256(meta) if listing.metadata is not None else None) == metadata_sha256:
        changes = compare(corpus_dir, listing, recorded, recorded_ids)
    else:
        every = compare(corpus_dir, listing, lambda _: None, recorded_ids)
        changes = Changes(
            added=[d for d in every.added if recorded(d) is None],
            changed=[d for d in every.added if recorded(d) is not None],
            removed=every.removed,
            stats=every.stats,
            metadata=True,
        )
    changes.others = listing.others
    return changes


def stat_of(path: Path) -> FileStat:
    """A file's size, modification time and sha256, as a segment records them."""
    st = path.stat()
    return FileStat(st.st_size, st.st_mtime_ns, file_sha256(path))
