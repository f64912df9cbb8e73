"""Building a store folder (format 4): its layout and manifest, what it holds, and every damage to it refused.

The local store's writes killed at any step, and a build killed and resumed,
are in ``test_local_store.py``; how `qa.load` treats a stale, damaged or
unfinished store is in ``test_store.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import faiss
import numpy as np
import pytest

import qa
import qa.models
from qa import folders
from qa.chunking import chunk_document
from qa.documents import METADATA_FILE
from qa.stores import lexical
from qa.stores.lexical import Part, Postings, lexical_text, tokenize
from qa.stores.local import FORMAT, MANIFEST, SEGMENT_LAYOUT, SEGMENTS, LocalStore
from qa.stores.segment import SAMPLED
from tests.conftest import TINY_DOCS, write_corpus

QUESTION = "How many quokkas did rangers count?"
# Every file of a segment, as the segment module documents them.
SEGMENT_FILES = {
    "documents.jsonl",
    "documents.npy",
    "doc_ids.json",
    "chunks.npy",
    "sources.json",
    "sentence_spans.npy",
    "sentence_offsets.npy",
    "sentence_vectors.npy",
    "dense.faiss",
    "lexical_keys.npy",
    "lexical_starts.npy",
    "lexical_rows.npy",
    "lexical_counts.npy",
    "lexical_lengths.npy",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(index_dir: Path, manifest: dict) -> None:
    (index_dir / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def edit_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    manifest = read_manifest(index_dir)
    change(manifest)
    write_manifest(index_dir, manifest)


def only_segment(index_dir: Path) -> Path:
    (segment,) = (index_dir / SEGMENTS).iterdir()
    return segment


def reseal(index_dir: Path) -> None:
    """Recompute every segment's checksums in the manifest, as a forger who edits a file would."""

    def change(manifest: dict) -> None:
        for entry in manifest["segments"]:
            entry["checksums"] = folders.checksums(index_dir / SEGMENTS / entry["name"], SEGMENT_LAYOUT)

    edit_manifest(index_dir, change)


def chunk_ids_of(store: LocalStore, doc_id: str) -> list[int]:
    """The chunk ids of a live document, in reading order (the last segment holding it holds its live copy)."""
    assert store.has_document(doc_id)
    for entry, segment in reversed(list(zip(store.manifest.segments, store.segments, strict=True))):
        if doc_id in segment.doc_rows:
            return [entry.first_id + row for row in segment.chunk_rows(segment.doc_rows[doc_id])]
    raise AssertionError(f"{doc_id} is in no segment")


def live_chunk_ids(store: LocalStore) -> list[int]:
    return [i for doc_id in store.doc_ids() for i in chunk_ids_of(store, doc_id)]


def files_under(folder: Path) -> set[str]:
    """Every file below ``folder`` (hidden ones too), as posix paths relative to it."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def referenced_files(index_dir: Path) -> set[str]:
    """The files the committed manifest names: itself, its segments' files and its deletion marks."""
    manifest = read_manifest(index_dir)
    names = {MANIFEST}
    for entry in manifest["segments"]:
        names |= {f"{SEGMENTS}/{entry['name']}/{name}" for name in entry["checksums"]}
        if entry["deletes"]:
            names.add(f"deletes/{entry['deletes']}")
    return names


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus and its store, built once; tests change copies of them (`copied`)."""
    root = tmp_path_factory.mktemp("pristine")
    write_corpus(root / "corpus", TINY_DOCS)
    qa.build(root / "corpus", root / "index", embedder=qa.HashEmbedder())
    return root


@pytest.fixture
def copied(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the tiny corpus (modification times kept) and its store: the index folder, ``tmp_path/index``."""
    shutil.copytree(pristine / "corpus", tmp_path / "corpus")
    shutil.copytree(pristine / "index", tmp_path / "index")
    return tmp_path / "index"


# --- round trip, layout, manifest ---------------------------------------------------------


def test_round_trip_gives_the_same_store(built: qa.Engine, index_dir: Path, hash_embedder):
    loaded = qa.load(index_dir, embedder=hash_embedder, strict=True)
    a, b = built.store, loaded.store
    assert isinstance(b, LocalStore) and b is not a
    assert list(a.doc_ids()) == list(b.doc_ids()) == sorted(TINY_DOCS)
    assert all(a.document(d) == b.document(d) for d in TINY_DOCS)
    assert b.manifest == a.manifest
    ids = list(a.chunk_ids())
    assert ids == list(b.chunk_ids()) == sorted(live_chunk_ids(a)) and len(ids) == len(a) == len(b)
    assert [a.chunk(i) for i in ids] == [b.chunk(i) for i in ids]
    for i in ids:
        assert np.array_equal(a.vector(i), b.vector(i))
        assert all(np.array_equal(x, y) for x, y in zip(a.sentences_of(i), b.sentences_of(i), strict=True))
    assert loaded.ask(QUESTION).to_dict() == built.ask(QUESTION).to_dict()


def test_every_document_is_the_corpus_file_it_was_read_from(built: qa.Engine, tiny_corpus: Path):
    for doc_id in TINY_DOCS:
        assert built.document(doc_id).text == (tiny_corpus / doc_id).read_text(encoding="utf-8")


def test_load_without_an_embedder_uses_the_manifest_model(built: qa.Engine, index_dir: Path):
    engine = qa.load(index_dir, strict=True)
    assert (engine.embedder.name, engine.embedder.dim, engine.embedder.runtime) == ("hash-64", 64, "python")
    answer = engine.ask("Mount Etna lava Catania airport")
    assert answer.passages[0].doc_id == "beta.txt"


def test_store_folder_layout(built: qa.Engine, index_dir: Path):
    """The manifest and one segment folder; beside the index folder, only its writer lock."""
    assert sorted(p.name for p in index_dir.iterdir()) == [MANIFEST, SEGMENTS]
    segment = only_segment(index_dir)
    assert files_under(segment) == SEGMENT_FILES
    assert [e.name for e in built.store.manifest.segments] == [segment.name]
    assert sorted(p.name for p in index_dir.parent.iterdir()) == [".index.lock", "corpus", "index"]


def test_manifest_records_format_model_chunking_corpus_and_checksums(built: qa.Engine, index_dir: Path, hash_embedder):
    manifest = read_manifest(index_dir)
    assert manifest["format_version"] == FORMAT == 4
    assert manifest["info"] == {
        "model": "hash-64",
        "model_version": hash_embedder.version,
        "dim": 64,
        "runtime": "python",
        "chunking": qa.ChunkingSettings().to_dict(),
    }
    assert manifest["corpus_dir"] == "corpus"  # relative to the index folder's parent
    assert manifest["complete"] is True and manifest["generation"] > 0
    assert manifest["metadata_sha256"] is None and manifest["skipped"] == {}
    (entry,) = manifest["segments"]
    assert (entry["first_id"], entry["chunks"], entry["documents"]) == (0, len(built.store), 3)
    assert manifest["next_id"] == len(built.store)
    assert entry["deletes"] is None and entry["live_chunks"] == -1
    segment = index_dir / SEGMENTS / entry["name"]
    assert set(entry["checksums"]) == SEGMENT_FILES
    for name, recorded in entry["checksums"].items():
        path = segment / name
        if name in SAMPLED:
            size = path.stat().st_size
            assert recorded == {"size": size, "sample_sha256": folders.sample_sha256(path, size)}
        else:
            assert recorded == {"sha256": sha256(path)}


def test_manifest_records_the_metadata_hash(tiny_corpus: Path, index_dir: Path, hash_embedder):
    (tiny_corpus / METADATA_FILE).write_text('{"alpha.txt": {"outlet": "Quokka News"}}')
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert read_manifest(index_dir)["metadata_sha256"] == sha256(tiny_corpus / METADATA_FILE)
    assert engine.document("alpha.txt").source == "Quokka News"
    qa.load(index_dir, embedder=hash_embedder, strict=True)  # current


def test_an_unchanged_corpus_commits_nothing_and_a_change_commits(
    built: qa.Engine, tiny_corpus: Path, index_dir: Path, hash_embedder
):
    generation = read_manifest(index_dir)["generation"]
    manifest = (index_dir / MANIFEST).read_bytes()
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert (index_dir / MANIFEST).read_bytes() == manifest
    (tiny_corpus / "delta.txt").write_text("Zebra Notes\n\nZebras have stripes.\n")
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert read_manifest(index_dir)["generation"] > generation
    assert files_under(index_dir) == referenced_files(index_dir)


def test_a_build_from_scratch_leaves_one_segment_and_nothing_else(
    built: qa.Engine, tiny_corpus: Path, index_dir: Path, hash_embedder
):
    (tiny_corpus / "beta.txt").unlink()
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)  # a deletion mark
    assert (index_dir / "deletes").is_dir()
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder, incremental=False)
    assert list(engine.store.doc_ids()) == ["alpha.txt", "sub/gamma.md"]
    assert sorted(p.name for p in index_dir.iterdir()) == [MANIFEST, SEGMENTS]
    assert files_under(index_dir) == referenced_files(index_dir) and len(list((index_dir / SEGMENTS).iterdir())) == 1
    assert sorted(p.name for p in index_dir.parent.iterdir()) == [".index.lock", "corpus", "index"]


def test_the_store_folder_has_ordinary_permissions(built: qa.Engine, index_dir: Path):
    reference = index_dir.parent / "reference"
    reference.mkdir()
    (reference / "file").write_bytes(b"x")
    folder_mode = reference.stat().st_mode & 0o777
    file_mode = (reference / "file").stat().st_mode & 0o777
    for path in [index_dir, *index_dir.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (folder_mode if path.is_dir() else file_mode), path


def test_build_refuses_a_corpus_without_indexable_text(tmp_path: Path, hash_embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Comments are closed.\n")
    with pytest.raises(qa.CorpusError, match="no usable documents"):
        qa.build(tmp_path / "corpus", tmp_path / "index", embedder=hash_embedder)
    assert not (tmp_path / "index").exists()


def test_build_refuses_an_empty_folder(tmp_path: Path, hash_embedder):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(qa.CorpusError, match="no .* documents"):
        qa.build(tmp_path / "corpus", tmp_path / "index", embedder=hash_embedder)
    assert not (tmp_path / "index").exists()


# --- what the store holds -------------------------------------------------------------------


def test_document_frequencies_count_chunks_not_occurrences():
    postings = Postings.of([["quokka", "bread", "quokka"], ["quokka"], ["etna"]])
    assert lexical.document_frequencies([Part(postings, None, 0)], ["quokka", "bread", "etna", "kiwi"]) == {
        "bread": 1,
        "etna": 1,
        "quokka": 2,
    }
    live = np.array([True, False, True])  # the second row deleted
    assert lexical.document_frequencies([Part(postings, live, 0)], ["quokka", "etna"]) == {"etna": 1, "quokka": 1}


def test_document_frequencies_are_those_of_the_lexical_text(built: qa.Engine):
    store = built.store
    ids = live_chunk_ids(store)
    texts = [lexical_text(store.document(store.chunk(i).doc_id), store.chunk(i)) for i in ids]
    rows = [set(tokens) for tokens in tokenize(texts)]
    terms = ["quokka", "volcano", "island", "bread", "nowher"]
    counts = store.document_frequencies(terms)
    assert counts == {t: sum(t in row for row in rows) for t in terms if any(t in row for row in rows)}
    assert counts["island"] > 1 and "nowher" not in counts
    # The counts are the store's own: another segment's chunks and deleted ones count as BM25 counts them.
    assert store.write(remove=["alpha.txt"]).document_frequencies(["quokka"]) == {}


def test_every_chunk_has_its_sentences_with_unit_vectors(built: qa.Engine):
    store = built.store
    for chunk_id in live_chunk_ids(store):
        chunk = store.chunk(chunk_id)
        spans, vectors = store.sentences_of(chunk_id)
        assert len(spans) == len(vectors) >= 1
        assert spans[0][0] == chunk.start and spans[-1][1] == chunk.end  # the chunk, cut into sentences
        assert all(chunk.start <= s < e <= chunk.end for s, e in spans.tolist())
        assert vectors.dtype == np.float16
        assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=1e-2)
        assert np.isclose(np.linalg.norm(store.vector(chunk_id)), 1, atol=1e-5)


def test_index_files_are_readable_text_where_they_are_text(built: qa.Engine, index_dir: Path):
    segment = only_segment(index_dir)
    read_manifest(index_dir)
    rows = [json.loads(line) for line in (segment / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["doc_id"] for r in rows] == json.loads((segment / "doc_ids.json").read_text(encoding="utf-8"))
    assert all(r["text"] == built.document(r["doc_id"]).text for r in rows)
    assert json.loads((segment / "sources.json").read_text(encoding="utf-8")) == built.store.sources()
    for name in SEGMENT_FILES:
        if name.endswith(".npy"):
            np.load(segment / name, allow_pickle=False)  # plain arrays, never pickles
    assert faiss.read_index(str(segment / "dense.faiss")).ntotal == len(built.store)


def test_default_index_dir_honours_the_environment(monkeypatch, tmp_path: Path, repo_root: Path):
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path))
    assert qa.default_index_dir() == tmp_path
    monkeypatch.delenv("QA_INDEX_DIR")
    assert qa.default_index_dir() == repo_root / "embeddings"


# --- skipped files ------------------------------------------------------------------------


@pytest.fixture
def corpus_with_a_bad_file(tiny_corpus: Path) -> Path:
    (tiny_corpus / "bad.txt").write_bytes(b"Caf\xe9 notes\n\nNot UTF-8 at all.\n")
    return tiny_corpus


def test_skipped_files_are_recorded_with_why_and_their_stat(
    corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder
):
    engine = qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder)
    bad = corpus_with_a_bad_file / "bad.txt"
    recorded = read_manifest(index_dir)["skipped"]
    assert set(recorded) == {"bad.txt"} and "UTF-8" in recorded["bad.txt"]["reason"]
    st = bad.stat()
    assert (recorded["bad.txt"]["size"], recorded["bad.txt"]["mtime_ns"]) == (st.st_size, st.st_mtime_ns)
    assert recorded["bad.txt"]["sha256"] == sha256(bad)
    assert engine.store.skipped == {"bad.txt": recorded["bad.txt"]["reason"]}
    assert "bad.txt" not in engine.documents
    assert qa.load(index_dir, embedder=hash_embedder, strict=True).store.skipped == engine.store.skipped


def test_fixing_a_skipped_file_makes_the_index_stale(corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder):
    qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder)
    (corpus_with_a_bad_file / "bad.txt").write_text("Cafe Notes\n\nNow it is UTF-8 and has an espresso.\n")
    with pytest.raises(qa.StaleIndexError, match="changed: bad.txt"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    engine = qa.load(index_dir, embedder=hash_embedder)
    assert "bad.txt" in engine.documents and engine.store.skipped == {}


def test_a_strict_build_refuses_a_bad_file(corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder):
    with pytest.raises(qa.CorpusError, match="bad.txt"):
        qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder, strict=True)
    assert not index_dir.exists()


# --- sampled checksums ------------------------------------------------------------------


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_small_file_is_sampled_whole():
    assert folders.sample_ranges(1000) == [(0, 1000)]


def test_a_sampled_checksum_reads_both_ends_and_blocks_between(tmp_path: Path):
    size = 8 * 1024 * 1024 + 3
    path = tmp_path / "vectors.npy"
    path.write_bytes(np.random.default_rng(0).bytes(size))
    ranges = folders.sample_ranges(size)
    assert len(ranges) == 66 and ranges[0] == (0, 65536) and ranges[-1] == (size - 65536, 65536)
    assert sum(n for _, n in ranges) == 2 * 65536 + 64 * 4096  # about 384 KiB of 8 MiB
    assert all(a + n <= b for (a, n), (b, _) in zip(ranges, ranges[1:], strict=False))  # in order, apart
    before = folders.sample_sha256(path, size)
    for offset in (0, size - 1, ranges[33][0] + 100):
        flip_byte(path, offset)
        assert folders.sample_sha256(path, size) != before
        flip_byte(path, offset)
    assert folders.sample_sha256(path, size) == before
    assert folders.sample_sha256(path, size + 1) != before  # the size is hashed too


# --- damaged, edited or missing files -------------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# Damage to any one file of a segment, and what the error says about that file.
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped": (lambda p: flip_byte(p, p.stat().st_size // 2), "contents differ from the manifest's checksum"),
    "truncated": (truncate, r"(contents differ|\d+ bytes, the manifest says \d+)"),
    "emptied": (lambda p: p.write_bytes(b""), r"(contents differ|0 bytes, the manifest says \d+)"),
    "deleted": (Path.unlink, "missing"),
}
FILE_DAMAGE = [(name, kind) for name in sorted(SEGMENT_FILES) for kind in DAMAGE]


@pytest.mark.parametrize(("name", "kind"), FILE_DAMAGE, ids=[f"{kind} {name}" for name, kind in FILE_DAMAGE])
def test_every_damaged_segment_file_fails_naming_it(copied: Path, hash_embedder, name: str, kind: str):
    damage, says = DAMAGE[kind]
    path = only_segment(copied) / name
    damage(path)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(path)) + ": " + says) as info:
        qa.load(copied, embedder=hash_embedder, strict=True)
    assert "rebuild it with `qa index`" in str(info.value)
    with pytest.raises(qa.IndexFormatError, match=re.escape(name)):
        LocalStore.open(copied)


@pytest.mark.parametrize("where", ["segment", "segment subfolder"])
def test_an_extra_file_in_a_segment_fails_naming_it(copied: Path, hash_embedder, where: str):
    extra = only_segment(copied) / ("notes.txt" if where == "segment" else "more/notes.txt")
    extra.parent.mkdir(exist_ok=True)
    extra.write_text("hello")
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(extra)) + ": not a file of this segment"):
        qa.load(copied, embedder=hash_embedder, strict=True)


def test_a_missing_segment_folder_fails_naming_its_files(copied: Path, hash_embedder):
    segment = only_segment(copied)
    shutil.rmtree(segment)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(segment)) + "/.*: missing"):
        qa.load(copied, embedder=hash_embedder, strict=True)


@pytest.mark.parametrize("kind", ["flipped", "deleted"])
def test_a_damaged_deletion_mark_fails_naming_it(copied: Path, hash_embedder, kind: str):
    LocalStore.open(copied).write(remove=["beta.txt"])
    (mark,) = (copied / "deletes").iterdir()
    if kind == "flipped":
        flip_byte(mark, -1)
    else:
        mark.unlink()
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(mark))):
        LocalStore.open(copied)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m["segments"][0]["checksums"].pop("dense.faiss"),  # the file is then one the manifest lacks
        lambda m: m["segments"][0]["checksums"]["chunks.npy"].update(sha256="0" * 64),
        lambda m: m["segments"][0].update(name="s9999999-000000"),
    ],
    ids=["a checksum dropped", "a checksum changed", "another segment named"],
)
def test_a_manifest_that_contradicts_its_segments_fails(copied: Path, hash_embedder, change):
    edit_manifest(copied, change)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(copied / SEGMENTS))) as info:
        qa.load(copied, embedder=hash_embedder, strict=True)
    assert "rebuild" in str(info.value)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m: m["segments"][0].update(chunks=m["segments"][0]["chunks"] - 1), "holds 12 chunks of 3 documents"),
        (lambda m: m["segments"][0].update(documents=2), "holds 12 chunks of 3 documents, not .* of 2"),
        (lambda m: m["segments"][0].update(first_id=-5), "not chunks -5 to 6"),
        (lambda m: m.update(next_id=3), "next chunk id 3 is taken"),
    ],
    ids=["fewer chunks", "fewer documents", "ids before the first", "a next id taken"],
)
def test_a_manifest_that_miscounts_a_segment_is_refused(copied: Path, hash_embedder, change, says: str):
    """The manifest maps chunk ids to segments: a miscount would answer with the wrong chunks."""
    assert len(LocalStore.open(copied)) == 12
    edit_manifest(copied, change)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(copied / MANIFEST)) + ": .*" + says):
        qa.load(copied, embedder=hash_embedder, strict=True)


def test_two_segments_with_overlapping_ids_are_refused(copied: Path, hash_embedder):
    store = LocalStore.open(copied)
    store.write(add=store.segments[0].live_contents({0}), remove=["beta.txt", "sub/gamma.md"])
    edit_manifest(copied, lambda m: m["segments"][1].update(first_id=m["segments"][0]["chunks"] - 1))
    with pytest.raises(qa.IndexFormatError, match="segment .* not chunks"):
        LocalStore.open(copied)


def test_a_segment_without_checksums_is_named_in_the_manifest(copied: Path, hash_embedder):
    edit_manifest(copied, lambda m: m["segments"][0].update(checksums=None))
    name = only_segment(copied).name
    with pytest.raises(qa.IndexFormatError, match=re.escape(f"{copied / MANIFEST}: no checksums of segment {name}")):
        qa.load(copied, embedder=hash_embedder, strict=True)


# A manifest that cannot be read: outside the default index folder, the corpus is unknown.
MANIFEST_CORRUPTIONS = {
    "garbage manifest.json": lambda d: (d / MANIFEST).write_text("this is not json"),
    "binary manifest.json": lambda d: (d / MANIFEST).write_bytes(b"\xff\xfe\x00garbage"),
    "list manifest.json": lambda d: (d / MANIFEST).write_text("[1, 2, 3]"),
    "incomplete manifest.json": lambda d: (d / MANIFEST).write_text('{"model": "hash-64"}'),
    "empty manifest.json": lambda d: (d / MANIFEST).write_bytes(b""),
    "missing manifest.json": lambda d: (d / MANIFEST).unlink(),
}


@pytest.mark.parametrize("corrupt", list(MANIFEST_CORRUPTIONS.values()), ids=list(MANIFEST_CORRUPTIONS))
def test_an_unreadable_manifest_is_an_index_format_error(copied: Path, hash_embedder, corrupt):
    corrupt(copied)
    for strict in (True, False):
        with pytest.raises(qa.IndexFormatError) as info:
            qa.load(copied, embedder=hash_embedder, strict=strict)
        assert str(copied) in str(info.value) and "index" in str(info.value).lower()


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(segments=[{"name": 1}]),
        lambda m: m.update(info=[1, 2]),
        lambda m: m.pop("next_id"),
        lambda m: m.update(skipped=[]),
        lambda m: m.update(next_id="12"),
        lambda m: m["segments"][0].update(first_id=0.5),
        lambda m: m["segments"][0].update(name="../../elsewhere"),
        lambda m: m["segments"][0].update(deletes="../manifest.json"),
    ],
    ids=[
        "garbled segments",
        "garbled info",
        "a field missing",
        "garbled skipped files",
        "a count as text",
        "a fractional id",
        "a segment outside the folder",
        "a deletion mark outside its folder",
    ],
)
def test_a_garbled_manifest_is_an_index_format_error_naming_it(copied: Path, change):
    edit_manifest(copied, change)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(copied / MANIFEST)) + ": not a valid index manifest"):
        LocalStore.open(copied)


def test_a_missing_index_folder_is_an_index_format_error(tmp_path: Path):
    with pytest.raises(qa.IndexFormatError, match="no index here"):
        qa.load(tmp_path / "nowhere")


# --- edits with forged checksums ---------------------------------------------------------------


def edit_text(index_dir: Path, old: str, new: str) -> None:
    path = only_segment(index_dir) / "documents.jsonl"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new"),
    [("12,000 quokkas", "19,000 quokkas"), ("12,000 quokkas", "1,200,000 quokkas")],
    ids=["same length", "longer"],
)
def test_forged_text_with_forged_checksums_is_never_shown(copied: Path, hash_embedder, old: str, new: str):
    edit_text(copied, old, new)
    with pytest.raises(qa.IndexFormatError, match="documents.jsonl: "):
        qa.load(copied, embedder=hash_embedder, strict=True)
    reseal(copied)
    engine = qa.load(copied, embedder=hash_embedder, strict=True)  # the checksums agree now
    segment = only_segment(copied)
    with pytest.raises(qa.IndexFormatError, match=re.escape(str(segment / "documents.jsonl"))):
        engine.document("alpha.txt")
    with pytest.raises(qa.IndexFormatError, match="documents.jsonl"):
        engine.ask(QUESTION)  # the passage would quote it: never shown
    if len(old) == len(new):
        assert engine.document("beta.txt").text == TINY_DOCS["beta.txt"]  # the others are sound
    else:  # the lines after it moved: each is refused too, never read from the wrong place
        with pytest.raises(qa.IndexFormatError, match="documents.jsonl"):
            engine.document("beta.txt")


def rewrite(path: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    np.save(path, change(np.load(path)))


# Tables that contradict each other, their checksums forged to match: opening the segment says which.
FORGERIES = {
    "a doc id dropped": (
        lambda s: (s / "doc_ids.json").write_text(json.dumps(json.loads((s / "doc_ids.json").read_text())[:-1])),
        "documents.npy, doc_ids.json and chunks.npy disagree",
    ),
    "a chunk row dropped": (lambda s: rewrite(s / "chunks.npy", lambda a: a[:-1]), "does not cover"),
    "sentence offsets short": (lambda s: rewrite(s / "sentence_offsets.npy", lambda a: a[:-1]), "does not cover"),
    "sentence vectors of another dimension": (
        lambda s: rewrite(s / "sentence_vectors.npy", lambda a: a[:, :10]),
        "sentence_vectors.npy holds",
    ),
    "fewer vectors than chunks": (
        lambda s: faiss.write_index(faiss.IndexFlatIP(64), str(s / "dense.faiss")),
        "dense.faiss holds 0 vectors",
    ),
    "postings of fewer rows": (lambda s: rewrite(s / "lexical_lengths.npy", lambda a: a[:-1]), "lexical postings"),
    "postings that do not add up": (lambda s: rewrite(s / "lexical_rows.npy", lambda a: a[:-1]), "do not add up"),
    "a table of another type": (lambda s: rewrite(s / "chunks.npy", lambda a: a["start"]), "disagree"),
    "a pickled table": (
        lambda s: np.save(s / "chunks.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True),
        "unreadable segment",
    ),
    "garbage doc ids": (lambda s: (s / "doc_ids.json").write_text("{{{"), "unreadable segment"),
}


@pytest.mark.parametrize(("forge", "says"), list(FORGERIES.values()), ids=list(FORGERIES))
def test_tables_that_contradict_each_other_are_refused_even_with_forged_checksums(
    copied: Path, hash_embedder, forge, says
):
    segment = only_segment(copied)
    forge(segment)
    reseal(copied)
    with pytest.raises(qa.IndexFormatError, match=says) as info:
        qa.load(copied, embedder=hash_embedder, strict=True)
    assert str(segment) in str(info.value) and "rebuild it" in str(info.value)


# --- the committed index ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def committed(repo_root: Path) -> LocalStore:
    """The committed index of data/, opened strictly: stale, damaged or unfinished fails here."""
    try:
        engine = qa.load(repo_root / "embeddings", strict=True, settings=qa.ChunkingSettings())
    except (qa.StaleIndexError, qa.IndexFormatError) as exc:
        pytest.fail(f"rebuild embeddings/ with `qa index`: {exc}")
    return engine.store


def test_committed_index_is_current(committed: LocalStore, repo_root: Path):
    """Fails when data/, the chunking settings or the model package change without `qa index`."""
    assert committed.manifest.complete
    assert committed.corpus_path().resolve() == (repo_root / "data").resolve()
    assert committed.manifest.corpus_dir == "data"  # relative: the repo can move


def test_committed_index_model_is_the_installed_one(committed: LocalStore):
    info = committed.info
    module, dist = qa.models.SHIPPED_MODELS[qa.DEFAULT_MODEL]
    assert (info.model, info.dim, info.runtime) == (qa.DEFAULT_MODEL, 384, qa.DEFAULT_RUNTIME)
    assert info.model_version == f"{dist}=={metadata.version(dist)}"


def test_committed_index_matches_the_current_segmentation_and_chunking(committed: LocalStore, default_docs):
    """Segmentation code changes are not in the manifest: compare the stored documents and chunks with today's."""
    assert sorted(committed.doc_ids()) == sorted(default_docs)
    for doc_id, document in default_docs.items():
        assert committed.document(doc_id) == document, f"segmentation changed ({doc_id}): rebuild embeddings/"
    settings = qa.ChunkingSettings(**committed.info.chunking)
    assert settings == qa.ChunkingSettings()
    for doc_id, document in default_docs.items():
        stored = [committed.chunk(i) for i in chunk_ids_of(committed, doc_id)]
        assert stored == chunk_document(document, settings), f"chunking changed ({doc_id}): rebuild embeddings/"


def test_committed_index_files_are_all_referenced(repo_root: Path, committed: LocalStore):
    """Nothing a killed or old write left is committed along with the index."""
    assert files_under(repo_root / "embeddings") == referenced_files(repo_root / "embeddings")
    assert os.path.relpath(committed.folder, repo_root) == "embeddings"
