"""The local store: immutable segments, deletion marks and a manifest written last, in one folder.

In the spirit of Lucene's segments: a write adds a small new segment
(`qa.stores.segment`) or marks a document deleted, and then commits by
writing a new ``manifest.json`` atomically (a temporary file, flushed, then
renamed over the old one).  The manifest is the commit point: it lists the
live segments, each one's deletion marks and the checksum of every file, so
a write killed at any moment leaves the old state or the new one, and
whatever a killed write left behind is removed by the next writer.  A write
costs what changed, never the whole index again.

Searching spans every segment: BM25 with the statistics of every live chunk
(`qa.stores.lexical`), dense search per segment merged by cosine; filters are
masks over each segment's columns, deletion marks too.

>>> from qa.stores.local import LocalStore                    # doctest: +SKIP
>>> store = LocalStore.create("index", info)                 # doctest: +SKIP
>>> store = store.add_segment(contents)                      # doctest: +SKIP
>>> store.lexical_search("quokka", 3)                        # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from bisect import bisect_right
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from qa import folders
from qa.chunking import Chunk
from qa.documents import Document
from qa.filters import NO_FILTERS, Filters
from qa.index import tokenize
from qa.stores import Hits, StoreInfo
from qa.stores import lexical as bm25
from qa.stores.segment import SAMPLED, Contents, SegmentError, StoredSegment

FORMAT = "segments-1"
MANIFEST = "manifest.json"
SEGMENTS = "segments"
DELETES = "deletes"


class StoreFormatError(RuntimeError):
    """A store folder is missing, incomplete, damaged or edited; the message names the file."""


@dataclass(frozen=True)
class SegmentEntry:
    """What the manifest records of one live segment."""

    name: str
    first_id: int  # chunk ids first_id .. first_id + chunks - 1 are this segment's rows
    chunks: int
    documents: int
    checksums: dict[str, dict]  # file -> `folders.file_checksum`
    deletes: str | None = None  # the file under deletes/ that marks its deleted document rows
    deletes_checksum: dict | None = None


@dataclass(frozen=True)
class Manifest:
    """The commit point: what determines the store, its live segments, and the files it skipped."""

    info: StoreInfo
    segments: tuple[SegmentEntry, ...] = ()
    next_id: int = 0  # the first chunk id of the next segment (ids are never reused)
    generation: int = 0  # +1 at every commit
    skipped: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise StoreFormatError(f"{path}: format {data.get('format')!r}, this version reads {FORMAT!r}")
            return cls(
                StoreInfo(**data["info"]),
                tuple(SegmentEntry(**s) for s in data["segments"]),
                data["next_id"],
                data["generation"],
                data["skipped"],
            )
        except FileNotFoundError as exc:
            raise StoreFormatError(f"{folder}: no index here ({MANIFEST} is missing)") from exc
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise StoreFormatError(f"{path}: not a valid manifest ({exc})") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` whole or keeps what it held: a flushed temporary file renamed over it."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with partial.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
        folders.flush(path.parent)
    finally:
        partial.unlink(missing_ok=True)


class LocalStore:
    """One committed state of a store folder, searchable (`qa.stores.Store`); writes return a new one.

    Never changed in place: an engine answering from this object keeps
    answering from it while a write commits the next one.
    """

    def __init__(self, folder: Path | None, manifest: Manifest, segments: Sequence[StoredSegment]):
        self.folder = folder  # None: held in memory only (an upload overlay)
        self.manifest = manifest
        self.segments = tuple(segments)
        self._first_ids = [e.first_id for e in manifest.segments]
        self._deleted = tuple(_deleted_rows(folder, e) for e in manifest.segments)

    # --- opening and committing -----------------------------------------------

    @classmethod
    def create(cls, folder: Path | None, info: StoreInfo) -> LocalStore:
        """An empty store (committed in ``folder`` when one is given)."""
        store = cls(folder, Manifest(info), [])
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            store._commit(store.manifest)
        return store

    @classmethod
    def open(cls, folder: Path) -> LocalStore:
        """The committed state of ``folder``: checksums checked, tables memory-mapped, nothing read whole."""
        manifest = Manifest.read(folder)
        segments = []
        for entry in manifest.segments:
            where = folder / SEGMENTS / entry.name
            layout = folders.Layout(record=MANIFEST, noun="segment", record_label="the manifest", sampled=SAMPLED)
            if problem := folders.checksum_problem(where, entry.checksums, layout):
                raise StoreFormatError(f"{problem}; the index is damaged: rebuild it with `qa index`")
            try:
                segments.append(StoredSegment.open(entry.name, where))
            except SegmentError as exc:
                raise StoreFormatError(str(exc)) from exc
            if entry.deletes is not None:
                mark = folder / DELETES / entry.deletes
                if not mark.exists() or folders.file_checksum(mark, False) != entry.deletes_checksum:
                    raise StoreFormatError(f"{mark}: missing or not what the manifest records")
        return cls(folder, manifest, segments)

    def _commit(self, manifest: Manifest) -> None:
        _write_atomically(self.folder / MANIFEST, manifest.to_json().encode("utf-8"))

    def add_segment(self, contents: Contents) -> LocalStore:
        """This store plus a segment of ``contents`` (written, then committed); documents it replaces are marked."""
        name = f"s{self.manifest.generation + 1:06d}-{secrets.token_hex(3)}"
        segment = StoredSegment.of(name, contents)
        checksums: dict[str, dict] = {}
        if self.folder is not None:
            where = self.folder / SEGMENTS / name
            segment.write(where)
            folders.sync_tree(where)
            layout = folders.Layout(record=MANIFEST, noun="segment", sampled=SAMPLED)
            checksums = folders.checksums(where, layout)
            segment = StoredSegment.open(name, where)
        replaced = [d.doc_id for d in contents.documents if self.has_document(d.doc_id)]
        entry = SegmentEntry(name, self.manifest.next_id, segment.n_chunks, len(segment.doc_ids), checksums)
        base = self.removed(replaced, commit=False) if replaced else self
        manifest = replace(
            base.manifest,
            segments=(*base.manifest.segments, entry),
            next_id=base.manifest.next_id + segment.n_chunks,
            generation=base.manifest.generation + 1,
        )
        return base._committed(manifest, (*base.segments, segment))

    def removed(self, doc_ids: Collection[str], *, commit: bool = True) -> LocalStore:
        """This store with ``doc_ids`` marked deleted (`KeyError` for one it does not hold).

        Only a store with a folder keeps deletion marks; one held in memory is indexed anew instead.
        """
        if self.folder is None:
            raise TypeError("an in-memory store is not edited: index its documents again")
        rows: dict[int, list[int]] = {}
        for doc_id in doc_ids:
            s, row = self._locate(doc_id)
            rows.setdefault(s, []).append(row)
        entries = list(self.manifest.segments)
        generation = self.manifest.generation + 1
        for s, new in rows.items():
            entry = entries[s]
            marked = np.union1d(self._deleted[s], np.asarray(new, dtype=np.int64))
            name = f"{entry.name}.g{generation}.npy"
            (self.folder / DELETES).mkdir(exist_ok=True)
            path = self.folder / DELETES / name
            _write_atomically(path, _npy_bytes(marked))
            entries[s] = replace(entry, deletes=name, deletes_checksum=folders.file_checksum(path, False))
        manifest = replace(self.manifest, segments=tuple(entries), generation=generation)
        return self._committed(manifest, self.segments) if commit else LocalStore(self.folder, manifest, self.segments)

    def _committed(self, manifest: Manifest, segments: Sequence[StoredSegment]) -> LocalStore:
        if self.folder is not None:
            self._commit(manifest)
        return LocalStore(self.folder, manifest, segments)

    def tidy(self) -> None:
        """Remove the segment folders and deletion files no commit refers to (what killed writes left)."""
        if self.folder is None:
            return
        live = {e.name for e in self.manifest.segments}
        marks = {e.deletes for e in self.manifest.segments if e.deletes}
        for path in (self.folder / SEGMENTS).glob("*") if (self.folder / SEGMENTS).exists() else []:
            if path.name not in live:
                shutil.rmtree(path, ignore_errors=True)
        for path in (self.folder / DELETES).glob("*") if (self.folder / DELETES).exists() else []:
            if path.name not in marks:
                path.unlink(missing_ok=True)
        for path in self.folder.glob(f".{MANIFEST}.*.tmp"):
            path.unlink(missing_ok=True)

    # --- where things are -------------------------------------------------------

    def _segment_of(self, chunk_id: int) -> tuple[int, int]:
        s = bisect_right(self._first_ids, chunk_id) - 1
        if s < 0 or chunk_id - self._first_ids[s] >= self.segments[s].n_chunks:
            raise KeyError(f"no chunk {chunk_id} in this index")
        return s, chunk_id - self._first_ids[s]

    def _locate(self, doc_id: str) -> tuple[int, int]:
        """The segment and row of a live document; `KeyError` naming it."""
        for s in range(len(self.segments) - 1, -1, -1):
            row = self.segments[s].doc_rows.get(doc_id)
            if row is not None and row not in self._deleted_sets[s]:
                return s, row
        raise KeyError(f"no document {doc_id!r} in this index")

    @cached_property
    def _deleted_sets(self) -> tuple[frozenset[int], ...]:
        return tuple(frozenset(d.tolist()) for d in self._deleted)

    @cached_property
    def _live(self) -> tuple[np.ndarray | None, ...]:
        """Per segment, a bool mask of its live chunk rows (None: all live)."""
        masks = []
        for segment, deleted in zip(self.segments, self._deleted, strict=True):
            if not len(deleted):
                masks.append(None)
                continue
            mask = np.ones(segment.n_chunks, dtype=bool)
            for row in deleted.tolist():
                rows = segment.chunk_rows(row)
                mask[rows.start : rows.stop] = False
            masks.append(mask)
        return tuple(masks)

    @cached_property
    def _parts(self) -> tuple[bm25.Part, ...]:
        return tuple(
            bm25.Part(s.postings, live, first)
            for s, live, first in zip(self.segments, self._live, self._first_ids, strict=True)
        )

    @cached_property
    def _statistics(self) -> bm25.Statistics:
        return bm25.Statistics.of(self._parts)

    def _allowed(self, filters: Filters) -> list[np.ndarray | None]:
        """Per segment, the rows that are live and that ``filters`` allow (None: every row)."""
        out = []
        for segment, live in zip(self.segments, self._live, strict=True):
            mask = segment.allowed(filters)
            if live is not None:
                mask = live if mask is None else mask & live
            out.append(mask)
        return out

    # --- the store protocol ---------------------------------------------------------

    @property
    def info(self) -> StoreInfo:
        return self.manifest.info

    @property
    def skipped(self) -> dict[str, str]:
        return dict(self.manifest.skipped)

    def __len__(self) -> int:
        return self._statistics.chunks

    @property
    def id_limit(self) -> int:
        """Every chunk id is below this."""
        return self.manifest.next_id

    def chunk(self, chunk_id: int) -> Chunk:
        s, row = self._segment_of(chunk_id)
        return self.segments[s].chunk(row)

    def document(self, doc_id: str) -> Document:
        s, row = self._locate(doc_id)
        try:
            return self.segments[s].document(row)
        except SegmentError as exc:
            raise StoreFormatError(str(exc)) from exc

    def has_document(self, doc_id: str) -> bool:
        try:
            self._locate(doc_id)
        except KeyError:
            return False
        return True

    def doc_ids(self) -> Iterator[str]:
        for segment, deleted in zip(self.segments, self._deleted_sets, strict=True):
            yield from (d for i, d in enumerate(segment.doc_ids) if i not in deleted)

    def sources(self) -> list[str]:
        return self._sources

    @cached_property
    def _sources(self) -> list[str]:
        found: set[str] = set()
        for segment, live in zip(self.segments, self._live, strict=True):
            codes = segment.chunks["source"] if live is None else segment.chunks["source"][live]
            found.update(segment.sources[c] for c in np.unique(codes).tolist() if c >= 0)
        return sorted(found)

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        s, row = self._segment_of(chunk_id)
        return self.segments[s].sentences_of(row)

    def vector(self, chunk_id: int) -> np.ndarray:
        s, row = self._segment_of(chunk_id)
        return self.segments[s].vector(row)

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        return bm25.document_frequencies(self._parts, list(terms))

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        ids, scores = [], []
        for segment, allowed, first in zip(self.segments, self._allowed(filters), self._first_ids, strict=True):
            rows, found = segment.dense_search(vector, n, allowed)
            ids.append(rows + first)
            scores.append(found)
        if not ids:
            return Hits.empty()
        ids_, scores_ = np.concatenate(ids), np.concatenate(scores)
        order = np.lexsort((ids_, -scores_))[:n]
        return Hits(ids_[order], scores_[order].astype(np.float32))

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        tokens = tokenize([text])[0]
        scored = bm25.scores(self._parts, self._statistics, tokens, allowed=self._allowed(filters))
        return Hits(*bm25.top(scored, self._parts, n))

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        if not len(ids):
            return out
        located = [self._segment_of(int(i)) for i in ids]
        wanted: list[set[int]] = [set() for _ in self.segments]
        for s, row in located:
            wanted[s].add(row)
        only = [np.asarray(sorted(rows), dtype=np.int64) for rows in wanted]
        scored = bm25.scores(self._parts, self._statistics, tokenize([text])[0], only=only)
        found = {
            (s, int(r)): float(v) for s, (rows, values) in enumerate(scored) for r, v in zip(rows, values, strict=True)
        }
        for i, key in enumerate(located):
            out[i] = found.get(key, 0.0)
        return out


def _deleted_rows(folder: Path | None, entry: SegmentEntry) -> np.ndarray:
    if entry.deletes is None:
        return np.zeros(0, dtype=np.int64)
    return np.load(folder / DELETES / entry.deletes, allow_pickle=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
