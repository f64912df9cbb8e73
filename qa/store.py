"""Where engines come from: build an index folder from a corpus, open one, rebuild it when stale or damaged."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from qa import folders
from qa.chunking import ChunkingSettings
from qa.engine import Engine
from qa.index import (
    LOCK_TIMEOUT,
    MANIFEST,
    Index,
    IndexFormatError,
    IndexVersionError,
    StaleIndexError,
    corpus_path,
    read_manifest_data,
    saved_checksums,
)
from qa.models import DEFAULT_MODEL, Embedder, load_embedder
from qa.progress import Callback, silent

log = logging.getLogger("qa")

REPO_ROOT = Path(__file__).resolve().parent.parent


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


def build(
    corpus_dir: str | Path,
    index_dir: str | Path | None = None,
    *,
    embedder: Embedder | None = None,
    settings: ChunkingSettings = ChunkingSettings(),
    progress: Callback = silent,
    strict: bool = False,
    incremental: bool = True,
) -> Engine:
    """Index every usable document of ``corpus_dir`` into ``index_dir`` (atomically) and return its engine.

    ``strict``: a corpus file that cannot be indexed raises `CorpusError`
    instead of being skipped (and listed in the manifest).  ``incremental``:
    when ``index_dir`` holds an index that loads and verifies, the documents
    that have not changed keep their vectors and only the others are embedded.
    ``progress`` hears every phase's steps (`qa.progress.Bars` draws them).
    """
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    previous = _previous(index_dir) if incremental else None
    return _build(Path(corpus_dir), index_dir, previous, embedder, settings, progress, strict)


def _build(
    corpus_dir: Path,
    index_dir: Path,
    previous: Index | None,
    embedder: Embedder | None,
    settings: ChunkingSettings,
    progress: Callback = silent,
    strict: bool = False,
) -> Engine:
    """Build ``corpus_dir`` into ``index_dir``, with the vectors of ``previous`` for its unchanged documents."""
    index = Index.build(
        corpus_dir,
        embedder=embedder,
        settings=settings,
        progress=progress,
        corpus_label=_relative(corpus_dir, index_dir),
        strict=strict,
        previous=previous,
    )
    index.save(index_dir, progress=progress)
    return Engine(index, index_dir=index_dir, embedder=index.embedder)


def load(
    index_dir: str | Path | None = None,
    *,
    strict: bool = False,
    embedder: Embedder | None = None,
    settings: ChunkingSettings | None = None,
) -> Engine:
    """The engine of the index in ``index_dir`` (default: the repo's ``embeddings/``).

    The index is verified, then checked against the corpus folder its manifest
    names (and against ``settings`` and ``embedder`` when given).  With
    ``strict``, a stale index raises `StaleIndexError` and a damaged, edited or
    missing one `IndexFormatError`.  Otherwise either is rebuilt from the
    corpus folder, with a warning that says why; without the corpus folder, a
    stale index is used as it is (with a warning) and a damaged one raises.
    An index that disagrees with its corpus is read again while other writers
    holding its lock (`Engine.add` in other processes) change it, for at most
    ``LOCK_TIMEOUT`` seconds in all.
    """
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            index = Index.load(index_dir, embedder=embedder)
        except (IndexFormatError, IndexVersionError) as exc:
            if strict:
                raise
            return _rebuild_unreadable(index_dir, exc, embedder, settings)
        corpus_dir = index.corpus_path(index_dir)
        check = index.check(corpus_dir, settings=settings, model=embedder.name if embedder else None)
        left = deadline - time.monotonic()
        if not (check.stale or check.problems) or left <= 0:
            break
        # An `add` or `remove` may be between changing the corpus and saving its index, or have saved it since
        # this index was read: wait for a writer holding the lock, then read the index again.  Only when nobody
        # was writing and the same index is still saved did the corpus itself change.
        wrote = folders.wait_for_writer(index_dir, left, "index")
        if not wrote and saved_checksums(index_dir) == index.manifest.checksums:
            break
    recipe = Recipe(corpus_dir, index.manifest.model, _chunking(index.manifest.chunking))
    if check.problems:
        error = IndexFormatError(
            f"index {index_dir} contradicts its corpus {corpus_dir}: " + "; ".join(check.problems[:5])
        )
        if strict:
            raise error
        return _rebuild(index_dir, recipe, f"{error}; rebuilding it", embedder, settings)
    if not check.stale:
        return Engine(index, index_dir=index_dir, embedder=index.embedder)
    message = f"index {index_dir} is stale for {corpus_dir}: " + "; ".join(check.stale)
    if strict:
        raise StaleIndexError(message)
    if not corpus_dir.is_dir():
        log.warning("%s; using the index as it is", message)
        return Engine(index, index_dir=index_dir, embedder=index.embedder)
    return _rebuild(index_dir, recipe, f"{message}; rebuilding it", embedder, settings, previous=index)


def _previous(index_dir: Path) -> Index | None:
    """The index already in ``index_dir`` if it loads and verifies, for its vectors; else None (build afresh)."""
    if not (index_dir / MANIFEST).exists():
        return None
    try:
        return Index.load(index_dir)
    except (IndexFormatError, StaleIndexError) as exc:
        log.info("not reusing %s: %s", index_dir, str(exc).splitlines()[0])
        return None


@dataclass(frozen=True)
class Recipe:
    """What a rebuild of an index folder reads and how: from its manifest where readable, else the defaults."""

    corpus_dir: Path | None  # None: unknown
    model: str = DEFAULT_MODEL
    chunking: ChunkingSettings = ChunkingSettings()

    @classmethod
    def of(cls, index_dir: Path) -> Recipe:
        """The recipe a possibly damaged index folder still tells; the default index's corpus is ``data/``."""
        try:
            data = read_manifest_data(index_dir / MANIFEST)
        except IndexFormatError:
            data = {}
        recorded = data.get("corpus_dir")
        if isinstance(recorded, str):
            corpus_dir = corpus_path(recorded, index_dir)
        else:
            corpus_dir = default_corpus_dir() if _is_default(index_dir) else None
        model = data.get("model")
        return cls(corpus_dir, model if isinstance(model, str) else DEFAULT_MODEL, _chunking(data.get("chunking")))


def _chunking(recorded: object) -> ChunkingSettings:
    """The recorded chunking settings, or the defaults when they are not readable."""
    try:
        return ChunkingSettings(**recorded)
    except (TypeError, ValueError):
        return ChunkingSettings()


def _is_default(index_dir: Path) -> bool:
    return index_dir.resolve() == default_index_dir().resolve()


def _rebuild_unreadable(
    index_dir: Path, error: Exception, embedder: Embedder | None, settings: ChunkingSettings | None
) -> Engine:
    """Rebuild an index that cannot be read, when its corpus is known and there; else raise ``error``."""
    recipe = Recipe.of(index_dir)
    if recipe.corpus_dir is None or not recipe.corpus_dir.is_dir():
        raise error
    return _rebuild(index_dir, recipe, f"{error}; rebuilding it from {recipe.corpus_dir}", embedder, settings)


def _rebuild(
    index_dir: Path,
    recipe: Recipe,
    why: str,
    embedder: Embedder | None,
    settings: ChunkingSettings | None,
    previous: Index | None = None,
) -> Engine:
    """Log ``why`` and build the index anew; the caller's embedder and settings win over the recipe's.

    ``previous``: the stale index already loaded, whose unchanged documents keep their vectors; a damaged
    or contradicting index is not reused (nor read a second time).
    """
    log.warning("%s", why)
    embedder = embedder or load_embedder(recipe.model)
    return _build(recipe.corpus_dir, index_dir, previous, embedder, settings or recipe.chunking)
