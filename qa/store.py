"""Where engines come from: build a store folder from a corpus, open one, bring it up to date when it is stale.

A build or an update holds the folder's writer lock (`qa.folders.writer_lock`)
throughout; a build killed part-way leaves a store marked incomplete, which
the next build resumes from its last committed segment (`qa.index.sync`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qa import folders
from qa.chunking import ChunkingSettings
from qa.collection import JOURNAL, recover
from qa.documents import CorpusError
from qa.engine import Engine
from qa.index import sync
from qa.models import DEFAULT_MODEL, DEFAULT_RUNTIME, Embedder, installed_version, load_embedder
from qa.progress import Callback, Progress, silent
from qa.scan import Changes, Listing, changes_since, listing_soon
from qa.stores import IndexFormatError, IndexVersionError, StaleIndexError, Store, StoreInfo, WritableStore
from qa.stores.local import MANIFEST, LocalStore, Manifest, corpus_path

if TYPE_CHECKING:
    from qa.stores.milvus import MilvusStore

log = logging.getLogger("qa")

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_TIMEOUT = 30.0  # seconds a writer waits while another process writes the same index
IndexLockedError = folders.FolderLockedError  # another process kept the index's lock longer than a writer waits


def default_index_dir() -> Path:
    """``$QA_INDEX_DIR``, else ``embeddings/`` beside the package (the repo), else in the working folder."""
    if env := os.environ.get("QA_INDEX_DIR"):
        return Path(env)
    beside = REPO_ROOT / "embeddings"
    return beside if beside.exists() else Path.cwd() / "embeddings"


def default_corpus_dir() -> Path:
    """The default index's corpus when its manifest cannot tell: ``data/`` of the repo, else of the working folder."""
    beside = REPO_ROOT / "data"
    return beside if beside.exists() else Path.cwd() / "data"


def _relative(corpus_dir: Path, index_dir: Path) -> str:
    """The corpus path as the manifest records it: relative to the index's parent when possible."""
    try:
        return os.path.relpath(corpus_dir.resolve(), index_dir.resolve().parent)
    except ValueError:  # another drive
        return str(corpus_dir.resolve())


def info_of(embedder: Embedder, settings: ChunkingSettings) -> StoreInfo:
    return StoreInfo(embedder.name, embedder.version, embedder.dim, embedder.runtime, settings.to_dict())


@contextmanager
def writing(index_dir: Path, lock_timeout: float | None = None) -> Iterator[None]:
    """Hold the index folder's writer lock; `IndexLockedError` after ``lock_timeout`` (default `LOCK_TIMEOUT`) s."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with folders.writer_lock(index_dir, LOCK_TIMEOUT if lock_timeout is None else lock_timeout, "index"):
        yield


def build(
    corpus_dir: str | Path,
    index_dir: str | Path | None = None,
    *,
    embedder: Embedder | None = None,
    settings: ChunkingSettings = ChunkingSettings(),
    progress: Callback = silent,
    strict: bool = False,
    incremental: bool = True,
    store: MilvusStore | None = None,
) -> Engine:
    """Index every usable document of ``corpus_dir`` into ``index_dir`` (or into ``store``, a `qa.MilvusStore`)
    and return its engine.

    ``strict``: a corpus file that cannot be indexed raises `CorpusError`
    instead of being skipped (and listed in the manifest).  ``incremental``:
    when ``index_dir`` holds a store of the same model and chunking, only the
    files added or changed since are read and embedded, and a build that was
    killed part-way goes on from where it stopped.  ``progress`` hears every
    phase's steps (`qa.progress.Bars` draws them).  A first build that finds
    nothing to index (`CorpusError`) leaves no index folder behind.
    """
    corpus_dir = Path(corpus_dir)
    embedder = embedder or load_embedder(DEFAULT_MODEL)
    if store is not None:
        if index_dir is not None:
            raise ValueError("build into an index folder or into a store, not both")
        return _build_into(store, corpus_dir, embedder, settings, progress, strict, incremental)
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    with writing(index_dir):
        existed = index_dir.exists()
        if (index_dir / JOURNAL).exists() and (index_dir / MANIFEST).exists():
            try:
                recover(LocalStore.open(index_dir))  # before this build commits: the journal counts commits
            except (IndexFormatError, IndexVersionError) as exc:  # unknowable whether that change committed:
                log.warning("%s: dropping the journal of an unfinished change (%s)", index_dir, exc)
                (index_dir / JOURNAL).unlink()  # its files stay in the corpus and are indexed as they are
        store = _reusable(index_dir, info_of(embedder, settings)) if incremental else None
        if store is None or store.manifest.corpus_dir != _relative(corpus_dir, index_dir):
            # An empty, unfinished store committed over whatever was there (killed from here on, it is resumed);
            # then the files no commit names any more are removed.
            store = LocalStore.create(index_dir, info_of(embedder, settings), _relative(corpus_dir, index_dir))
            _clear(store)
        try:
            store = sync(store, corpus_dir, embedder=embedder, settings=settings, progress=progress, strict=strict)
        except CorpusError:
            if not existed:
                shutil.rmtree(index_dir, ignore_errors=True)
            raise
    return Engine(store, embedder=embedder)


def _build_into(
    store: MilvusStore,
    corpus_dir: Path,
    embedder: Embedder,
    settings: ChunkingSettings,
    progress: Callback,
    strict: bool,
    incremental: bool,
) -> Engine:
    """`build` into a store in another process: resumed or updated where it was made the same way from the same
    folder, else made anew."""
    info, where = info_of(embedder, settings), str(corpus_dir.resolve())
    if not (incremental and store.manifest is not None and store.info == info and store.manifest.corpus_dir == where):
        store = store.created(info, where)
    store.tidy()
    written = sync(store, corpus_dir, embedder=embedder, settings=settings, progress=progress, strict=strict)
    return Engine(written, embedder=embedder)


def copy(index_dir: str | Path, store: MilvusStore, *, progress: Callback = silent) -> Engine:
    """The index in ``index_dir`` copied into ``store``, vectors and all: nothing is read from the corpus or
    embedded again, so moving an archive into Milvus costs its writes alone.

    The copy names the same corpus folder (resolved), model and chunking, so `load` and `Engine.add` keep the two
    together afterwards.  Killed part-way, the copy is left unfinished (refused by `load`) and copying again
    starts it over; the index folder is locked against writers meanwhile.

    >>> engine = qa.copy("embeddings", qa.MilvusStore("./qa.db"))  # doctest: +SKIP
    """
    index_dir = Path(index_dir)
    with writing(index_dir):
        source = LocalStore.open(index_dir)
        if not source.complete:
            raise IndexFormatError(f"{index_dir}: its build did not finish; finish it with `qa index` first")
        target = store.created(source.info, str(source.corpus_path().resolve()))
        total = len(source.segments)
        for done, contents in enumerate(source.contents()):
            progress(Progress("saving", done, total))
            target = target.write(add=contents, complete=False)
        target = target.write(skip=source.skipped_files, complete=True, metadata_sha256=source.metadata_sha256)
        progress(Progress("saving", total, total))
    return Engine(target.merged())


def _load_from(
    store: MilvusStore,
    strict: bool,
    embedder: Embedder | None,
    settings: ChunkingSettings | None,
    progress: Callback,
) -> Engine:
    """`load` of a store in another process: checked against its corpus folder where this machine has it (a
    server answering from Milvus alone uses the store as it is)."""
    if store.manifest is None:
        raise IndexFormatError(f"no qa store {store.collection!r} at {store.uri}: build one with `qa index --milvus`")
    corpus_dir = store.corpus_path()
    reasons = _stale(store, embedder, settings)
    if not store.complete:
        reasons.append("its build did not finish")
    changes = _changes(store, corpus_dir)
    if changes is not None:
        reasons += changes.reasons()
    if not reasons:
        return Engine(store, embedder=embedder)
    message = f"the Milvus store {store.collection!r} at {store.uri} is stale for {corpus_dir}: " + "; ".join(reasons)
    if strict:
        raise (IndexFormatError if not store.complete else StaleIndexError)(message)
    if changes is None:
        if not store.complete:
            raise IndexFormatError(f"{message}; rebuild it with `qa index --milvus`")
        log.warning("%s; using the store as it is", message)
        return Engine(store, embedder=embedder)
    log.warning("%s; bringing it up to date", message)
    embedder = embedder or _embedder_of(store)
    settings = settings or ChunkingSettings(**store.info.chunking)
    return _build_into(store, corpus_dir, embedder, settings, progress, False, not _stale(store, embedder, settings))


def _reusable(index_dir: Path, info: StoreInfo) -> LocalStore | None:
    """The store already in ``index_dir`` when it opens and was made the same way (its files are then reused)."""
    if not (index_dir / MANIFEST).exists():
        return None
    try:
        store = LocalStore.open(index_dir)
    except (IndexFormatError, StaleIndexError) as exc:
        log.info("not reusing %s: %s", index_dir, str(exc).splitlines()[0])
        return None
    store.tidy()
    return store if store.info == info else None


def _clear(store: LocalStore) -> None:
    """Remove what the store's folder holds that its manifest does not name: segments and deletion marks of the
    store it replaced, the files of format 3 (under the writer lock, after a new manifest is committed)."""
    store.tidy()
    index_dir = store.folder
    for old in (
        "documents.jsonl",
        "chunks.jsonl",
        "dense.faiss",
        "dense_rows.npy",
        "sentence_spans.npz",
        "sentence_vectors.npy",
        "document_frequencies.json",
    ):  # format 3
        (index_dir / old).unlink(missing_ok=True)
    shutil.rmtree(index_dir / "bm25", ignore_errors=True)


def load(
    index_dir: str | Path | None = None,
    *,
    strict: bool = False,
    embedder: Embedder | None = None,
    settings: ChunkingSettings | None = None,
    progress: Callback = silent,
    check: Literal["now", "later"] = "now",
    store: MilvusStore | None = None,
) -> Engine:
    """The engine of the store in ``index_dir`` (default: the repo's ``embeddings/``).

    ``check="later"`` (the chat's start): a complete store of the asked model and chunking answers at once,
    and the corpus is scanned in a background thread (``engine.catching_up``), which brings the store up to date
    and swaps it in (`Engine.refresh`) if the corpus changed; not with ``strict``.

    The store is opened (checksums checked, tables memory-mapped), then its
    corpus folder is scanned by size and modification time (`qa.scan`).  With
    ``strict``, a stale store raises `StaleIndexError` and a damaged, missing
    or unfinished one `IndexFormatError`.  Otherwise a stale store is brought
    up to date (only what changed is read and embedded; the warning says
    why, ``progress`` hears the steps) and a damaged one rebuilt from its
    corpus folder; without the corpus folder, a stale store is used as it is
    (with a warning) and a damaged one raises; an unfinished one always raises.

    A store that disagrees with its corpus is read again while other writers
    holding its lock (a build, `Engine.add` in another process) change it, for
    at most `LOCK_TIMEOUT` seconds in all; what a killed `Engine.add` or
    `Engine.remove` left in the corpus folder is undone or finished first
    (`qa.collection.recover`).
    """
    if store is not None:
        if index_dir is not None:
            raise ValueError("load an index folder or a store, not both")
        return _load_from(store, strict, embedder, settings, progress)
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    if check == "later":
        if strict:
            raise ValueError("a strict load checks the corpus now: check='now'")
        _recover_journal(index_dir)
        try:
            store = LocalStore.open(index_dir)
        except (IndexFormatError, IndexVersionError):
            store = None
        if store is not None and store.manifest.complete and not _stale(store, embedder, settings):
            engine = Engine(store, embedder=embedder)
            engine.catching_up = threading.Thread(
                target=_catch_up, args=(engine, index_dir, settings, progress), name="qa-corpus-check", daemon=True
            )
            engine.catching_up.start()
            return engine
    elif check != "now":
        raise ValueError(f"check must be 'now' or 'later', not {check!r}")
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        _recover_journal(index_dir)
        listing = _listing_of(index_dir)
        try:
            store = LocalStore.open(index_dir)
        except (IndexFormatError, IndexVersionError) as exc:
            if strict:
                raise
            return _rebuild_unreadable(index_dir, exc, embedder, settings, progress)
        corpus_dir = store.corpus_path()
        reasons = _stale(store, embedder, settings)
        if not store.manifest.complete:
            reasons.append("its build did not finish")
        changes = _changes(store, corpus_dir, listing if listing and listing[0] == corpus_dir else None)
        if changes is not None:
            reasons += changes.reasons()
        else:
            reasons.append(f"its corpus folder {corpus_dir} is missing")
        left = deadline - time.monotonic()
        if not reasons or left <= 0:
            break
        # A writer may be between changing the corpus and committing, or have committed since the store was
        # opened: wait for one holding the lock, then open it again.  Only when nobody was writing and nothing
        # was committed since did the corpus itself change.
        wrote = folders.wait_for_writer(index_dir, left, "index")
        if not wrote and _committed_generation(index_dir) == store.manifest.generation:
            break
    if not reasons:
        return Engine(store, embedder=embedder)
    message = f"index {index_dir} is stale for {corpus_dir}: " + "; ".join(reasons)
    if strict:
        raise (IndexFormatError if not store.manifest.complete else StaleIndexError)(message)
    if changes is None:
        if not store.manifest.complete:  # never answered from: it lacks documents, and nothing can finish it
            raise IndexFormatError(f"{message}; rebuild it with `qa index`")
        log.warning("%s; using the index as it is", message)
        return Engine(store, embedder=embedder)
    log.warning("%s; bringing it up to date", message)
    if _stale(store, embedder, settings):  # another model or chunking: nothing can be reused
        return build(
            corpus_dir,
            index_dir,
            embedder=embedder or _embedder_of(store),
            settings=settings or ChunkingSettings(**store.info.chunking),
            progress=progress,
        )
    embedder = embedder or _embedder_of(store)
    with writing(index_dir):
        store = _reusable(index_dir, store.info) or store  # another writer may have changed it meanwhile
        store = sync(
            store, corpus_dir, embedder=embedder, settings=ChunkingSettings(**store.info.chunking), progress=progress
        )
    return Engine(store, embedder=embedder)


def _catch_up(engine: Engine, index_dir: Path, settings: ChunkingSettings | None, progress: Callback) -> None:
    """Scan the corpus of ``engine``'s store; if it changed, bring the store up to date and swap it in."""
    try:
        current = load(index_dir, embedder=engine.embedder, settings=settings, progress=progress)
        if current.store.manifest.generation != engine.store.manifest.generation:
            engine.refresh(current.store)
    except Exception as exc:  # noqa: BLE001 - a background check must not kill the chat; it says why
        log.warning("%s: the corpus could not be checked: %s", index_dir, exc)


def _committed_generation(index_dir: Path) -> int | None:
    """The generation of the manifest in ``index_dir`` now (None if it cannot be read)."""
    try:
        return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))["generation"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _recover_journal(index_dir: Path) -> None:
    """Undo or finish what a killed `Engine.add` or `Engine.remove` left in the corpus folder (its journal says
    which), unless a live writer holds the lock (its journal is not left over) or the store cannot be opened."""
    if not (index_dir / JOURNAL).exists():
        return
    try:
        with folders.writer_lock(index_dir, 0, "index"):
            recover(LocalStore.open(index_dir))
    except (folders.FolderLockedError, OSError, IndexFormatError, IndexVersionError) as exc:
        log.info("%s: not recovering its journal now: %s", index_dir, exc)


def _embedder_of(store: Store) -> Embedder:
    return load_embedder(store.info.model, store.info.runtime)


def _changes(
    store: WritableStore, corpus_dir: Path, listing: tuple[Path, Future[Listing]] | None = None
) -> Changes | None:
    """What changed in the corpus folder since the store recorded it (None: the folder is gone); ``listing``:
    the folder's listing begun before (`_listing_of`)."""
    store.document_count  # noqa: B018 - the doc id table, made while the listing's system calls run
    try:
        return changes_since(corpus_dir, store, store.metadata_sha256, listing[1] if listing else None)
    except CorpusError:
        return None


LIST_APART_FROM = 20_000  # recorded documents from which a corpus is listed in a process of its own (`listing_soon`)


def _listing_of(index_dir: Path) -> tuple[Path, Future[Listing]] | None:
    """The listing of the corpus folder the manifest names, begun in a thread while the store opens (None when
    the manifest cannot say: the store's own opening says why)."""
    try:
        manifest = Manifest.read(index_dir)
    except (IndexFormatError, IndexVersionError):
        return None
    corpus_dir = corpus_path(index_dir, manifest)
    documents = sum(entry.documents for entry in manifest.segments)
    return corpus_dir, listing_soon(corpus_dir, apart=documents >= LIST_APART_FROM)


def _stale(store: Store, embedder: Embedder | None, settings: ChunkingSettings | None) -> list[str]:
    """Why the store's model or chunking is not what is asked for, or installed."""
    info, reasons = store.info, []
    if settings is not None and settings.to_dict() != info.chunking:
        reasons.append("chunking settings changed")
    if embedder is not None and (embedder.name, embedder.dim) != (info.model, info.dim):
        reasons.append(f"model changed: index has {info.model} ({info.dim}-d), asked for {embedder.name}")
    installed = installed_version(info.model)
    if installed is not None and installed != info.model_version:
        reasons.append(f"model package changed: built with {info.model_version}, installed {installed}")
    return reasons


def _rebuild_unreadable(
    index_dir: Path, error: Exception, embedder: Embedder | None, settings: ChunkingSettings | None, progress: Callback
) -> Engine:
    """Rebuild a store that cannot be opened, from the corpus its manifest (or the default) names; else raise."""
    corpus_dir, model, runtime, chunking = _recipe(index_dir)
    if corpus_dir is None or not corpus_dir.is_dir():
        raise error
    log.warning("%s; rebuilding it from %s", error, corpus_dir)
    embedder = embedder or load_embedder(model, runtime or DEFAULT_RUNTIME)
    return build(
        corpus_dir, index_dir, embedder=embedder, settings=settings or chunking, progress=progress, incremental=False
    )


def _recipe(index_dir: Path) -> tuple[Path | None, str, str | None, ChunkingSettings]:
    """What a damaged store folder still tells of how it was built: corpus, model, runtime, chunking."""
    try:
        data = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    info = data.get("info") if isinstance(data.get("info"), dict) else data  # format 3 kept them at the top
    recorded = data.get("corpus_dir")
    if isinstance(recorded, str):
        path = Path(recorded)
        corpus_dir = path if path.is_absolute() else index_dir.resolve().parent / path
    else:
        corpus_dir = default_corpus_dir() if index_dir.resolve() == default_index_dir().resolve() else None
    model = info.get("model") if isinstance(info.get("model"), str) else DEFAULT_MODEL
    runtime = info.get("runtime") if isinstance(info.get("runtime"), str) else None
    try:
        chunking = ChunkingSettings(**info.get("chunking"))
    except (TypeError, ValueError):
        chunking = ChunkingSettings()
    return corpus_dir, model, runtime, chunking


__all__ = [
    "LOCK_TIMEOUT", "IndexLockedError", "Manifest", "build", "copy", "default_corpus_dir", "default_index_dir", "load"
]  # fmt: skip
