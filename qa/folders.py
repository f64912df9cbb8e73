"""Keep a folder of files safe on disk, whatever it holds: checksummed, replaced atomically, recovered.

- Checksums: every file but the one recording them is hashed, so a damaged,
  truncated or edited file is found before it is read.  Large numeric files
  are hashed by a sample (their size, both ends, 64 blocks between): that
  still catches truncation and most edits, and costs little more than reading.
- A writer lock (``.<name>.lock`` beside the folder): two saves of one folder
  would otherwise remove or swap each other's copies.
- Atomic replacement: a save writes a hidden sibling, flushes it to disk and
  swaps it into place (one ``renameat2(RENAME_EXCHANGE)`` on Linux, two
  renames elsewhere), so a reader, or a crash at any moment, finds the old
  folder or the new one, never a mix.
- Recovery: a save killed between its two renames leaves no folder in place;
  the next save or load puts back its complete hidden copy, then removes the
  leftovers so that killed saves do not pile up.

Every step goes through a module-level function (`_exchange`, `_rename`,
`_remove_tree`, `_fsync`), looked up when called, so that tests can stop a save
at any of them.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout

log = logging.getLogger("qa")

SAMPLE_EDGE = 64 * 1024  # bytes hashed at each end of a sampled file
SAMPLE_BLOCK = 4 * 1024
SAMPLE_BLOCKS = 64  # blocks hashed between the ends

T = TypeVar("T")


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


# --- saving, tidying ------------------------------------------------------------------


def replace_folder(
    target: Path,
    write: Callable[[Path], T],
    complete: Callable[[Path], bool],
    lock_timeout: float,
    noun: str = "folder",
) -> T:
    """Have ``write`` fill a new hidden sibling of ``target``, then swap it into place, holding the lock throughout.

    First puts back or removes what killed saves left (``complete``: whether a
    hidden copy is whole).  Returns what ``write`` returned.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(target, lock_timeout, noun):
        _recover(target, complete)
        _remove_leftovers(target)
        new = _hidden_sibling(target, "tmp")
        try:
            result = write(new)
            sync_tree(new)
            _swap_into_place(new, target)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)  # best effort: the next save or load removes what is left
            raise
    return result


def tidy(target: Path, complete: Callable[[Path], bool], lock_timeout: float, noun: str = "folder") -> None:
    """Before a load: restore and clean up after killed saves, unless a live writer holds the lock.

    A missing folder is worth waiting for (a save may be between its renames);
    a present one is read as it is if the lock is taken.
    """
    if not _hidden_copies(target):
        return
    try:
        with writer_lock(target, 0 if target.exists() else lock_timeout, noun):
            _recover(target, complete)
            _remove_leftovers(target)
    except FolderLockedError:
        log.info("%s: another process is saving this %s; not tidying", target, noun)


def _hidden_sibling(target: Path, kind: str) -> Path:
    """A fresh hidden name beside ``target``: ``.<name>.<kind>-<pid>-<random>``."""
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _hidden_copies(target: Path, kinds: str = "tmp|old") -> list[Path]:
    """The hidden sibling folders saves of ``target`` left, newest first (``.old-<pid>``: by format-2 code)."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(?:{kinds})-\d+(?:-[0-9a-f]+)?")
    try:
        found = [p for p in target.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir()]
    except FileNotFoundError:
        return []
    return sorted(found, key=_mtime, reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _recover(target: Path, complete: Callable[[Path], bool]) -> None:
    """Put back a folder a killed save left missing: its complete new copy if there is one, else the old one."""
    if target.exists():
        return
    for copy in _hidden_copies(target, "tmp") + _hidden_copies(target, "old"):
        if complete(copy):
            _rename(copy, target)
            log.warning("%s was missing after an interrupted save; restored it from %s", target, copy.name)
            return


def _remove_leftovers(target: Path) -> None:
    """Remove the hidden folders of killed saves (only call while holding the lock: none is being filled)."""
    for copy in _hidden_copies(target):
        log.info("removing %s, left by an interrupted save", copy)
        _remove_tree(copy)


# --- atomic replacement ---------------------------------------------------------------


def _swap_into_place(new: Path, target: Path) -> None:
    """Make ``new`` the folder at ``target`` (one atomic exchange where possible), then remove the replaced one."""
    if not target.exists():
        _rename(new, target)
        replaced = None
    elif _exchange(new, target):
        replaced = new  # it holds the old folder now
    else:
        replaced = _hidden_sibling(target, "old")
        _rename(target, replaced)
        try:
            _rename(new, target)
        except BaseException:
            _rename(replaced, target)
            raise
    _fsync(target.parent)
    if replaced is not None:
        _remove_tree(replaced)


def _load_renameat2() -> Callable[..., int] | None:
    """libc's ``renameat2``, or None where there is none (not Linux, glibc before 2.28)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP})


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the system or file system cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _rename(src: Path, dst: Path) -> None:
    os.rename(src, dst)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path)


# --- flushing -------------------------------------------------------------------------


def sync_tree(folder: Path) -> None:
    """Flush a folder's files and the folder itself to disk, so a swap never publishes unwritten data."""
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
