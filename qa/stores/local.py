"""The local store: immutable segments, deletion marks and a manifest written last, in one folder.

In the spirit of Lucene's segments: a write adds a small new segment
(`qa.stores.segment`) and marks deleted documents, then commits by writing a
new ``manifest.json`` atomically (a temporary file, flushed, then renamed
over the old one).  The manifest is the commit point: it lists the live
segments, each one's deletion marks and the checksum of every file, so a
write killed at any moment leaves the old state or the new one, and what a
killed write left behind is removed by the next writer (`tidy`).  A write
costs what changed, never the whole index again; small segments are merged
as they pile up (`merged`).

Searching spans every segment: BM25 with the statistics of every live chunk
(`qa.stores.lexical`), dense search per segment merged by cosine; filters
and deletion marks are masks over each segment's columns.

Folder::

    manifest.json              the commit point (`Manifest`)
    segments/<name>/…          one folder per segment, never changed once written
    deletes/<name>.g<N>.npy    the deleted document rows of a segment, as of commit N

>>> store = LocalStore.open(Path("embeddings"))              # doctest: +SKIP
>>> store.lexical_search("Tartus bombing", 3).ids            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
from bisect import bisect_right
from collections import ChainMap
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from itertools import repeat
from pathlib import Path

import numpy as np

from qa import folders
from qa.cache import FREQUENCIES_KEPT, ChunkCache
from qa.chunking import Chunk
from qa.documents import Document
from qa.filters import NO_FILTERS, Filters
from qa.stores import Hits, IndexFormatError, IndexVersionError, StoreInfo
from qa.stores import lexical as bm25
from qa.stores.segment import SAMPLED, Contents, FileStat, SegmentError, SkippedFile, StoredSegment

FORMAT = 4  # 3: one folder of whole files (bm25s, FAISS, JSON lines); 4: segments
MANIFEST = "manifest.json"
SEGMENTS = "segments"
DELETES = "deletes"
SEGMENT_LAYOUT = folders.Layout(record=MANIFEST, noun="segment", record_label="the manifest", sampled=SAMPLED)
MERGE_AT = 8  # small segments that trigger a merge of them all
SMALL_SEGMENT = 20_000  # live chunks below which a segment counts as small
ROW_BITS = 32  # a live document's place in `LocalStore._where`: its segment << ROW_BITS | its row there
ROW_MASK = (1 << ROW_BITS) - 1


@dataclass(frozen=True)
class SegmentEntry:
    """What the manifest records of one live segment."""

    name: str
    first_id: int  # chunk ids first_id … first_id + chunks - 1 are this segment's rows
    chunks: int
    documents: int
    checksums: dict[str, dict]  # file -> `folders.file_checksum`
    deletes: str | None = None  # the file under deletes/ that lists its deleted document rows
    deletes_checksum: dict | None = None
    live_chunks: int = -1  # chunks not deleted (-1: all)


@dataclass(frozen=True)
class Manifest:
    """The commit point: what determines the store, its corpus, its live segments and the files it skipped."""

    info: StoreInfo
    corpus_dir: str = ""  # as given at build time; a relative path is relative to the index folder's parent
    segments: tuple[SegmentEntry, ...] = ()
    next_id: int = 0  # the first chunk id of the next segment (ids are not reused)
    generation: int = 0  # +1 at every commit
    complete: bool = True  # False while a build runs: a killed build is resumed, never answered from
    metadata_sha256: str | None = None
    skipped: dict[str, SkippedFile] = field(default_factory=dict)
    format_version: int = FORMAT

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest in ``folder``: `IndexVersionError` for another format, `IndexFormatError` if unreadable."""
        path = folder / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexFormatError(
                f"{folder}: no index here ({MANIFEST} is missing); build one with `qa index`"
            ) from exc
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{path}: not a valid index manifest ({exc}); rebuild it with `qa index`") from exc
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise IndexFormatError(f"{path}: not a valid index manifest (no format version); rebuild it")
        if version != FORMAT:
            raise IndexVersionError(f"{folder}: index format {version}, this version reads {FORMAT}")
        try:
            manifest = cls(
                StoreInfo(**data["info"]),
                data["corpus_dir"],
                tuple(SegmentEntry(**s) for s in data["segments"]),
                data["next_id"],
                data["generation"],
                data["complete"],
                data["metadata_sha256"],
                {d: SkippedFile(**s) for d, s in data["skipped"].items()},
            )
        except (TypeError, KeyError, AttributeError) as exc:
            raise IndexFormatError(f"{path}: not a valid index manifest ({exc}); rebuild it") from exc
        numbers = [manifest.next_id, manifest.generation]
        numbers += [n for e in manifest.segments for n in (e.first_id, e.chunks, e.documents, e.live_chunks)]
        if not all(type(n) is int for n in numbers):
            raise IndexFormatError(f"{path}: not a valid index manifest (a count is not a number); rebuild it")
        names = [e.name for e in manifest.segments] + [e.deletes for e in manifest.segments if e.deletes is not None]
        if not all(isinstance(n, str) and n == Path(n).name and not n.startswith(".") for n in names):
            raise IndexFormatError(f"{path}: not a valid index manifest (a file named outside its folder); rebuild it")
        return manifest


def write_atomically(path: Path, data: bytes) -> None:
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
    """One committed state of a store folder, searchable (`qa.stores.Store`); a write returns the next one.

    Never changed in place: an engine answering from this object keeps
    answering from it while a write commits the next state.  ``folder`` None:
    held in memory only (a chat session's uploads over a shared store).
    """

    def __init__(
        self,
        folder: Path | None,
        manifest: Manifest,
        segments: Sequence[StoredSegment],
        deleted: Sequence[np.ndarray] | None = None,
    ):
        self.folder = folder
        self.manifest = manifest
        self.segments = tuple(segments)
        self._first_ids = [e.first_id for e in manifest.segments]
        if deleted is None:
            deleted = [_deleted_rows(folder, e) for e in manifest.segments]
        self._deleted = tuple(deleted)
        self._frequencies = ChunkCache(self._counted, FREQUENCIES_KEPT)  # a question's terms -> their frequencies

    # --- opening ----------------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, info: StoreInfo, corpus_dir: str = "") -> LocalStore:
        """An empty store in ``folder``, committed as incomplete (a build fills it)."""
        folder.mkdir(parents=True, exist_ok=True)
        store = cls(folder, Manifest(info, corpus_dir, complete=False), [])
        write_atomically(folder / MANIFEST, store.manifest.to_json())
        return store

    @classmethod
    def open(cls, folder: Path) -> LocalStore:
        """The committed state of ``folder``: checksums checked, tables memory-mapped, nothing read whole.

        `IndexFormatError` naming the file that is missing, damaged or edited.
        """
        manifest = Manifest.read(folder)
        segments = []
        end = 0  # segments hold ascending, disjoint ranges of chunk ids
        for entry in manifest.segments:
            where = folder / SEGMENTS / entry.name
            if not isinstance(entry.checksums, dict):
                raise IndexFormatError(
                    f"{folder / MANIFEST}: no checksums of segment {entry.name}; the index is damaged: "
                    "rebuild it with `qa index`"
                )
            if problem := folders.checksum_problem(where, entry.checksums, SEGMENT_LAYOUT):
                raise IndexFormatError(f"{problem}; the index is damaged: rebuild it with `qa index`")
            try:
                segments.append(StoredSegment.open(entry.name, where))
            except SegmentError as exc:
                raise IndexFormatError(f"{exc}; rebuild it with `qa index`") from exc
            held = (entry.first_id >= end, entry.chunks, entry.documents)
            if held != (True, segments[-1].n_chunks, len(segments[-1].doc_ids)):
                raise IndexFormatError(
                    f"{folder / MANIFEST}: segment {entry.name} holds {segments[-1].n_chunks} chunks of "
                    f"{len(segments[-1].doc_ids)} documents, not chunks {entry.first_id} to "
                    f"{entry.first_id + entry.chunks - 1} of {entry.documents}; rebuild it with `qa index`"
                )
            end = entry.first_id + entry.chunks
            if entry.deletes is not None:
                mark = folder / DELETES / entry.deletes
                if not mark.is_file() or folders.file_checksum(mark, False) != entry.deletes_checksum:
                    raise IndexFormatError(f"{mark}: missing or not what the manifest records; rebuild the index")
        if manifest.next_id < end:
            raise IndexFormatError(f"{folder / MANIFEST}: next chunk id {manifest.next_id} is taken; rebuild it")
        try:
            return cls(folder, manifest, segments)
        except (OSError, ValueError) as exc:
            raise IndexFormatError(f"{folder}: unreadable deletion marks ({exc}); rebuild the index") from exc

    def corpus_path(self) -> Path:
        """The corpus folder this store indexes (a relative record is relative to the store folder's parent)."""
        return corpus_path(self.folder, self.manifest)

    # --- writing --------------------------------------------------------------------------

    def write(
        self,
        *,
        add: Contents | None = None,
        remove: Collection[str] = (),
        skip: Mapping[str, SkippedFile] | None = None,
        drop: Collection[str] = (),
        complete: bool | None = None,
        metadata_sha256: str | None | bool = False,
    ) -> LocalStore:
        """The next state, committed: ``add`` as a new segment, ``remove`` (doc ids, indexed or skipped) gone,
        ``skip`` recorded as skipped files, the segments named in ``drop`` left out (a merge).

        A document of ``add`` or ``skip`` that is indexed elsewhere is marked deleted there (a changed file);
        one of ``add`` that was skipped is no longer.  Files first, the manifest last: killed at any moment,
        the folder shows this state or the next one.  ``metadata_sha256``: the corpus's metadata.json hash
        to record (False: keep the recorded one).
        """
        if self.folder is None:
            raise TypeError("an in-memory store is never saved: index its documents again")
        if unknown := [d for d in remove if d not in self._where and d not in self.manifest.skipped]:
            raise KeyError(f"no document {unknown[0]!r} in the index {self.folder}")
        skip = dict(skip or {})
        entries = [e for e in self.manifest.segments if e.name not in drop]
        segments = [s for s in self.segments if s.name not in drop]
        deleted = [d for s, d in zip(self.segments, self._deleted, strict=True) if s.name not in drop]
        generation = self.manifest.generation + 1
        skipped = {d: s for d, s in self.manifest.skipped.items() if d not in remove} | skip
        gone = set(remove) | set(skip)
        if add is not None:
            gone |= {d.doc_id for d in add.documents}
            skipped = {d: s for d, s in skipped.items() if d not in gone - set(skip)}
        marks: dict[int, list[int]] = {}
        kept = {segment.name: s for s, segment in enumerate(segments)}
        for doc_id in gone:  # where each is live now, unless in a segment this write drops
            if (where := self._where.get(doc_id)) is not None and self.segments[where >> ROW_BITS].name in kept:
                marks.setdefault(kept[self.segments[where >> ROW_BITS].name], []).append(where & ROW_MASK)
        for s, rows in sorted(marks.items()):
            deleted[s] = np.union1d(deleted[s], np.asarray(rows, dtype=np.int64))
            entries[s] = self._marked(entries[s], segments[s], deleted[s], generation)
        next_id = self.manifest.next_id
        if add is not None and add.documents:
            segment, entry = self._new_segment(add, generation, next_id)
            segments.append(segment)
            entries.append(entry)
            deleted.append(np.zeros(0, dtype=np.int64))
            next_id += segment.n_chunks
        manifest = replace(
            self.manifest,
            segments=tuple(entries),
            next_id=next_id,
            generation=generation,
            skipped=dict(sorted(skipped.items())),
            complete=self.manifest.complete if complete is None else complete,
            metadata_sha256=self.manifest.metadata_sha256 if metadata_sha256 is False else metadata_sha256,
        )
        write_atomically(self.folder / MANIFEST, manifest.to_json())
        return LocalStore(self.folder, manifest, segments, deleted)

    def _new_segment(self, contents: Contents, generation: int, first_id: int) -> tuple[StoredSegment, SegmentEntry]:
        """``contents`` written into a new segment folder, flushed, checksummed and opened from disk."""
        name = f"s{generation:07d}-{secrets.token_hex(3)}"
        where = self.folder / SEGMENTS / name
        StoredSegment.of(name, contents).write(where)
        folders.sync_tree(where)
        folders.flush(where.parent)
        segment = StoredSegment.open(name, where)
        entry = SegmentEntry(
            name, first_id, segment.n_chunks, len(segment.doc_ids), folders.checksums(where, SEGMENT_LAYOUT)
        )
        return segment, entry

    def _marked(self, entry: SegmentEntry, segment: StoredSegment, rows: np.ndarray, generation: int) -> SegmentEntry:
        """``entry`` with a new deletion file listing ``rows``."""
        (self.folder / DELETES).mkdir(exist_ok=True)
        name = f"{entry.name}.g{generation}.npy"
        path = self.folder / DELETES / name
        buffer = io.BytesIO()
        np.save(buffer, rows)
        write_atomically(path, buffer.getvalue())
        live = segment.n_chunks - sum(len(segment.chunk_rows(int(r))) for r in rows.tolist())
        return replace(entry, deletes=name, deletes_checksum=folders.file_checksum(path, False), live_chunks=live)

    def merge_candidates(self) -> list[str]:
        """The segments a merge should join: every small one, once there are `MERGE_AT` of them."""
        small = [e.name for e in self.manifest.segments if _live_chunks(e) < SMALL_SEGMENT]
        return small if len(small) >= MERGE_AT else []

    def merged(self, names: Collection[str] | None = None) -> LocalStore:
        """The next state with the segments ``names`` (default: `merge_candidates`) joined into one, their
        deleted rows dropped; nothing is embedded again.  Itself when there is nothing to merge."""
        names = set(self.merge_candidates() if names is None else names)
        chosen = [(s, d) for s, d in zip(self.segments, self._deleted, strict=True) if s.name in names]
        if len(chosen) < 2 and not any(len(d) for _, d in chosen):
            return self
        return self.write(add=Contents.join([s.live_contents(set(d.tolist())) for s, d in chosen]), drop=names)

    def contents(self) -> Iterator[Contents]:
        """What the store holds, a segment at a time, deleted documents left out and nothing embedded again: to
        copy it into another store."""
        for segment, deleted in zip(self.segments, self._deleted, strict=True):
            yield segment.live_contents(set(deleted.tolist()))

    def tidy(self) -> None:
        """Remove segment folders, deletion files and manifest copies no commit refers to (what killed writes
        left).  Only a writer holding the lock may call it: a write in flight has such files too."""
        if self.folder is None:
            return
        live = {e.name for e in self.manifest.segments}
        marks = {e.deletes for e in self.manifest.segments if e.deletes}
        for where, keep in ((SEGMENTS, live), (DELETES, marks)):
            if (self.folder / where).is_dir():
                for path in (self.folder / where).iterdir():
                    if path.name not in keep:
                        _remove(path)
        if not marks and (self.folder / DELETES).is_dir():
            with contextlib.suppress(OSError):  # best effort: an empty folder is harmless
                (self.folder / DELETES).rmdir()
        for path in self.folder.glob(f".{MANIFEST}.*.tmp"):
            path.unlink(missing_ok=True)

    # --- what the corpus scan compares ---------------------------------------------------------

    def recorded(self, doc_id: str) -> FileStat | None:
        """The recorded stat of a document's file (indexed or skipped), or None."""
        where = self._where.get(doc_id)
        if where is not None:
            entry = self.segments[where >> ROW_BITS].doc_table[where & ROW_MASK]
            return FileStat(int(entry["file_size"]), int(entry["file_mtime_ns"]), bytes(entry["file_sha256"]).hex())
        skipped = self.manifest.skipped.get(doc_id)
        return skipped.stat if skipped is not None else None

    def recorded_stats(self, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The recorded size and modification time of each file (-1 for one not recorded): the dict lookups
        run in C (`map`) and each segment's rows are gathered at once, for the corpus scan of an archive."""
        where = np.fromiter(map(self._where.get, doc_ids, repeat(-1)), dtype=np.int64, count=len(doc_ids))
        sizes = np.full(len(doc_ids), -1, dtype=np.int64)
        mtimes = np.full(len(doc_ids), -1, dtype=np.int64)
        segment_of, row_of = where >> ROW_BITS, where & ROW_MASK
        for s, segment in enumerate(self.segments):
            at = np.flatnonzero((segment_of == s) & (where >= 0))
            table = segment.doc_table[row_of[at]]
            sizes[at], mtimes[at] = table["file_size"], table["file_mtime_ns"]
        if self.manifest.skipped:
            for i in np.flatnonzero(where < 0).tolist():
                if (skipped := self.manifest.skipped.get(doc_ids[i])) is not None:
                    sizes[i], mtimes[i] = skipped.size, skipped.mtime_ns
        return sizes, mtimes

    def recorded_ids(self) -> list[str]:
        """Every doc id the store records, indexed or skipped."""
        return [*self._where, *self.manifest.skipped]

    @property
    def document_count(self) -> int:
        return len(self._where)

    @property
    def complete(self) -> bool:
        return self.manifest.complete

    @property
    def metadata_sha256(self) -> str | None:
        return self.manifest.metadata_sha256

    @property
    def skipped_files(self) -> Mapping[str, SkippedFile]:
        return self.manifest.skipped

    # --- where things are -----------------------------------------------------------------

    @cached_property
    def _where(self) -> Mapping[str, int]:
        """doc id -> ``segment << ROW_BITS | row`` of every live document (one dict for the store: a few seconds'
        work saved on every lookup, about 100 bytes a document; ints, so that a scan reads it into numpy)."""
        where: dict[str, int] = {}
        for s, (segment, deleted) in enumerate(zip(self.segments, self._deleted, strict=True)):
            codes = range(s << ROW_BITS, (s << ROW_BITS) + len(segment.doc_ids))
            where.update(zip(segment.doc_ids, codes, strict=True))
            for row in deleted.tolist():
                del where[segment.doc_ids[row]]
        return where

    def _segment_of(self, chunk_id: int) -> tuple[int, int]:
        s = bisect_right(self._first_ids, chunk_id) - 1
        if s < 0 or chunk_id - self._first_ids[s] >= self.segments[s].n_chunks:
            raise KeyError(f"no chunk {chunk_id} in this index")
        return s, chunk_id - self._first_ids[s]

    def _locate(self, doc_id: str) -> tuple[int, int]:
        try:
            where = self._where[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in this index") from None
        return where >> ROW_BITS, where & ROW_MASK

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

    def with_segment(self, contents: Contents, skipped: Mapping[str, SkippedFile]) -> LocalStore:
        """This store plus ``contents`` as one more segment held in memory, never saved (a session's uploads);
        its `skipped` are the ``skipped`` uploads only.  BM25 counts the chunks of both."""
        segment = StoredSegment.of("uploads", contents)
        entry = SegmentEntry("uploads", self.manifest.next_id, segment.n_chunks, len(segment.doc_ids), {})
        manifest = replace(
            self.manifest,
            segments=(*self.manifest.segments, entry),
            next_id=self.manifest.next_id + segment.n_chunks,
            skipped=dict(skipped),
        )
        store = LocalStore(None, manifest, (*self.segments, segment), (*self._deleted, np.zeros(0, dtype=np.int64)))
        first = len(self.segments) << ROW_BITS
        uploaded = dict(zip(segment.doc_ids, range(first, first + len(segment.doc_ids)), strict=True))
        store._where = ChainMap(uploaded, self._where)  # the shared store's table, not a copy per session
        return store

    # --- the store protocol ---------------------------------------------------------------

    @property
    def info(self) -> StoreInfo:
        return self.manifest.info

    @property
    def skipped(self) -> dict[str, str]:
        return {d: s.reason for d, s in self.manifest.skipped.items()}

    def __len__(self) -> int:
        return self._statistics.chunks

    def chunk(self, chunk_id: int) -> Chunk:
        s, row = self._segment_of(chunk_id)
        return self.segments[s].chunk(row)

    def chunk_ids(self) -> Iterator[int]:
        """Every live chunk's id, ascending (segments hold ascending id ranges, a merged one the highest)."""
        for segment, live, first in zip(self.segments, self._live, self._first_ids, strict=True):
            rows = range(segment.n_chunks) if live is None else np.flatnonzero(live).tolist()
            yield from (first + row for row in rows)

    def document(self, doc_id: str) -> Document:
        s, row = self._locate(doc_id)
        try:
            return self.segments[s].document(row)
        except SegmentError as exc:
            raise IndexFormatError(str(exc)) from exc

    def has_document(self, doc_id: str) -> bool:
        return doc_id in self._where

    def doc_ids(self) -> Iterator[str]:
        """Every indexed document's id, sorted (a corpus's file-name order), whichever segment holds it."""
        return iter(self._sorted_ids)

    @cached_property
    def _sorted_ids(self) -> list[str]:
        return sorted(self._where)

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
        """Live chunks holding each term, remembered for the last questions' terms (each question asks three times:
        its term weights, the BM25 list and the BM25 scores of the dense list)."""
        return dict(self._frequencies(tuple(sorted(set(terms)))))

    def _counted(self, terms: tuple[str, ...]) -> dict[str, int]:
        return bm25.document_frequencies(self._parts, list(terms))

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        ids, scores = [], []
        for segment, allowed, first in zip(self.segments, self._allowed(filters), self._first_ids, strict=True):
            rows, found = segment.dense_search(vector, n, allowed)
            ids.append(rows + first)
            scores.append(found)
        if not ids:
            return Hits.empty()
        all_ids, all_scores = np.concatenate(ids), np.concatenate(scores)
        order = np.lexsort((all_ids, -all_scores))[:n]
        return Hits(all_ids[order], all_scores[order].astype(np.float32))

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        scored = bm25.scores(
            self._parts,
            self._statistics,
            bm25.tokenize([text])[0],
            allowed=self._allowed(filters),
            frequencies=self.document_frequencies,
        )
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
        scored = bm25.scores(
            self._parts, self._statistics, bm25.tokenize([text])[0], only=only, frequencies=self.document_frequencies
        )
        found = {
            (s, int(r)): float(v) for s, (rows, values) in enumerate(scored) for r, v in zip(rows, values, strict=True)
        }
        for i, key in enumerate(located):
            out[i] = found.get(key, 0.0)
        return out

    def prefetch(self, chunk_ids: Sequence[int]) -> None:
        """Nothing to do: a chunk's rows are a memory-mapped read away."""


def corpus_path(folder: Path | None, manifest: Manifest) -> Path:
    """The corpus folder a store in ``folder`` indexes (a relative record is relative to the folder's parent)."""
    path = Path(manifest.corpus_dir)
    if path.is_absolute() or folder is None:
        return path
    return folder.resolve().parent / path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _live_chunks(entry: SegmentEntry) -> int:
    return entry.chunks if entry.live_chunks < 0 else entry.live_chunks


def _deleted_rows(folder: Path | None, entry: SegmentEntry) -> np.ndarray:
    if entry.deletes is None or folder is None:
        return np.zeros(0, dtype=np.int64)
    return np.load(folder / DELETES / entry.deletes, allow_pickle=False)
