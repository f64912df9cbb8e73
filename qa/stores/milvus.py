"""The store protocol over Milvus: a Milvus Lite file on one machine, a Milvus server or cluster beyond it.

Five collections named after ``collection`` (default ``qa``) hold what the local store's segments hold:

- ``<c>_chunks``: a row per chunk: its span, section and outlet, its vector (``dense``, FLAT, cosine), and its BM25
  tokens (``lexical``, the tokens `qa.stores.lexical.tokenize` gives, joined by spaces) from which Milvus computes
  the ``sparse`` BM25 field itself (its BM25 function: Lucene's IDF, k1 1.5, b 0.75, as ours);
- ``<c>_sentences``: a row per sentence of a chunk (span and vector), for the second stage and highlights;
- ``<c>_documents``: each document as JSON in parts of `PART_CHARS` characters (a VARCHAR holds 64 KB), with its
  text's sha256 and its file's stat; a skipped file is a row too (part -1), with why;
- ``<c>_terms``: document frequencies, a row per term keyed by its hash: its count as of the commit that last
  changed it, and the count before (what a reader of the commit before sees);
- ``<c>_manifest``: one row, the commit point: model and chunking, corpus, generation, chunk count, outlets.

Commits.  Every row carries the generation that wrote it; readers ask for ``gen <= G``, G the manifest's, so an
add is invisible until its manifest row is written, and one killed before that leaves rows above G that the next
writer deletes.  A removal (and the old rows of a changed document) is first written into the manifest as
``tombstones`` that every search excludes, then deleted, then the tombstones cleared: killed in between, the
next writer finishes it.  One writer at a time: a writer reserves the next generation in the manifest and checks
that its reservation held before it writes a row; another writer meanwhile gets `IndexLockedError`.

Reads.  Every read of a question is a search or a lookup by primary key (the fastest path of any Milvus): a
search returns its chunks' rows; a chunk row names its generation and its sentence count, which give the keys of
its sentences and of its document's parts; `prefetch` reads the candidates the second stage is about to score in
three calls.

Faults.  Every call has a timeout (``timeout``, 10 s by default); a server that is down or slow raises
`StoreUnavailableError` naming the URI, never hangs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Literal

import numpy as np

from qa.cache import FREQUENCIES_KEPT, ChunkCache
from qa.chunking import Chunk
from qa.documents import Document, Segment
from qa.filters import NO_FILTERS, SECTIONS, Filters
from qa.folders import FolderLockedError
from qa.stores import Hits, IndexFormatError, StaleIndexError, StoreInfo
from qa.stores import lexical as bm25
from qa.stores.segment import Contents, FileStat, SkippedFile, text_sha256

FORMAT = 2
PART_CHARS = 16_000  # of a document's JSON per row: at most 64 KB in UTF-8, a server's VARCHAR limit
MAX_TEXT = 65_535
SENTENCE_SLOTS = 1 << 12  # sentence row id = chunk id * SENTENCE_SLOTS + its place in the chunk
BATCH = 2_000  # rows per insert call
RESERVATION_S = 900.0  # a writer's reservation older than this was left by a writer that died
LIST_BATCH = 1_000  # ids per `in [...]` filter
LIST_PAGE = 10_000  # rows per page of a listing
PARTS_GUESSED = 4  # parts of a document asked for at once (more only where its first part says so)
CHUNK_FIELDS = ["id", "gen", "doc_id", "start", "end", "section", "source", "sentences"]
KINDS = ("chunks", "sentences", "documents", "terms", "manifest")
INSTALL = 'the Milvus store needs pymilvus and milvus-lite: pip install "qa[milvus]"'


class StoreUnavailableError(RuntimeError):
    """The Milvus server (or Lite file) cannot be reached or did not answer in time; the message names it."""


def _client_module():
    # gRPC's C core logs keepalive notices ("too_many_pings") to stderr; a failed call reaches the user as an
    # exception (`StoreUnavailableError`), so its log lines are only noise.  Set before gRPC starts.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        import pymilvus
    except ImportError as exc:  # pragma: no cover - the extra is installed where the tests run
        raise ImportError(INSTALL) from exc
    # Milvus Lite keeps no timestamps for iterators, and pymilvus warns of it at every page of a listing
    logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_not_about_timestamps)
    return pymilvus


def _not_about_timestamps(record: logging.LogRecord) -> bool:
    return "mvccTs" not in record.getMessage()


@dataclass(frozen=True)
class MilvusManifest:
    """The commit point, one JSON row of ``<c>_manifest``."""

    info: StoreInfo
    corpus_dir: str = ""
    generation: int = 0  # rows with gen <= generation are committed
    next_id: int = 0  # the first chunk id of the next add
    chunks: int = 0  # live chunks (BM25's N)
    documents: int = 0
    sources: tuple[str, ...] = ()  # outlets live chunks name (a superset after removals until recounted)
    complete: bool = True
    metadata_sha256: str | None = None
    tombstones: dict[str, int] = field(default_factory=dict)  # doc id -> the last generation whose rows are dead
    reserved: str = ""  # the writer holding the next generation (a token), or ""
    format_version: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> MilvusManifest:
        data = json.loads(text)
        if data.get("format_version") != FORMAT:
            raise StaleIndexError(f"a Milvus store of format {data.get('format_version')}, not {FORMAT}: rebuild it")
        data["info"] = StoreInfo(**data["info"])
        data["sources"] = tuple(data["sources"])
        return cls(**data)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _in(field_name: str, values: Sequence[str] | Sequence[int]) -> str:
    return f"{field_name} in [{', '.join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


def _term_id(term: str) -> int:
    digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # a positive int64


def _sentence_key(chunk_id: int, place: int) -> int:
    """The primary key of the chunk's sentence at ``place`` (0 for its first)."""
    return chunk_id * SENTENCE_SLOTS + place


def _sentence_keys(chunk_id: int, count: int) -> list[int]:
    """The primary keys of a chunk's ``count`` sentences, in order."""
    return [_sentence_key(chunk_id, j) for j in range(count)]


def _term_row(term: str, generation: int, count: int, before: int) -> dict:
    """A term's row: its count as ``generation`` committed it, and its count before."""
    return {"id": _term_id(term), "gen": generation, "term": term, "count": count, "before": before,
            "nothing": [0.0, 0.0]}  # fmt: skip


def _document_key(doc_id: str, generation: int, part: int | str) -> str:
    return f"{doc_id}\0{generation}\0{part}"


def _parts(body: str) -> list[str]:
    """A document's JSON cut into rows of `PART_CHARS` characters."""
    return [body[i : i + PART_CHARS] for i in range(0, len(body), PART_CHARS)]


@dataclass(frozen=True)
class _ChunkRow:
    """A chunk as its row holds it: the chunk, and the generation and sentence count that give its other keys."""

    chunk: Chunk
    generation: int
    sentences: int

    @classmethod
    def of(cls, row: Mapping) -> _ChunkRow:
        chunk = Chunk(row["doc_id"], int(row["start"]), int(row["end"]), SECTIONS[int(row["section"])],
                      row["source"] or None)  # fmt: skip
        return cls(chunk, int(row["gen"]), int(row["sentences"]))


class MilvusStore:
    """The store protocol over Milvus collections; each write returns the next state (a new object).

    >>> store = MilvusStore.connect("./qa.db")  # doctest: +SKIP
    >>> engine = qa.build("data", store=store)  # doctest: +SKIP
    """

    def __init__(self, uri: str, collection: str = "qa", *, token: str | None = None, timeout: float = 10.0):
        """Connect to ``uri`` (a Lite file ``./qa.db`` or a server ``http://host:19530``, with its ``token`` if it
        asks for one) and read the committed state of ``collection`` (``manifest`` None: there is no store yet,
        `qa.build` makes one).  Every call waits at most ``timeout`` seconds."""
        _check_name(collection)
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, not {timeout!r}")
        self.uri, self.collection, self.timeout = uri, collection, timeout
        pymilvus = _client_module()
        try:
            self.client = pymilvus.MilvusClient(uri=uri, token=token or "", timeout=timeout)
        except Exception as exc:  # pymilvus raises several kinds for one cause: the server is not there
            raise StoreUnavailableError(f"cannot reach Milvus at {uri}: {exc}") from exc
        self.manifest: MilvusManifest | None = _read_manifest(self.client, collection, timeout)
        self._caches()
        if self.manifest is not None:
            for kind in KINDS[:-1]:
                self._call("load_collection", collection_name=self._name(kind))

    def _caches(self) -> None:
        self._chunks = ChunkCache(self._read_chunk)
        self._sentences = ChunkCache(self._read_sentences)
        self._documents = ChunkCache(self._read_document)
        self._generations = ChunkCache(self._generation_of)  # doc id -> the generation of its rows
        self._frequencies = ChunkCache(self._counted, FREQUENCIES_KEPT)

    def _at(
        self,
        manifest: MilvusManifest,
        recorded: dict[str, FileStat] | None = None,
        skipped: dict[str, SkippedFile] | None = None,
    ) -> MilvusStore:
        """This connection at another committed state (a new object: a reader keeps the state it started with),
        with what its documents' files are where the writer knows it (else listed when first asked)."""
        other = MilvusStore.__new__(MilvusStore)
        other.uri, other.collection, other.timeout, other.client = self.uri, self.collection, self.timeout, self.client
        other.manifest = manifest
        other._caches()
        if recorded is not None:
            other.__dict__["_recorded"] = recorded
        if skipped is not None:
            other.__dict__["skipped_files"] = skipped
        return other

    def _listings(self) -> dict:
        """The listings of documents and skipped files this object has made, to hand to a state with the same
        rows (`_at`)."""
        return {"recorded": self.__dict__.get("_recorded"), "skipped": self.__dict__.get("skipped_files")}

    @property
    def _m(self) -> MilvusManifest:
        if self.manifest is None:
            raise IndexFormatError(
                f"no qa store {self.collection!r} at {self.uri}: build one with `qa index --milvus {self.uri}`"
            )
        return self.manifest

    def created(self, info: StoreInfo, corpus_dir: str = "") -> MilvusStore:
        """An empty store, committed as incomplete (a build fills it), in place of what the collections held."""
        for kind in KINDS:
            self._call("drop_collection", collection_name=self._name(kind))
        store = self._at(MilvusManifest(info, corpus_dir, complete=False))
        for kind in KINDS:
            store._create(kind)
        store._write_manifest(store.manifest)
        return store

    def corpus_path(self) -> Path:
        """The corpus folder this store was built from (as the building machine named it)."""
        return Path(self._m.corpus_dir)

    def close(self) -> None:
        """Release the connection (and a Lite file, so that another process can open it)."""
        self.client.close()
        if self._lite:
            try:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(os.path.abspath(self.uri))
            except Exception:  # another Lite version: the file is released when the process ends
                pass

    # --- the schema ------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"{self.collection}_{kind}"

    def _create(self, kind: str) -> None:
        pymilvus = _client_module()
        DataType, Function, FunctionType = pymilvus.DataType, pymilvus.Function, pymilvus.FunctionType
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        index = self.client.prepare_index_params()
        dim = self._m.info.dim
        if kind == "chunks":
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("gen", DataType.INT64)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("start", DataType.INT64)
            schema.add_field("end", DataType.INT64)
            schema.add_field("section", DataType.INT8)
            schema.add_field("source", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("sentences", DataType.INT64)  # its sentences' keys: id * SENTENCE_SLOTS + 0, 1, …
            schema.add_field("lexical", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["lexical"],
                    output_field_names=["sparse"],
                )
            )
            index.add_index("dense", index_type="FLAT", metric_type="COSINE")
            # k1 and b nested under "params": the form both a server and Lite read
            index.add_index(
                "sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"params": {"bm25_k1": bm25.K1, "bm25_b": bm25.B}},
            )
        elif kind == "sentences":
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("gen", DataType.INT64)
            schema.add_field("chunk_id", DataType.INT64)
            schema.add_field("start", DataType.INT64)
            schema.add_field("end", DataType.INT64)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            index.add_index("vector", index_type="FLAT", metric_type="COSINE")
        elif kind == "documents":
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_TEXT)
            schema.add_field("gen", DataType.INT64)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("part", DataType.INT64)  # -1: a skipped file
            schema.add_field("parts", DataType.INT64)
            schema.add_field("body", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("text_sha256", DataType.VARCHAR, max_length=64)
            schema.add_field("file_size", DataType.INT64)
            schema.add_field("file_mtime_ns", DataType.INT64)
            schema.add_field("file_sha256", DataType.VARCHAR, max_length=64)
            schema.add_field("chunks", DataType.INT64)
            schema.add_field("nothing", DataType.FLOAT_VECTOR, dim=2)  # a collection needs a vector field
            index.add_index("nothing", index_type="FLAT", metric_type="L2")
        elif kind == "terms":
            schema.add_field("id", DataType.INT64, is_primary=True)  # `_term_id(term)`
            schema.add_field("gen", DataType.INT64)  # the commit that set count
            schema.add_field("term", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("count", DataType.INT64)
            schema.add_field("before", DataType.INT64)  # the count before that commit
            schema.add_field("nothing", DataType.FLOAT_VECTOR, dim=2)
            index.add_index("nothing", index_type="FLAT", metric_type="L2")
        else:
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("nothing", DataType.FLOAT_VECTOR, dim=2)
            index.add_index("nothing", index_type="FLAT", metric_type="L2")
        self._call("create_collection", collection_name=self._name(kind), schema=schema, index_params=index)

    # --- calls -------------------------------------------------------------------------------

    def _call(self, method: str, **kwargs):
        """``client.<method>(**kwargs)`` within the store's timeout; `StoreUnavailableError` when it fails to
        answer (a down or slow server), the server's own error otherwise."""
        try:
            return getattr(self.client, method)(timeout=self.timeout, **kwargs)
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailableError(f"Milvus at {self.uri} did not answer {method} ({exc})") from exc
            raise

    def _query(self, kind: str, expr: str, fields: list[str], limit: int | None = None) -> list[dict]:
        kwargs = {"limit": limit} if limit is not None else {}
        return self._call(
            "query", collection_name=self._name(kind), filter=expr, output_fields=fields, **kwargs
        )

    def _listed(self, kind: str, expr: str, fields: list[str]) -> list[dict]:
        """Every row ``expr`` matches, read in pages (a server caps what one query returns)."""
        pages = self._call(
            "query_iterator", collection_name=self._name(kind), filter=expr, output_fields=fields, batch_size=LIST_PAGE
        )
        rows: list[dict] = []
        try:
            while page := pages.next():
                rows.extend(page)
        finally:
            pages.close()
        return rows

    def _visible(self) -> str:
        """The rows a reader of this state sees: committed, and not of a removed or replaced document."""
        expr = f"gen <= {self._m.generation}"
        for doc_id, dead in sorted(self._m.tombstones.items()):
            expr += f" and not (doc_id == {_quote(doc_id)} and gen <= {dead})"
        return expr

    def _where(self, filters: Filters) -> str:
        expr = self._visible()
        if filters.documents is not None:
            expr += " and " + _in("doc_id", sorted(filters.documents))
        if filters.sources is not None:
            expr += " and " + _in("source", sorted(filters.sources))
        if filters.sections is not None:
            expr += " and " + _in("section", sorted(SECTIONS.index(s) for s in filters.sections))
        return expr

    # --- the store protocol --------------------------------------------------------------------

    @property
    def info(self) -> StoreInfo:
        return self._m.info

    @cached_property
    def skipped_files(self) -> dict[str, SkippedFile]:
        rows = self._listed("documents", f"part == -1 and {self._visible()}", ["doc_id", "body", "file_size",
                                                                             "file_mtime_ns", "file_sha256"])
        return {
            r["doc_id"]: SkippedFile(r["body"], int(r["file_size"]), int(r["file_mtime_ns"]), r["file_sha256"])
            for r in sorted(rows, key=lambda r: r["doc_id"])
        }

    @property
    def skipped(self) -> dict[str, str]:
        return {d: s.reason for d, s in self.skipped_files.items()}

    def __len__(self) -> int:
        return self._m.chunks

    @property
    def document_count(self) -> int:
        return self._m.documents

    @property
    def complete(self) -> bool:
        return self._m.complete

    @property
    def metadata_sha256(self) -> str | None:
        return self._m.metadata_sha256

    def chunk(self, chunk_id: int) -> Chunk:
        return self._chunks(int(chunk_id)).chunk

    def _read_chunk(self, chunk_id: int) -> _ChunkRow:
        if chunk_id not in (found := self._read_chunks([chunk_id])):
            raise KeyError(f"no chunk {chunk_id} in this index")
        return found[chunk_id]

    def _got(self, kind: str, keys: Sequence[int] | Sequence[str], fields: list[str]) -> list[dict]:
        """The rows of ``kind`` whose primary keys are ``keys`` (those that exist), `LIST_BATCH` keys a call."""
        rows: list[dict] = []
        for batch in _batches(list(keys), LIST_BATCH):
            rows += self._call("get", collection_name=self._name(kind), ids=list(batch), output_fields=fields)
        return rows

    def _read_chunks(self, chunk_ids: Sequence[int]) -> dict[int, _ChunkRow]:
        """The visible rows of ``chunk_ids`` by primary key, remembered (with their documents' generations)."""
        return self._remembered(self._got("chunks", chunk_ids, CHUNK_FIELDS))

    def _remembered(self, rows: Sequence[Mapping]) -> dict[int, _ChunkRow]:
        """The visible ones of chunk ``rows`` (a lookup's or a search's), put in the caches."""
        found = {}
        for r in rows:
            if self._alive(r["doc_id"], int(r["gen"])):
                found[int(r["id"])] = row = _ChunkRow.of(r)
                self._chunks.put(int(r["id"]), row)
                self._generations.put(row.chunk.doc_id, row.generation)
        return found

    def _alive(self, doc_id: str, generation: int) -> bool:
        """Whether a row of ``doc_id`` written by ``generation`` is in this state (`_visible` as a test)."""
        return generation <= self._m.generation and generation > self._m.tombstones.get(doc_id, -1)

    def prefetch(self, chunk_ids: Sequence[int]) -> None:
        """The chunks' rows, their sentences and their documents read in three lookups by key."""
        ids = [int(i) for i in chunk_ids]
        self._read_chunks([i for i in ids if i not in self._chunks])
        rows = {i: self._chunks(i) for i in ids if i in self._chunks}
        unread = {i: r for i, r in rows.items() if i not in self._sentences}
        found = self._sentence_rows([k for i, r in unread.items() for k in _sentence_keys(i, r.sentences)])
        for i, r in unread.items():
            self._sentences.put(i, _sentence_arrays(found, i, r.sentences, self.info.dim))
        wanted = {r.chunk.doc_id: r.generation for r in rows.values() if r.chunk.doc_id not in self._documents}
        for doc_id, document in self._read_documents(wanted).items():
            self._documents.put(doc_id, document)

    def chunk_ids(self) -> Iterator[int]:
        rows = self._listed("chunks", self._visible(), ["id"])
        return iter(sorted(int(r["id"]) for r in rows))

    def document(self, doc_id: str) -> Document:
        return self._documents(doc_id)

    def _read_document(self, doc_id: str) -> Document:
        if doc_id not in (found := self._read_documents({doc_id: self._generations(doc_id)})):
            raise KeyError(f"no document {doc_id!r} in this index")
        return found[doc_id]

    def _generation_of(self, doc_id: str) -> int:
        """The generation of ``doc_id``'s rows in this state (-1: none), where no chunk row read has told it."""
        rows = self._query("documents", f"doc_id == {_quote(doc_id)} and part == 0 and {self._visible()}", ["gen"])
        return int(rows[0]["gen"]) if rows else -1

    def _read_documents(self, generations: Mapping[str, int]) -> dict[str, Document]:
        """The documents of ``generations`` (doc id -> the generation of its rows), their parts read by key."""
        keys = [_document_key(d, g, p) for d, g in generations.items() if g >= 0 for p in range(PARTS_GUESSED)]
        fields = ["doc_id", "part", "parts", "body", "text_sha256"]
        rows: dict[str, list[dict]] = {}
        for r in self._got("documents", keys, fields):
            rows.setdefault(r["doc_id"], []).append(r)
        for doc_id, parts in rows.items():
            if (count := int(parts[0]["parts"])) > PARTS_GUESSED:
                more = [_document_key(doc_id, generations[doc_id], p) for p in range(PARTS_GUESSED, count)]
                parts += self._got("documents", more, fields)
        return {doc_id: self._document_of(doc_id, parts) for doc_id, parts in rows.items()}

    def _document_of(self, doc_id: str, rows: list[dict]) -> Document:
        """A document from its parts, its text checked against the hash written with it."""
        rows.sort(key=lambda r: r["part"])
        if [r["part"] for r in rows] != list(range(int(rows[0]["parts"]))):
            raise IndexFormatError(f"{self.uri} {self._name('documents')}: parts of {doc_id!r} are missing; rebuild")
        fields = json.loads("".join(r["body"] for r in rows))
        fields["segments"] = [Segment(**s) for s in fields["segments"]]
        document = Document(**fields)
        if text_sha256(document.text).hex() != rows[0]["text_sha256"]:
            raise IndexFormatError(
                f"{self.uri} {self._name('documents')}: the text of {doc_id!r} is not what was indexed; rebuild"
            )
        return document

    def has_document(self, doc_id: str) -> bool:
        return doc_id in self._recorded

    def doc_ids(self) -> Iterator[str]:
        return iter(self._sorted_ids)

    @cached_property
    def _sorted_ids(self) -> list[str]:
        return sorted(self._recorded)

    @cached_property
    def _recorded(self) -> dict[str, FileStat]:
        """doc id -> its file's stat, of every indexed document (one listing per store object)."""
        rows = self._listed("documents", f"part == 0 and {self._visible()}",
                           ["doc_id", "file_size", "file_mtime_ns", "file_sha256"])
        return {r["doc_id"]: FileStat(int(r["file_size"]), int(r["file_mtime_ns"]), r["file_sha256"]) for r in rows}

    def sources(self) -> list[str]:
        return list(self._m.sources)

    def sentences_of(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self._sentences(int(chunk_id))

    def _read_sentences(self, chunk_id: int) -> tuple[np.ndarray, np.ndarray]:
        count = self._chunks(chunk_id).sentences
        found = self._sentence_rows(_sentence_keys(chunk_id, count))
        return _sentence_arrays(found, chunk_id, count, self.info.dim)

    def _sentence_rows(self, keys: Sequence[int]) -> dict[int, dict]:
        return {int(r["id"]): r for r in self._got("sentences", keys, ["start", "end", "vector"])}

    def vector(self, chunk_id: int) -> np.ndarray:
        if not (rows := self._got("chunks", [int(chunk_id)], ["dense"])):
            raise KeyError(f"no chunk {chunk_id} in this index")
        return np.asarray(rows[0]["dense"], dtype=np.float32)

    def document_frequencies(self, terms: Collection[str]) -> dict[str, int]:
        """Read by key from the terms collection, remembered for the last questions' terms (as the local store
        does: each question asks three times)."""
        return dict(self._frequencies(tuple(sorted(set(terms)))))

    def _counted(self, wanted: Sequence[str]) -> dict[str, int]:
        return {t: n for t, n in self._term_counts(wanted).items() if n > 0}

    def _term_counts(self, terms: Sequence[str]) -> dict[str, int]:
        """Each term's count in this state, of the terms a row has (a reader of the commit before a row's reads
        its count before)."""
        wanted = {_term_id(t): t for t in terms}
        return {
            r["term"]: int(r["count"] if int(r["gen"]) <= self._m.generation else r["before"])
            for r in self._got("terms", list(wanted), ["term", "count", "before", "gen"])
            if wanted.get(int(r["id"])) == r["term"]  # a hash collision reads as no row
        }

    def dense_search(self, vector: np.ndarray, n: int, filters: Filters = NO_FILTERS) -> Hits:
        if n <= 0 or not self._m.chunks:
            return Hits.empty()
        query = [np.asarray(vector, dtype=np.float32).tolist()]
        found = self._searched(query, "dense", "COSINE", n, self._where(filters))
        return _hits([(int(h["id"]), float(h["distance"])) for h in found], n)

    def lexical_search(self, text: str, n: int, filters: Filters = NO_FILTERS) -> Hits:
        tokens = bm25.tokenize([text])[0]
        if n <= 0 or not tokens or not self._m.chunks:
            return Hits.empty()
        return self._bm25(" ".join(tokens), int(n), self._where(filters))

    def _searched(self, data: list, field_name: str, metric: str, n: int, expr: str) -> list[dict]:
        """The ``n`` best chunks of one search of ``field_name`` within ``expr``; their rows come with them and are
        remembered, so that the candidates are not read again one by one."""
        found = self._call(
            "search",
            collection_name=self._name("chunks"),
            data=data,
            anns_field=field_name,
            limit=int(n),
            filter=expr,
            output_fields=CHUNK_FIELDS,
            search_params={"metric_type": metric},
        )[0]
        self._remembered([h["entity"] | {"id": h["id"]} for h in found])
        return found

    def _bm25(self, query: str, n: int, expr: str) -> Hits:
        found = self._searched([query], "sparse", "BM25", n, expr)
        # Milvus Lite gives BM25 as a negative distance, a server as a positive score: the magnitude is the score,
        # Lucene's with the (k1 + 1) factor bm25s leaves out (it ranks the same)
        scale = 1.0 / (bm25.K1 + 1.0)
        return _hits([(int(h["id"]), abs(float(h["distance"])) * scale) for h in found if h["distance"]], n)

    def lexical_scores(self, text: str, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros(len(ids), dtype=np.float32)
        tokens = bm25.tokenize([text])[0]
        if not len(ids) or not tokens:
            return out
        hits = self._bm25(" ".join(tokens), len(ids), f"{_in('id', ids.tolist())} and {self._visible()}")
        scores = dict(zip(hits.ids.tolist(), hits.scores.tolist(), strict=True))
        return np.asarray([scores.get(int(i), 0.0) for i in ids], dtype=np.float32)

    # --- what the corpus scan compares -----------------------------------------------------------

    def recorded(self, doc_id: str) -> FileStat | None:
        if (stat := self._recorded.get(doc_id)) is not None:
            return stat
        skipped = self.skipped_files.get(doc_id)
        return skipped.stat if skipped is not None else None

    def recorded_ids(self) -> list[str]:
        return [*self._recorded, *self.skipped_files]

    def recorded_stats(self, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        stats = [self.recorded(d) for d in doc_ids]
        sizes = np.asarray([-1 if s is None else s.size for s in stats], dtype=np.int64)
        mtimes = np.asarray([-1 if s is None else s.mtime_ns for s in stats], dtype=np.int64)
        return sizes, mtimes

    # --- writing ---------------------------------------------------------------------------------

    def write(
        self,
        *,
        add: Contents | None = None,
        remove: Collection[str] = (),
        skip: Mapping[str, SkippedFile] | None = None,
        complete: bool | None = None,
        metadata_sha256: str | None | bool = False,
    ) -> MilvusStore:
        """The next state, committed (see the module's docstring for how a kill leaves it)."""
        if unknown := [d for d in remove if self.recorded(d) is None]:
            raise KeyError(f"no document {unknown[0]!r} in the Milvus store {self.collection}")
        with _WRITERS:
            base = self._reserved()
            try:
                new = base._write(add, set(remove), dict(skip or {}), complete, metadata_sha256)
            except BaseException:
                base._released()
                raise
            return new._cleared()

    def _write(
        self,
        add: Contents | None,
        remove: set[str],
        skip: dict[str, SkippedFile],
        complete: bool | None,
        metadata_sha256: str | None | bool,
    ) -> MilvusStore:
        """Rows of the next generation written, then the manifest that makes them visible and tombstones the
        rows they replace or remove, in one upsert: killed before it, nothing of this write is seen."""
        m = self._m
        generation = m.generation + 1
        gone = remove | set(skip) | {d.doc_id for d in (add.documents if add is not None else [])}
        dead = {d for d in gone if self.recorded(d) is not None}
        chunks, documents, next_id, sources = m.chunks, m.documents, m.next_id, set(m.sources)
        delta: dict[str, int] = {}
        if dead:
            counted = self._counts_of(dead)
            delta = {t: -n for t, n in counted.terms.items()}
            chunks, documents = chunks - counted.chunks, documents - counted.documents
        if add is not None and add.documents:
            for t, n in self._insert_contents(add, generation, next_id).items():
                delta[t] = delta.get(t, 0) + n
            next_id += len(add.chunks)
            chunks, documents = chunks + len(add.chunks), documents + len(add.documents)
            sources |= {c.source for c in add.chunks if c.source}
        self._update_terms(delta, generation)
        if skip:
            self._insert_skipped(skip, generation)
        listings = self._listings()
        if (recorded := listings["recorded"]) is not None:
            recorded = {d: s for d, s in recorded.items() if d not in gone}
            recorded |= {d.doc_id: f for d, f in zip(add.documents, add.files, strict=True)} if add else {}
        if (skipped := listings["skipped"]) is not None:
            skipped = dict(sorted(({d: s for d, s in skipped.items() if d not in gone} | skip).items()))
        return self._committed(
            replace(
                m,
                generation=generation,
                next_id=next_id,
                chunks=chunks,
                documents=documents,
                sources=tuple(sorted(sources)),
                tombstones={**m.tombstones, **dict.fromkeys(dead, generation - 1)},
                complete=m.complete if complete is None else complete,
                metadata_sha256=m.metadata_sha256 if metadata_sha256 is False else metadata_sha256,
            ),
            recorded=recorded,
            skipped=skipped,
        )

    def merged(self) -> MilvusStore:
        """The rows written so far flushed into Milvus's sealed segments (searched by index, not row by row);
        Milvus merges its segments itself."""
        for kind in KINDS[:-1]:
            self._call("flush", collection_name=self._name(kind))
        return self

    def tidy(self) -> None:
        """Delete the rows of a write that was not committed, and those a committed one removed."""
        with _WRITERS:
            self._reserved()._cleared()

    def _reserved(self) -> MilvusStore:
        """The store as committed now, with the next generation reserved for this writer and what a killed writer
        left rolled back; `IndexLockedError` while another writer holds it (a reservation older than
        `RESERVATION_S` was left by a writer that died, as is any found in a Lite file, which one process holds)."""
        current = _read_manifest(self.client, self.collection, self.timeout)
        if current is None:
            raise IndexFormatError(f"the Milvus store {self.collection} at {self.uri} is gone")
        if current.reserved and not self._lite:
            token, _, since = current.reserved.partition("@")
            if time.time() - float(since or 0) < RESERVATION_S:
                raise FolderLockedError(
                    f"another writer is changing the Milvus store {self.collection} at {self.uri} (since "
                    f"{time.ctime(float(since))}); try again when it is done"
                )
        token = f"{secrets.token_hex(8)}@{time.time():.3f}"
        self._write_manifest(replace(current, reserved=token))
        time.sleep(0.05)  # a second writer's reservation lands in this window: whoever reads another's token yields
        again = _read_manifest(self.client, self.collection, self.timeout)
        if again is None or again.reserved != token:
            raise FolderLockedError(f"another writer is changing the Milvus store {self.collection} at {self.uri}")
        same = self.manifest is not None and again.generation == self.manifest.generation
        store = self._at(again, **(self._listings() if same else {}))
        if current.reserved:  # left by a writer that died: what it wrote is rolled back (else there is nothing)
            store._rolled_back()
        return store

    def _released(self) -> None:
        """After a write that failed: its rows deleted, the reservation given back."""
        self._rolled_back()
        self._write_manifest(replace(self._m, reserved=""))

    @property
    def _lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://", "tcp://", "unix:", "grpc://"))

    def _rolled_back(self) -> None:
        """Delete rows above the committed generation, and give the term rows it changed their count before:
        what a killed write left."""
        expr = f"gen > {self._m.generation}"
        for kind in ("chunks", "sentences", "documents"):
            self._call("delete", collection_name=self._name(kind), filter=expr)
        changed = self._listed("terms", expr, ["term", "before"])
        restored = (_term_row(r["term"], self._m.generation, r["before"], r["before"]) for r in changed)
        self._insert("terms", restored, "upsert")

    def _committed(self, manifest: MilvusManifest, **listings) -> MilvusStore:
        self._write_manifest(manifest)
        return self._at(manifest, **listings)

    def _cleared(self) -> MilvusStore:
        """The tombstoned rows deleted, then the tombstones and the reservation cleared (committed)."""
        if self._m.tombstones:
            for kind in ("chunks", "documents"):
                for batch in _batches(sorted(self._m.tombstones), LIST_BATCH):
                    expr = f"{_in('doc_id', batch)} and gen <= {max(self._m.tombstones[d] for d in batch)}"
                    if kind == "chunks":  # their sentences by key (a filter on chunk_id would scan them all)
                        rows = self._query("chunks", expr, ["id", "sentences"])
                        keys = [k for r in rows for k in _sentence_keys(r["id"], r["sentences"])]
                        for keys_batch in _batches(keys, LIST_BATCH):
                            self._call("delete", collection_name=self._name("sentences"), ids=list(keys_batch))
                    self._call("delete", collection_name=self._name(kind), filter=expr)
        return self._committed(replace(self.manifest, tombstones={}, reserved=""), **self._listings())

    @dataclass
    class _Counts:
        chunks: int
        documents: int
        terms: dict[str, int]

    def _counts_of(self, doc_ids: set[str]) -> MilvusStore._Counts:
        """How many live chunks and documents ``doc_ids`` hold, and their chunks' terms (for the df rows)."""
        terms: dict[str, int] = {}
        chunks = 0
        for batch in _batches(sorted(doc_ids), LIST_BATCH):
            for r in self._query("chunks", f"{_in('doc_id', batch)} and {self._visible()}", ["lexical"]):
                chunks += 1
                for t in set(r["lexical"].split()):
                    terms[t] = terms.get(t, 0) + 1
        return MilvusStore._Counts(chunks, len([d for d in doc_ids if d in self._recorded]), terms)

    def _insert(self, kind: str, rows: Iterable[dict], method: Literal["insert", "upsert"] = "insert") -> None:
        """``rows`` inserted (or upserted) `BATCH` at a time (made as they go: a segment's rows as lists of floats
        would take ten times its arrays' memory)."""
        rows = iter(rows)
        while batch := list(islice(rows, BATCH)):
            self._call(method, collection_name=self._name(kind), data=batch)

    def _update_terms(self, delta: Mapping[str, int], generation: int) -> None:
        """Each changed term's row rewritten with its count at ``generation`` and, as ``before``, its count now."""
        changed = [t for t, n in delta.items() if n]
        now = self._term_counts(changed)
        rows = (_term_row(t, generation, now.get(t, 0) + delta[t], now.get(t, 0)) for t in changed)
        self._insert("terms", rows, "upsert")

    def _insert_contents(self, add: Contents, generation: int, first_id: int) -> dict[str, int]:
        """The rows of ``add`` inserted at ``generation``; returns how many of its chunks hold each term."""
        offsets = add.sentence_offsets
        counts = Counter(c.doc_id for c in add.chunks)
        self._insert("documents", (
            {"key": _document_key(document.doc_id, generation, p), "gen": generation, "doc_id": document.doc_id,
             "part": p, "parts": len(parts), "body": piece, "text_sha256": text_sha256(document.text).hex(),
             "file_size": stat.size, "file_mtime_ns": stat.mtime_ns, "file_sha256": stat.sha256,
             "chunks": counts[document.doc_id], "nothing": [0.0, 0.0]}
            for document, stat in zip(add.documents, add.files, strict=True)
            for parts in [_parts(json.dumps(asdict(document), ensure_ascii=False))]
            for p, piece in enumerate(parts)
        ))  # fmt: skip
        self._insert("sentences", (
            {"id": _sentence_key(first_id + i, j - int(offsets[i])), "gen": generation, "chunk_id": first_id + i,
             "start": int(add.sentence_spans[j, 0]), "end": int(add.sentence_spans[j, 1]),
             "vector": add.sentence_vectors[j].astype(np.float32).tolist()}
            for i in range(len(add.chunks)) for j in range(int(offsets[i]), int(offsets[i + 1]))
        ))  # fmt: skip
        self._insert("chunks", (
            {"id": first_id + i, "gen": generation, "doc_id": c.doc_id, "start": c.start, "end": c.end,
             "section": SECTIONS.index(c.section), "source": c.source or "", "lexical": " ".join(tokens),
             "sentences": int(offsets[i + 1] - offsets[i]), "dense": add.vectors[i].tolist()}
            for i, (c, tokens) in enumerate(zip(add.chunks, add.tokens, strict=True))
        ))  # fmt: skip
        return dict(Counter(t for tokens in add.tokens for t in set(tokens)))

    def _insert_skipped(self, skip: Mapping[str, SkippedFile], generation: int) -> None:
        self._insert(
            "documents",
            [{"key": _document_key(d, generation, "skipped"), "gen": generation, "doc_id": d, "part": -1, "parts": 0,
              "body": s.reason[:PART_CHARS], "text_sha256": "", "file_size": s.size, "file_mtime_ns": s.mtime_ns,
              "file_sha256": s.sha256, "chunks": 0, "nothing": [0.0, 0.0]} for d, s in skip.items()],
        )

    def _write_manifest(self, manifest: MilvusManifest) -> None:
        row = {"key": "manifest", "value": manifest.to_json(), "nothing": [0.0, 0.0]}
        self._call("upsert", collection_name=self._name("manifest"), data=[row])
        self.client.flush(self._name("manifest"))


_WRITERS = threading.Lock()  # one writer at a time within a process (across processes: the reservation)


def _read_manifest(client, collection: str, timeout: float) -> MilvusManifest | None:
    name = f"{collection}_manifest"
    try:
        if not client.has_collection(name, timeout=timeout):
            return None
        client.load_collection(name, timeout=timeout)
        rows = client.query(name, filter='key == "manifest"', output_fields=["value"], timeout=timeout)
    except Exception as exc:
        if _unavailable(exc):
            raise StoreUnavailableError(f"Milvus did not answer for {name} ({exc})") from exc
        raise
    return MilvusManifest.from_json(rows[0]["value"]) if rows else None


def _unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is down or slow (not that the request was wrong)."""
    try:
        import grpc
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, grpc.RpcError):
        return exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
    text = str(exc).lower()
    return any(s in text for s in ("deadline", "unavailable", "fail connecting", "timeout", "timed out"))


def _hits(pairs: list[tuple[int, float]], n: int) -> Hits:
    """Best first, ties by lower id (as the local store orders them)."""
    pairs = sorted(pairs, key=lambda p: (-p[1], p[0]))[:n]
    if not pairs:
        return Hits.empty()
    ids, scores = zip(*pairs, strict=True)
    return Hits(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32))


def _sentence_arrays(rows: Mapping[int, dict], chunk_id: int, count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's sentence spans and vectors (float16, as the local store keeps them) from its sentence rows."""
    mine = [rows[k] for k in _sentence_keys(chunk_id, count) if k in rows]
    spans = np.asarray([[r["start"], r["end"]] for r in mine], dtype=np.int64).reshape(-1, 2)
    vectors = np.asarray([r["vector"] for r in mine], dtype=np.float32).reshape(-1, dim)
    return spans, vectors.astype(np.float16)


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_name(collection: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", collection):
        raise ValueError(f"a Milvus collection name is letters, digits and _, not {collection!r}")


__all__ = ["MilvusManifest", "MilvusStore", "StoreUnavailableError"]
