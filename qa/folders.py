"""Keep a folder of files safe on disk, whatever it holds: checksummed, written by one writer at a time, flushed.

- Checksums: every file but the one recording them is hashed, so a damaged,
  truncated or edited file is found before it is read.  Large numeric files
  are hashed by a sample (their size, both ends, 64 blocks between): that
  still catches truncation and most edits, and costs little more than reading.
- A writer lock (``.<name>.lock`` beside the folder): two writers of one
  folder would otherwise remove each other's files.
- Flushing: a file or a folder's entries (`flush`), or a whole new folder
  (`sync_tree`), reach the disk before a commit names them.

Flushing goes through `_fsync`, looked up when called, so that tests can stop
a write there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

SAMPLE_EDGE = 64 * 1024  # bytes hashed at each end of a sampled file
SAMPLE_BLOCK = 4 * 1024
SAMPLE_BLOCKS = 64  # blocks hashed between the ends


class FolderLockedError(RuntimeError):
    """Another process kept a folder's lock for longer than a save would wait."""


# --- checksums --------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which files of a folder its checksums cover, how each is hashed, and the words its messages use."""

    record: str  # the file that records the others' checksums (written last, not itself checksummed)
    noun: str = "folder"  # what the folder is, in messages: "not a file of this <noun>"
    record_label: str = "the record"  # the record, in messages: "<record_label> says"
    required: tuple[str, ...] = ()  # files a record must hold a checksum of
    sampled: frozenset[str] = frozenset()  # large numeric files: a sampled checksum


def sample_ranges(size: int) -> list[tuple[int, int]]:
    """``(offset, length)`` of the bytes a sampled checksum reads: both 64 KiB ends and 64 blocks spread between."""
    if size <= 2 * SAMPLE_EDGE + SAMPLE_BLOCKS * SAMPLE_BLOCK:
        return [(0, size)]
    room = size - 2 * SAMPLE_EDGE - SAMPLE_BLOCK  # where a middle block may start, after the head
    middle = [(SAMPLE_EDGE + room * i // (SAMPLE_BLOCKS - 1), SAMPLE_BLOCK) for i in range(SAMPLE_BLOCKS)]
    return [(0, SAMPLE_EDGE), *middle, (size - SAMPLE_EDGE, SAMPLE_EDGE)]


def sample_sha256(path: Path, size: int) -> str:
    """sha256 over a file's size and `sample_ranges`: cheap for vectors, still catching truncation and most edits."""
    digest = hashlib.sha256(b"%d\n" % size)
    with path.open("rb") as f:
        for offset, length in sample_ranges(size):
            digest.update(os.pread(f.fileno(), length, offset))
    return digest.hexdigest()


def file_checksum(path: Path, sampled: bool) -> dict:
    """What a record holds for one file: its size and `sample_sha256` if ``sampled``, else its full sha256."""
    if sampled:
        size = path.stat().st_size
        return {"size": size, "sample_sha256": sample_sha256(path, size)}
    with path.open("rb") as f:
        return {"sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def checksummed_files(folder: Path, layout: Layout) -> set[str]:
    """The files of ``folder`` but its record, as posix paths relative to it (hidden names ignored)."""
    names = set()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            names.add(relative.as_posix())
    return names - {layout.record}


def checksums(folder: Path, layout: Layout) -> dict[str, dict]:
    """`file_checksum` of every file of ``folder`` that its record covers."""
    return {
        name: file_checksum(folder / name, name in layout.sampled) for name in sorted(checksummed_files(folder, layout))
    }


def checksum_problem(folder: Path, recorded: dict[str, dict], layout: Layout) -> str | None:
    """The first file of ``folder`` that is missing, extra, or not what ``recorded`` says, named; else None."""
    if not isinstance(recorded, dict):
        return f"{folder / layout.record}: no checksums"
    present = checksummed_files(folder, layout)
    if missing := [name for name in layout.required if name not in recorded]:
        return f"{folder / layout.record}: no checksum of {missing[0]}"
    if missing := sorted(set(recorded) - present):
        return f"{folder / missing[0]}: missing"
    if extra := sorted(present - set(recorded)):
        return f"{folder / extra[0]}: not a file of this {layout.noun}"
    for name in sorted(recorded):
        expected, actual = recorded[name], file_checksum(folder / name, name in layout.sampled)
        if actual != expected:
            if isinstance(expected, dict) and "size" in expected and expected["size"] != actual["size"]:
                return f"{folder / name}: {actual['size']} bytes, {layout.record_label} says {expected['size']}"
            return f"{folder / name}: contents differ from {layout.record_label}'s checksum"
    return None


# --- the writer lock ------------------------------------------------------------------


def lock_path(folder: Path) -> Path:
    """The lock file of a folder: ``.<name>.lock`` beside it."""
    return folder.parent / f".{folder.name}.lock"


@contextmanager
def writer_lock(folder: Path, timeout: float, noun: str = "folder") -> Iterator[None]:
    """Hold the folder's lock; `FolderLockedError` after ``timeout`` seconds of another process or thread holding it.

    The thread holding it may take it again (an edit holds it around the save it makes).

    ``noun`` names the folder in the error (``"index"``: "another writer is saving this index").
    """
    lock = FileLock(lock_path(folder.resolve()), is_singleton=True)  # one per file: the holding thread re-enters it
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise FolderLockedError(
            f"{folder}: another writer is saving this {noun} (it holds {lock_path(folder)}); "
            f"gave up after {timeout:g} s, try again when it is done"
        ) from None
    try:
        yield
    finally:
        lock.release()


def wait_for_writer(folder: Path, timeout: float, noun: str = "folder") -> bool:
    """Whether another writer held the folder's lock; if one did, return once it is done (at most ``timeout`` s).

    False without waiting when nobody holds it, or when the lock file cannot
    be made (a read-only folder has no writers to wait for).
    """
    try:
        with writer_lock(folder, 0, noun):
            return False
    except FolderLockedError:
        pass
    except OSError:
        return False
    try:
        with writer_lock(folder, timeout, noun):
            return True
    except (FolderLockedError, OSError):
        return True


# --- flushing -------------------------------------------------------------------------


def sync_tree(folder: Path) -> None:
    """Flush a folder's files and the folder itself to disk, so a commit never names unwritten data."""
    for path in [*folder.rglob("*"), folder]:
        _fsync(path)


def flush(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk."""
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
