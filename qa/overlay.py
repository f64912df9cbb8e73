"""A session's own files over a shared store: searched together, the shared store never copied or written.

The uploads are indexed in memory as one more segment of the shared store's
segments (`LocalStore.with_segment`): one model's cosines compare across
them, and BM25 counts the chunks of both, so the two rank as one corpus.
Dropping the session's store frees its segment; the shared segments are
read-only and shared by every session.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import replace
from pathlib import Path

from qa.chunking import ChunkingSettings
from qa.collection import safe_name, unused_name
from qa.documents import CorpusError, Document, UnusableFile, load_document, unsupported_format
from qa.index import segment_contents
from qa.models import Embedder
from qa.progress import Callback, silent
from qa.scan import stat_of
from qa.stores import Store
from qa.stores.layered import Layered
from qa.stores.local import LocalStore, Manifest, SkippedFile
from qa.stores.segment import FileStat


def overlay_store(
    base: Store,
    embedder: Embedder,
    paths: Sequence[str | Path],
    *,
    progress: Callback = silent,
    names: Sequence[str] | None = None,
) -> Store:
    """``base`` with ``paths`` indexed in memory after it; `CorpusError` when none of them can be used.

    Each file's doc id is ``names``' (checked: as many, distinct, none of the
    base's), else its safe name made unique against the base's
    (``report-2.pdf``); the files that cannot be used are in the new store's
    ``skipped`` with the reason.
    """
    paths = [Path(p) for p in paths]
    documents, files, skipped = read_uploads(paths, taken=DocIds(base), names=names)
    if not documents:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items()) or "no files given"
        raise CorpusError(f"none of the files can be searched: {reasons}")
    contents = segment_contents(
        documents,
        files,
        embedder=embedder,
        settings=ChunkingSettings(**base.info.chunking),
        progress=progress,
    )
    skipped_files = {d: SkippedFile(why, 0, 0, "") for d, why in skipped.items()}
    if isinstance(base, LocalStore):
        return base.with_segment(contents, skipped_files)
    uploads = LocalStore(None, Manifest(base.info), []).with_segment(contents, skipped_files)
    return Layered(base, uploads)  # a store in another process takes no segment: searched beside it


def read_uploads(
    paths: Sequence[Path], taken: Container[str], names: Sequence[str] | None = None
) -> tuple[list[Document], list[FileStat], dict[str, str]]:
    """The usable documents of ``paths`` under doc ids unused in ``taken`` (``names``, or `upload_names`), their
    files' stats, and why each other file is not one."""
    if names is None:
        names = upload_names(paths, taken)
    elif len(names) != len(paths) or len(set(names)) != len(names) or any(n in taken for n in names):
        raise ValueError(f"names must be one distinct new doc id per file, not {list(names)!r}")
    documents, files, skipped = [], [], {}
    for path, name in zip(paths, names, strict=True):
        if reason := unsupported_format(path):
            skipped[name] = reason
            continue
        try:
            documents.append(replace(load_document(path, path.parent), doc_id=name))
            files.append(stat_of(path))
        except UnusableFile as exc:
            skipped[name] = exc.reason
    return documents, files, skipped


def upload_names(paths: Sequence[str | Path], taken: Container[str]) -> list[str]:
    """The doc id each of ``paths`` gets in an overlay: its safe name, made unique against ``taken`` and the others."""
    names: list[str] = []
    for path in paths:
        names.append(unused_name(safe_name(Path(path).name), Either(taken, names)))
    return names


class DocIds(Container[str]):
    """A store's doc ids as a container: each asked for, never all listed."""

    def __init__(self, store: Store):
        self.store = store

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.store.has_document(doc_id)


class Either(Container[str]):
    """In one container or the other."""

    def __init__(self, first: Container[str], second: Container[str]):
        self.first, self.second = first, second

    def __contains__(self, item: object) -> bool:
        return item in self.first or item in self.second
