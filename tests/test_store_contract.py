"""The store contract: every store answers the engine's questions alike (`qa.stores.Store`).

The same tests run against each store over the same documents, checked
against a reference computed here from the same chunks: bm25s over their
BM25 tokens, exact cosine over their vectors.  The local store runs in one
segment, in several, after deletions and additions, after a merge, reopened
from disk, and with a session's uploads in memory over it.  The next store
(Milvus) joins the ``store`` fixture's list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
import pytest

import qa
import qa.stores.vectors
from qa import folders
from qa.filters import Filters
from qa.index import segment_contents
from qa.scan import stat_of
from qa.stores import IndexFormatError, Store, StoreInfo
from qa.stores.lexical import tokenize
from qa.stores.local import MANIFEST, SEGMENTS, LocalStore
from qa.stores.segment import SAMPLED, Contents, FileStat
from tests.conftest import TINY_DOCS, write_corpus

QUESTIONS = ["Do quokkas smile on Rottnest Island?", "volcano erupted lava airport", "sourdough starter flour", "zzz"]


def stats(corpus: Path, documents: list[qa.Document]) -> list[FileStat]:
    """Each document's file stat, as the corpus scan records it."""
    return [stat_of(corpus / d.doc_id) for d in documents]


def contents(corpus: Path, documents: list[qa.Document], embedder) -> Contents:
    return segment_contents(documents, stats(corpus, documents), embedder=embedder)


def local_store(
    folder: Path, corpus: Path, documents: list[qa.Document], embedder, groups: list[list[int]]
) -> LocalStore:
    """A store of ``documents`` with one segment per group of document positions."""
    info = StoreInfo(embedder.name, embedder.version, embedder.dim, embedder.runtime, qa.ChunkingSettings().to_dict())
    store = LocalStore.create(folder, info)
    for group in groups:
        store = store.write(add=contents(corpus, [documents[i] for i in group], embedder))
    return store


@dataclass
class Reference:
    """The chunks of some documents and what every store must answer about them, computed directly."""

    chunks: list[qa.Chunk]
    vectors: np.ndarray
    bm25: bm25s.BM25
    tokens: list[list[str]]

    @classmethod
    def of(cls, contents: Contents) -> Reference:
        bm25 = bm25s.BM25()
        bm25.index(contents.tokens, show_progress=False)
        return cls(contents.chunks, contents.vectors, bm25, contents.tokens)

    def lexical(self, text: str, n: int) -> tuple[list[qa.Chunk], np.ndarray]:
        tokens = [t for t in tokenize([text])[0] if t in self.bm25.vocab_dict]
        scores = self.bm25.get_scores(tokens) if tokens else np.zeros(len(self.chunks))
        order = [i for i in np.argsort(-scores, kind="stable")[:n] if scores[i] > 0]
        return [self.chunks[i] for i in order], scores[order]

    def dense(self, vector: np.ndarray, n: int) -> np.ndarray:
        return np.sort(self.vectors @ vector)[::-1][:n]

    def document_frequencies(self, terms: list[str]) -> dict[str, int]:
        counts = {t: sum(t in set(row) for row in self.tokens) for t in terms}
        return {t: c for t, c in counts.items() if c}


@pytest.fixture
def documents(tiny_corpus: Path) -> list[qa.Document]:
    return qa.load_corpus(tiny_corpus)


@pytest.fixture
def reference(documents, tiny_corpus, hash_embedder) -> Reference:
    return Reference.of(contents(tiny_corpus, documents, hash_embedder))


STORES = [
    "one segment",
    "two segments",
    "deleted and added again",
    "merged",
    "reopened",
    "uploads over a store",
    "quantized",
]


MILVUS_STORES = ["milvus", "milvus after a removal and an add", "milvus reopened"]


@pytest.fixture(scope="session")
def milvus_states(tmp_path_factory, hash_embedder):
    """Each Milvus state of the contract, made once per session in one Milvus Lite file (read, never written)."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from qa.stores.milvus import MilvusStore

    root = tmp_path_factory.mktemp("milvus-contract")
    corpus = write_corpus(root / "corpus", TINY_DOCS)
    documents = qa.load_corpus(corpus)
    uri = str(root / "contract.db")
    info = StoreInfo(
        hash_embedder.name, hash_embedder.version, hash_embedder.dim, hash_embedder.runtime,
        qa.ChunkingSettings().to_dict(),
    )  # fmt: skip
    made: dict[str, Store] = {}

    def state(name: str) -> Store:
        if name not in made:
            collection = "c" + str(MILVUS_STORES.index(name))
            store = MilvusStore(uri, collection).created(info, str(corpus))
            if name == "milvus after a removal and an add":
                store = store.write(add=contents(corpus, documents, hash_embedder)).write(remove=["alpha.txt"])
                store = store.write(add=contents(corpus, documents[:1], hash_embedder), complete=True)
            else:
                store = store.write(add=contents(corpus, documents, hash_embedder), complete=True)
            store = store.merged()  # one flush after the writes: Milvus Lite keeps BM25 statistics per flushed segment
            made[name] = MilvusStore(uri, collection) if name == "milvus reopened" else store
        return made[name]

    return state


@pytest.fixture(params=STORES + MILVUS_STORES)
def store(request, documents, tiny_corpus, tmp_path, hash_embedder) -> Store:
    if request.param in MILVUS_STORES:
        return request.getfixturevalue("milvus_states")(request.param)
    folder = tmp_path / "store"
    if request.param == "one segment":
        return local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1, 2]])
    if request.param == "quantized":  # every segment searched by PQ candidates scored on float16 copies
        request.getfixturevalue("monkeypatch").setattr(qa.stores.vectors, "PQ_FROM", 1)
        local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1], [2]])
        return LocalStore.open(folder)
    if request.param == "two segments":
        return local_store(folder, tiny_corpus, documents, hash_embedder, [[0], [1, 2]])
    if request.param == "merged":
        store = local_store(folder, tiny_corpus, documents, hash_embedder, [[0], [1, 2]]).write(remove=["beta.txt"])
        store = store.write(add=contents(tiny_corpus, documents[1:2], hash_embedder))
        return store.merged([s.name for s in store.segments])
    if request.param == "reopened":
        local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 2], [1]])
        return LocalStore.open(folder)
    if request.param == "uploads over a store":
        base = local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1]])
        return base.with_segment(contents(tiny_corpus, documents[2:], hash_embedder), {})
    store = local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1, 2]]).write(remove=["alpha.txt"])
    return store.write(add=contents(tiny_corpus, documents[:1], hash_embedder))


def chunks_of(store: Store, ids) -> list[qa.Chunk]:
    return [store.chunk(int(i)) for i in ids]


def test_it_follows_the_protocol(store):
    assert isinstance(store, Store)


def test_it_holds_the_same_documents_chunks_and_outlets(store, reference, documents):
    assert list(store.doc_ids()) == sorted(d.doc_id for d in documents)
    assert len(store) == len(reference.chunks)
    assert store.sources() == sorted({c.source for c in reference.chunks if c.source})
    every = store.dense_search(np.ones(store.info.dim, dtype=np.float32) / 8, 1000)
    assert sorted(chunks_of(store, every.ids), key=repr) == sorted(reference.chunks, key=repr)


def test_every_chunk_is_verbatim_and_its_sentences_lie_inside_it(store):
    for chunk_id in store.dense_search(np.ones(store.info.dim, dtype=np.float32) / 8, 1000).ids:
        chunk = store.chunk(int(chunk_id))
        document = store.document(chunk.doc_id)
        assert 0 <= chunk.start < chunk.end <= len(document.text)
        spans, vectors = store.sentences_of(int(chunk_id))
        assert len(spans) == len(vectors) >= 1
        assert all(chunk.start <= s <= e <= chunk.end for s, e in spans.tolist())


@pytest.mark.parametrize("question", QUESTIONS)
def test_bm25_ranks_and_scores_as_bm25s(store, reference, question):
    hits = store.lexical_search(question, 10)
    chunks, scores = reference.lexical(question, 10)
    assert np.allclose(hits.scores, scores, atol=1e-5)
    assert sorted(map(repr, chunks_of(store, hits.ids))) == sorted(map(repr, chunks))
    assert np.allclose(store.lexical_scores(question, hits.ids), hits.scores, atol=1e-5)


@pytest.mark.parametrize("question", QUESTIONS)
def test_dense_search_finds_the_closest_chunks_by_cosine(store, reference, hash_embedder, question):
    vector = hash_embedder.encode([question])[0]
    hits = store.dense_search(vector, 4)
    assert np.allclose(hits.scores, reference.dense(vector, 4), atol=2e-3)  # float16 copies in a quantized store
    assert list(hits.scores) == sorted(hits.scores, reverse=True)
    assert np.allclose([store.vector(int(i)) @ vector for i in hits.ids], hits.scores, atol=1e-4)


def test_document_frequencies_count_chunks(store, reference):
    terms = ["quokka", "volcano", "bread", "nowher"]
    assert store.document_frequencies(terms) == reference.document_frequencies(terms)


def test_filters_apply_inside_both_searches(store, hash_embedder):
    filters = Filters.of(store, sources=["Nordic Herald"])
    vector = hash_embedder.encode(["volcano"])[0]
    for hits in (store.dense_search(vector, 10, filters), store.lexical_search("volcano unrest", 10, filters)):
        assert len(hits.ids) and {c.source for c in chunks_of(store, hits.ids)} == {"Nordic Herald"}
    only_beta = Filters.of(store, documents=["beta.txt"], sections=["article"])
    hits = store.dense_search(vector, 10, only_beta)
    assert {(c.doc_id, c.section) for c in chunks_of(store, hits.ids)} == {("beta.txt", "article")}


def test_an_unknown_document_is_a_key_error_naming_it(store):
    assert not store.has_document("missing.txt")
    with pytest.raises(KeyError, match="missing.txt"):
        store.document("missing.txt")


# --- the local store's writes ---------------------------------------------------------------------


def test_a_deleted_document_is_gone_and_bm25_counts_only_live_chunks(documents, tiny_corpus, tmp_path, hash_embedder):
    store = local_store(tmp_path / "store", tiny_corpus, documents, hash_embedder, [[0, 1, 2]])
    store = store.write(remove=["beta.txt"])
    without = Reference.of(contents(tiny_corpus, [d for d in documents if d.doc_id != "beta.txt"], hash_embedder))
    assert not store.has_document("beta.txt") and "beta.txt" not in set(store.doc_ids())
    assert len(store) == len(without.chunks)
    for question in QUESTIONS:
        assert np.allclose(store.lexical_search(question, 10).scores, without.lexical(question, 10)[1])
    hits = store.dense_search(hash_embedder.encode(["volcano"])[0], 100)
    assert "beta.txt" not in {c.doc_id for c in chunks_of(store, hits.ids)}
    with pytest.raises(KeyError):
        store.write(remove=["beta.txt"])


def test_a_reopened_store_is_the_committed_one(documents, tiny_corpus, tmp_path, hash_embedder):
    store = local_store(tmp_path / "store", tiny_corpus, documents, hash_embedder, [[0], [1, 2]])
    store = store.write(remove=["sub/gamma.md"])
    again = LocalStore.open(tmp_path / "store")
    assert list(again.doc_ids()) == list(store.doc_ids()) == ["alpha.txt", "beta.txt"]
    hits = again.lexical_search("quokka", 5)
    assert np.array_equal(hits.ids, store.lexical_search("quokka", 5).ids)


def test_a_write_costs_what_changed(documents, tiny_corpus, tmp_path, hash_embedder):
    """An added segment and a deletion write their own files and the manifest, never an existing segment's."""
    folder = tmp_path / "store"
    store = local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1]])
    before = {p: p.stat().st_mtime_ns for p in (folder / SEGMENTS).rglob("*") if p.is_file()}
    store = store.write(add=contents(tiny_corpus, documents[2:], hash_embedder))
    store.write(remove=["alpha.txt"])
    after = {p: p.stat().st_mtime_ns for p in (folder / SEGMENTS).rglob("*") if p.is_file()}
    assert all(after[p] == t for p, t in before.items())
    assert len({p.parent for p in set(after) - set(before)}) == 1  # one new segment folder


def test_a_segment_written_but_never_committed_is_ignored_then_tidied(documents, tiny_corpus, tmp_path, hash_embedder):
    folder = tmp_path / "store"
    store = local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1]])
    committed = (folder / MANIFEST).read_bytes()
    store.write(add=contents(tiny_corpus, documents[2:], hash_embedder))
    (folder / MANIFEST).write_bytes(committed)  # as if killed before the manifest was replaced
    reopened = LocalStore.open(folder)
    assert sorted(reopened.doc_ids()) == ["alpha.txt", "beta.txt"]
    reopened.tidy()
    assert len(list((folder / SEGMENTS).iterdir())) == 1


def test_a_damaged_segment_file_is_named(documents, tiny_corpus, tmp_path, hash_embedder):
    folder = tmp_path / "store"
    local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1, 2]])
    chunks = next((folder / SEGMENTS).iterdir()) / "chunks.npy"
    data = bytearray(chunks.read_bytes())
    data[-3] ^= 0xFF
    chunks.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="chunks.npy"):
        LocalStore.open(folder)


def test_forged_text_is_never_shown(documents, tiny_corpus, tmp_path, hash_embedder):
    """An edit of a document's text that keeps every checksum (the text file is sampled) is caught when it is read."""
    folder = tmp_path / "store"
    local_store(folder, tiny_corpus, documents, hash_embedder, [[0, 1, 2]])
    segment = next((folder / SEGMENTS).iterdir())
    lines = (segment / "documents.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[0])
    row["text"] = row["text"].replace("happiest", "saddest!")  # same length
    lines[0] = json.dumps(row, ensure_ascii=False) + "\n"
    (segment / "documents.jsonl").write_text("".join(lines), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    entry = manifest["segments"][0]
    entry["checksums"] = folders.checksums(segment, folders.Layout(record=MANIFEST, sampled=SAMPLED))
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    store = LocalStore.open(folder)
    with pytest.raises(IndexFormatError, match="not the text indexed"):
        store.document("alpha.txt")
