"""Where engines come from: build an index folder from a corpus, open one, rebuild it when stale."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from qa.chunking import ChunkingSettings
from qa.engine import Engine
from qa.index import Index, StaleIndexError
from qa.models import DEFAULT_MODEL, Embedder, load_embedder

log = logging.getLogger("qa")

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_index_dir() -> Path:
    """``$QA_INDEX_DIR``, else ``embeddings/`` beside the package (the repo), else in the working folder."""
    if env := os.environ.get("QA_INDEX_DIR"):
        return Path(env)
    beside = REPO_ROOT / "embeddings"
    return beside if beside.exists() else Path.cwd() / "embeddings"


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
    show_progress: bool = False,
) -> Engine:
    """Index every document of ``corpus_dir`` into ``index_dir`` (atomically) and return its engine."""
    corpus_dir = Path(corpus_dir)
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    index = Index.build(
        corpus_dir,
        embedder=embedder,
        settings=settings,
        show_progress=show_progress,
        corpus_label=_relative(corpus_dir, index_dir),
    )
    index.save(index_dir)
    return Engine(index)


def load(
    index_dir: str | Path | None = None,
    *,
    strict: bool = False,
    embedder: Embedder | None = None,
    settings: ChunkingSettings | None = None,
) -> Engine:
    """The engine of the index in ``index_dir`` (default: the repo's ``embeddings/``).

    The index is checked against the corpus folder its manifest names (and
    against ``settings`` and ``embedder`` when given).  A stale index raises
    `StaleIndexError` when ``strict``; otherwise it is rebuilt, with a warning.
    """
    index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
    index = Index.load(index_dir, embedder=embedder)
    corpus_dir = index.corpus_path(index_dir)
    model = embedder.name if embedder else None
    reasons = index.stale_reasons(corpus_dir, settings=settings, model=model)
    if not reasons:
        return Engine(index)
    message = f"index {index_dir} is stale for {corpus_dir}: " + "; ".join(reasons)
    if strict:
        raise StaleIndexError(message)
    if not corpus_dir.is_dir():
        log.warning("%s; using the index as it is", message)
        return Engine(index)
    log.warning("%s; rebuilding it", message)
    chunking = settings or ChunkingSettings(**index.manifest.chunking)
    return build(
        corpus_dir,
        index_dir,
        embedder=embedder or load_embedder(index.manifest.model or DEFAULT_MODEL),
        settings=chunking,
    )
