"""Build, save, load, staleness, verification and atomic replacement of an index folder."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import qa
import qa.folders
import qa.index
import qa.integrity
from qa.chunking import chunk_document
from qa.index import Index, IndexLockedError

INDEX_FILES = {
    "manifest.json",
    "documents.jsonl",
    "chunks.jsonl",
    "dense.faiss",
    "bm25",
    "sentence_spans.npz",
    "sentence_vectors.npy",
    "document_frequencies.json",
}
DELTA = "Zebra Notes\n\nZebras have stripes.\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden_copies(index_dir: Path) -> list[str]:
    """The hidden folders saves of ``index_dir`` left beside it (its lock file is not one)."""
    return sorted(p.name for p in index_dir.parent.iterdir() if p.name.startswith(f".{index_dir.name}.") and p.is_dir())


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# --- round trip and manifest ------------------------------------------------------


def test_round_trip_gives_the_same_index(built: qa.Engine, index_dir: Path, hash_embedder):
    loaded = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert loaded.index.chunks == built.index.chunks
    assert loaded.index.documents == built.index.documents
    assert loaded.index.manifest == built.index.manifest
    assert loaded.index.frequencies == built.index.frequencies
    assert np.array_equal(loaded.index.dense.vectors(), built.index.dense.vectors())
    assert len(loaded.index.dense.vectors()) == len(built.index.chunks)
    question = "How many quokkas did rangers count?"
    assert loaded.ask(question).to_dict() == built.ask(question).to_dict()


def test_load_without_an_embedder_uses_the_manifest_model(built: qa.Engine, index_dir: Path):
    engine = qa.load(index_dir, strict=True)
    answer = engine.ask("Mount Etna lava Catania airport")
    assert answer.passages[0].doc_id == "beta.txt"


def test_index_folder_layout(built: qa.Engine, index_dir: Path):
    assert {p.name for p in index_dir.iterdir()} == INDEX_FILES
    assert (index_dir / "bm25").is_dir()
    rows = [json.loads(line) for line in (index_dir / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [qa.Chunk(**r) for r in rows] == built.index.chunks
    assert np.load(index_dir / "sentence_vectors.npy").dtype == np.float16
    with np.load(index_dir / "sentence_spans.npz") as table:
        assert set(table.files) == {"spans", "offsets"}


def test_manifest_records_files_hashes_model_and_chunking(built: qa.Engine, tiny_corpus: Path, index_dir: Path):
    manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"] == {
        "alpha.txt": sha256(tiny_corpus / "alpha.txt"),
        "beta.txt": sha256(tiny_corpus / "beta.txt"),
        "sub/gamma.md": sha256(tiny_corpus / "sub/gamma.md"),
    }
    assert manifest["metadata_sha256"] is None
    assert (manifest["model"], manifest["dim"]) == ("hash-64", 64)
    assert manifest["chunking"] == qa.ChunkingSettings().to_dict()
    assert manifest["n_chunks"] == len(built.index.chunks)
    assert manifest["format_version"] == qa.index.FORMAT_VERSION == 3
    assert manifest["corpus_dir"] == "corpus"  # relative to the index's parent folder
    assert manifest["skipped"] == {}


def test_manifest_checksums_cover_every_file_but_itself(built, index_dir: Path):
    recorded = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["checksums"]
    files = {p.relative_to(index_dir).as_posix() for p in index_dir.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(recorded) == files and any(name.startswith("bm25/") for name in files)
    for name, entry in recorded.items():
        if name in ("dense.faiss", "sentence_vectors.npy"):
            size = (index_dir / name).stat().st_size
            assert entry == {"size": size, "sample_sha256": qa.folders.sample_sha256(index_dir / name, size)}
        else:
            assert entry == {"sha256": sha256(index_dir / name)}


def test_manifest_records_the_metadata_hash(tiny_corpus: Path, index_dir: Path, hash_embedder):
    (tiny_corpus / "metadata.json").write_text('{"alpha.txt": {"outlet": "Quokka News"}}')
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert engine.index.manifest.metadata_sha256 == sha256(tiny_corpus / "metadata.json")
    assert engine.document("alpha.txt").source == "Quokka News"


def test_build_refuses_a_corpus_without_indexable_text(tmp_path: Path, hash_embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("Comments are closed.\n")
    with pytest.raises(qa.CorpusError):
        qa.build(tmp_path / "corpus", tmp_path / "index", embedder=hash_embedder)
    assert not (tmp_path / "index").exists()


def test_rebuilding_over_an_index_leaves_no_temporary_folders(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert visible(index_dir.parent) == ["corpus", "index"]
    assert hidden_copies(index_dir) == []


def test_saved_index_folder_has_ordinary_permissions(built, index_dir: Path):
    reference = index_dir.parent / "reference"
    reference.mkdir()
    assert index_dir.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


# --- document frequencies -----------------------------------------------------------


def test_document_frequencies_count_chunks_not_occurrences():
    tokens = [["quokka", "bread", "quokka"], ["quokka"], ["etna"]]
    assert qa.index.document_frequencies(tokens) == {"bread": 1, "etna": 1, "quokka": 2}


def test_stored_document_frequencies_equal_the_bm25_internals(built, index_dir: Path):
    """What ranker.py derived from bm25s (documents per token id) is what the index now stores."""
    index = Index.load(index_dir)
    counts = np.diff(np.asarray(index.lexical.scores["indptr"]))
    derived = {t: int(counts[i]) for t, i in index.lexical.vocab_dict.items() if t and i < len(counts)}
    assert index.frequencies == derived
    stored = json.loads((index_dir / "document_frequencies.json").read_text(encoding="utf-8"))
    assert stored == {"n_chunks": len(index.chunks), "df": derived}


def test_document_frequencies_are_those_of_the_lexical_text(built, index_dir: Path):
    index = Index.load(index_dir)
    texts = [qa.index.lexical_text(index.documents[c.doc_id], c) for c in index.chunks]
    for token in ("quokka", "volcano", "island"):
        assert index.frequencies[token] == sum(token in t for t in qa.index.tokenize(texts))


# --- staleness ----------------------------------------------------------------------


def test_a_fresh_index_is_not_stale(built, tiny_corpus: Path, index_dir: Path):
    index = Index.load(index_dir)
    assert index.stale_reasons(tiny_corpus, settings=qa.ChunkingSettings(), model="hash-64") == []
    assert index.check(tiny_corpus) == qa.index.Check(stale=[], problems=[])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: (c / "alpha.txt").write_text("Quokka Island Report\n\nA changed body.\n"), "changed: alpha.txt"),
        (lambda c: (c / "delta.txt").write_text(DELTA), "added: delta.txt"),
        (lambda c: (c / "sub" / "gamma.md").unlink(), "removed: sub/gamma.md"),
        (lambda c: (c / "metadata.json").write_text("{}"), "metadata.json changed"),
    ],
    ids=["modified", "added", "removed", "metadata"],
)
def test_corpus_change_makes_a_strict_load_fail(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, change, reason
):
    change(tiny_corpus)
    with pytest.raises(qa.StaleIndexError, match=reason):
        qa.load(index_dir, embedder=hash_embedder, strict=True)


def test_metadata_change_is_stale(tiny_corpus: Path, index_dir: Path, hash_embedder):
    (tiny_corpus / "metadata.json").write_text('{"alpha.txt": {"outlet": "A"}}')
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    qa.load(index_dir, embedder=hash_embedder, strict=True)  # current
    (tiny_corpus / "metadata.json").write_text('{"alpha.txt": {"outlet": "B"}}')
    with pytest.raises(qa.StaleIndexError, match="metadata.json changed"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    engine = qa.load(index_dir, embedder=hash_embedder)
    assert engine.document("alpha.txt").source == "B"


def test_changed_chunking_settings_are_stale(built, index_dir: Path, hash_embedder):
    other = qa.ChunkingSettings(target_words=40, max_words=170, min_words=10, overlap=0)
    with pytest.raises(qa.StaleIndexError, match="chunking settings changed"):
        qa.load(index_dir, embedder=hash_embedder, settings=other, strict=True)
    engine = qa.load(index_dir, embedder=hash_embedder, settings=other)
    assert engine.index.manifest.chunking == other.to_dict()


def test_non_strict_load_rebuilds_a_stale_index(built, tiny_corpus: Path, index_dir: Path, hash_embedder, caplog):
    (tiny_corpus / "delta.txt").write_text("Zebra Notes\n\nThe zanzibarquokka is an imaginary animal with stripes.\n")
    (tiny_corpus / "beta.txt").unlink()
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "rebuilding" in caplog.text
    assert "delta.txt" in engine.documents and "beta.txt" not in engine.documents
    answer = engine.ask("zanzibarquokka")
    assert answer.passages[0].doc_id == "delta.txt"
    # The rebuilt index was saved: it is current now.
    again = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert "delta.txt" in again.documents


def test_an_index_whose_corpus_is_gone_is_used_as_it_is(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    tiny_corpus.rename(tiny_corpus.with_name("moved"))
    with pytest.raises(qa.StaleIndexError, match="no such corpus folder"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    engine = qa.load(index_dir, embedder=hash_embedder)
    assert engine.documents == built.documents


def test_model_mismatch_is_stale(built, index_dir: Path):
    with pytest.raises(qa.StaleIndexError, match="hash-64"):
        qa.load(index_dir, embedder=qa.HashEmbedder(32))
    with pytest.raises(qa.StaleIndexError):
        qa.load(index_dir, embedder=qa.HashEmbedder(32), strict=True)


@pytest.mark.parametrize("offset", [1, -1])
def test_another_format_version_is_stale(built, index_dir: Path, offset):
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = qa.index.FORMAT_VERSION + offset
    manifest["a_field_of_that_format"] = True
    path.write_text(json.dumps(manifest))
    with pytest.raises(qa.index.IndexVersionError, match="format"):
        Index.load(index_dir)
    with pytest.raises(qa.StaleIndexError, match="format"):
        qa.load(index_dir, strict=True)


# --- the corpus is the truth ----------------------------------------------------------


def test_check_tells_an_index_that_contradicts_its_corpus_from_a_stale_one(built, tiny_corpus: Path, index_dir: Path):
    index = Index.load(index_dir)
    alpha = index.documents["alpha.txt"]
    alpha.text = alpha.text.replace("12,000", "19,000")  # in memory: what a forged documents.jsonl would hold
    (tiny_corpus / "beta.txt").write_text("Volcano Watch\n\nNothing happened.\n")
    check = index.check(tiny_corpus)
    assert check.problems == ["alpha.txt: the index holds other text than this unchanged corpus file"]
    assert check.stale == ["1 document(s) changed: beta.txt"]


def test_check_leaves_changed_files_to_staleness(built, tiny_corpus: Path, index_dir: Path):
    index = Index.load(index_dir)
    index.documents["alpha.txt"].text += "edited"
    (tiny_corpus / "alpha.txt").write_text("Quokka Island Report\n\nA changed body.\n")
    check = index.check(tiny_corpus)
    assert check.problems == [] and check.stale == ["1 document(s) changed: alpha.txt"]


# --- corrupt, edited or missing indexes -----------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def drop_last_line(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")


def remove_tree(path: Path) -> None:
    for p in sorted(path.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    path.rmdir()


def edit_digit(index_dir: Path) -> None:
    """Change "killing 4" into "killing 9", as it were: a figure inside a document's stored text."""
    path = index_dir / "documents.jsonl"
    text = path.read_text(encoding="utf-8")
    assert text.count("12,000 quokkas") == 1
    path.write_text(text.replace("12,000 quokkas", "19,000 quokkas"), encoding="utf-8")


def edit_manifest(index_dir: Path, change: Callable[[dict], None]) -> None:
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def reseal(index_dir: Path) -> None:
    """Recompute the manifest's checksums, as a forger who edits a file would: only deeper checks are left."""
    edit_manifest(index_dir, lambda m: m.update(checksums=qa.folders.checksums(index_dir, qa.index.LAYOUT)))


def edit_rows(path: Path, change: Callable[[list[dict]], None]) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    change(rows)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def edit_chunk(index_dir: Path, i: int, **changes) -> None:
    edit_rows(index_dir / "chunks.jsonl", lambda rows: rows[i].update(changes))


def shift_chunk(index_dir: Path, i: int, by: int) -> None:
    edit_rows(
        index_dir / "chunks.jsonl", lambda rows: rows[i].update(start=rows[i]["start"] + by, end=rows[i]["end"] + by)
    )


def rewrite_spans(index_dir: Path, change: Callable[[np.ndarray, np.ndarray], None]) -> None:
    with np.load(index_dir / "sentence_spans.npz") as table:
        spans, offsets = table["spans"].copy(), table["offsets"].copy()
    change(spans, offsets)
    np.savez(index_dir / "sentence_spans.npz", spans=spans, offsets=offsets)


def reverse_segments(index_dir: Path) -> None:
    def change(rows: list[dict]) -> None:
        row = next(r for r in rows if len(r["segments"]) > 1)
        row["segments"].reverse()

    edit_rows(index_dir / "documents.jsonl", change)


# Damage that the checksums catch, each naming the file.
CORRUPTIONS = {
    "truncated dense.faiss": (lambda d: truncate(d / "dense.faiss"), "dense.faiss: .* bytes"),
    "empty dense.faiss": (lambda d: (d / "dense.faiss").write_bytes(b""), "dense.faiss: 0 bytes"),
    "edited dense.faiss": (lambda d: flip_byte(d / "dense.faiss", -5), "dense.faiss: contents differ"),
    "missing dense.faiss": (lambda d: (d / "dense.faiss").unlink(), "dense.faiss: missing"),
    "edited sentence_vectors.npy": (lambda d: flip_byte(d / "sentence_vectors.npy", -1), "sentence_vectors.npy"),
    "missing sentence_spans.npz": (lambda d: (d / "sentence_spans.npz").unlink(), "sentence_spans.npz: missing"),
    "truncated sentence_spans.npz": (lambda d: truncate(d / "sentence_spans.npz"), "sentence_spans.npz"),
    "missing chunks.jsonl": (lambda d: (d / "chunks.jsonl").unlink(), "chunks.jsonl: missing"),
    "garbage chunks.jsonl": (lambda d: (d / "chunks.jsonl").write_text("{{{ not json\n"), "chunks.jsonl"),
    "short chunks.jsonl": (lambda d: drop_last_line(d / "chunks.jsonl"), "chunks.jsonl"),
    "shifted chunk offsets": (lambda d: shift_chunk(d, 0, 1), "chunks.jsonl: contents differ"),
    "edited documents.jsonl": (edit_digit, "documents.jsonl: contents differ"),
    "missing documents.jsonl": (lambda d: (d / "documents.jsonl").unlink(), "documents.jsonl: missing"),
    "missing bm25": (lambda d: remove_tree(d / "bm25"), "bm25/.*: missing"),
    "edited bm25 vocabulary": (lambda d: flip_byte(d / "bm25" / "vocab.index.json", 3), "vocab.index.json"),
    "missing document_frequencies.json": (lambda d: (d / "document_frequencies.json").unlink(), "frequencies"),
    "an extra file": (lambda d: (d / "notes.txt").write_text("hello"), "notes.txt: not a file of this index"),
    "a checksum dropped": (lambda d: edit_manifest(d, lambda m: m["checksums"].pop("dense.faiss")), "no checksum"),
    "no checksums": (lambda d: edit_manifest(d, lambda m: m.pop("checksums")), "no checksum"),
}
# A manifest that cannot be read: the corpus folder is unknown.
MANIFEST_CORRUPTIONS = {
    "garbage manifest.json": lambda d: (d / "manifest.json").write_text("this is not json"),
    "binary manifest.json": lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe\x00garbage"),
    "list manifest.json": lambda d: (d / "manifest.json").write_text("[1, 2, 3]"),
    "incomplete manifest.json": lambda d: (d / "manifest.json").write_text('{"model": "hash-64"}'),
    "missing manifest.json": lambda d: (d / "manifest.json").unlink(),
}
# Edits whose checksums were forged to match: the structure and the recorded file hashes catch them.
FORGERIES = {
    "edited documents.jsonl": (edit_digit, "stored text of alpha.txt is not the corpus file"),
    "shifted chunk offsets": (lambda d: shift_chunk(d, 0, 1), "chunk 0 "),
    "chunk outside its document": (lambda d: edit_chunk(d, 0, end=10**6), "chunk 0 .* outside its document"),
    "chunk of no document": (lambda d: edit_chunk(d, 1, doc_id="nowhere.txt"), "chunk 1 .* belongs to no document"),
    "chunk across segments": (lambda d: edit_chunk(d, 0, end=40), "chunk 0 .* not inside one segment"),
    "chunk relabelled": (lambda d: edit_chunk(d, 0, section="comment"), "chunk 0 .* other labels"),
    "chunk of another outlet": (lambda d: edit_chunk(d, 0, source="Fake News"), "chunk 0 .* other labels"),
    "chunk ending in white space": (
        lambda d: edit_rows(d / "chunks.jsonl", lambda rows: rows[1].update(end=rows[1]["start"] + 3)),
        "chunk 1 .* white space",
    ),
    "sentence outside its chunk": (
        lambda d: rewrite_spans(d, lambda spans, offsets: spans.__setitem__((0, 1), 10**4)),
        "sentence 0 .* not inside chunk 0",
    ),
    "sentence offsets short of the chunks": (
        lambda d: np.savez(d / "sentence_spans.npz", **{k: v[:-1] if k == "offsets" else v for k, v in npz(d).items()}),
        "sentence offsets do not cover",
    ),
    "sentence vectors of another dimension": (
        lambda d: np.save(d / "sentence_vectors.npy", np.load(d / "sentence_vectors.npy")[:, :10]),
        "sentence table shapes disagree",
    ),
    "sentence vectors of another type": (
        lambda d: np.save(d / "sentence_vectors.npy", np.load(d / "sentence_vectors.npy").astype(np.float32)),
        "sentence table types disagree",
    ),
    "a document dropped": (lambda d: drop_last_line(d / "documents.jsonl"), "disagree about document sub/gamma.md"),
    "segments out of order": (reverse_segments, "out of order"),
    "frequencies of another index": (
        lambda d: (d / "document_frequencies.json").write_text('{"n_chunks": 99, "df": {}}'),
        "counts 99 chunks",
    ),
    "negative frequencies": (
        lambda d: (d / "document_frequencies.json").write_text(json.dumps({"n_chunks": n_chunks(d), "df": {"a": -1}})),
        "not between 1 and",
    ),
    "manifest counts other chunks": (lambda d: edit_manifest(d, lambda m: m.update(n_chunks=99)), "disagree"),
    "manifest of another dimension": (lambda d: edit_manifest(d, lambda m: m.update(dim=32)), "dimension"),
}


def npz(index_dir: Path) -> dict[str, np.ndarray]:
    with np.load(index_dir / "sentence_spans.npz") as table:
        return dict(table)


def n_chunks(index_dir: Path) -> int:
    return json.loads((index_dir / "manifest.json").read_text())["n_chunks"]


@pytest.mark.parametrize(("corrupt", "names"), list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_damaged_index_files_fail_their_checksums(built, index_dir: Path, hash_embedder, corrupt, names):
    corrupt(index_dir)
    with pytest.raises(qa.IndexFormatError, match=names) as info:
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    message = str(info.value)
    assert str(index_dir) in message  # names the folder (or a file in it)
    assert "rebuild it with `qa index`" in message


@pytest.mark.parametrize("corrupt", list(MANIFEST_CORRUPTIONS.values()), ids=list(MANIFEST_CORRUPTIONS))
def test_an_unreadable_manifest_is_an_index_format_error(built, index_dir: Path, hash_embedder, corrupt):
    corrupt(index_dir)
    for strict in (True, False):  # outside the default folder, the corpus is unknown: nothing to rebuild from
        with pytest.raises(qa.IndexFormatError) as info:
            qa.load(index_dir, embedder=hash_embedder, strict=strict)
        assert str(index_dir) in str(info.value) and "index" in str(info.value).lower()


@pytest.mark.parametrize(("forge", "names"), list(FORGERIES.values()), ids=list(FORGERIES))
def test_edits_with_forged_checksums_are_caught(built, index_dir: Path, hash_embedder, forge, names):
    forge(index_dir)
    reseal(index_dir)
    with pytest.raises(qa.IndexFormatError, match=names) as info:
        Index.load(index_dir)
    assert str(index_dir) in str(info.value) and "rebuild it" in str(info.value)


def test_the_forged_chunk_table_cases_are_valid_before_the_edit(built, index_dir: Path):
    """The forgeries above break one rule each: the tiny index's chunk 0 is a title, chunk 1 a byline."""
    index = Index.load(index_dir)
    title, byline = index.chunks[:2]
    assert (title.doc_id, title.start, title.end, title.section) == ("alpha.txt", 0, 20, "article")
    text = index.documents["alpha.txt"].text
    assert text[20] == "\n" and text[byline.start : byline.start + 3] == "By " and byline.end > 40


def test_missing_index_folder_is_an_index_format_error(tmp_path: Path):
    with pytest.raises(qa.IndexFormatError, match="no index here"):
        qa.load(tmp_path / "nowhere")


def test_integrity_messages_name_the_index_files_documents_file():
    """`qa.integrity` cannot import the name from `qa.index` (which imports it): the two must agree."""
    assert qa.integrity._DOCUMENTS == qa.index.DOCUMENTS


# --- sampled checksums ------------------------------------------------------------------


def test_a_small_file_is_sampled_whole():
    assert qa.folders.sample_ranges(1000) == [(0, 1000)]


def test_a_sampled_checksum_reads_both_ends_and_blocks_between(tmp_path: Path):
    size = 8 * 1024 * 1024 + 3
    path = tmp_path / "vectors.npy"
    path.write_bytes(np.random.default_rng(0).bytes(size))
    ranges = qa.folders.sample_ranges(size)
    assert len(ranges) == 66 and ranges[0] == (0, 65536) and ranges[-1] == (size - 65536, 65536)
    assert sum(n for _, n in ranges) == 2 * 65536 + 64 * 4096  # about 384 KiB of 8 MiB
    assert all(a + n <= b for (a, n), (b, _) in zip(ranges, ranges[1:], strict=False))  # in order, apart
    before = qa.folders.sample_sha256(path, size)
    for offset in (0, size - 1, ranges[33][0] + 100):
        flip_byte(path, offset)
        assert qa.folders.sample_sha256(path, size) != before
        flip_byte(path, offset)
    assert qa.folders.sample_sha256(path, size) == before
    assert qa.folders.sample_sha256(path, size + 1) != before  # the size is hashed too


# --- skipped files ------------------------------------------------------------------------


@pytest.fixture
def corpus_with_a_bad_file(tiny_corpus: Path) -> Path:
    (tiny_corpus / "bad.txt").write_bytes(b"Caf\xe9 notes\n\nNot UTF-8 at all.\n")
    return tiny_corpus


def test_skipped_files_are_recorded_and_hashed(corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder):
    engine = qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder)
    manifest = engine.index.manifest
    assert set(manifest.skipped) == {"bad.txt"} and "UTF-8" in manifest.skipped["bad.txt"]
    assert manifest.files["bad.txt"] == sha256(corpus_with_a_bad_file / "bad.txt")
    assert "bad.txt" not in engine.documents
    assert qa.load(index_dir, embedder=hash_embedder, strict=True).index.manifest.skipped == manifest.skipped


def test_fixing_a_skipped_file_makes_the_index_stale(corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder):
    qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder)
    (corpus_with_a_bad_file / "bad.txt").write_text("Cafe Notes\n\nNow it is UTF-8 and has an espresso.\n")
    with pytest.raises(qa.StaleIndexError, match="changed: bad.txt"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert "bad.txt" in qa.load(index_dir, embedder=hash_embedder).documents


def test_a_strict_build_refuses_a_bad_file(corpus_with_a_bad_file: Path, index_dir: Path, hash_embedder):
    with pytest.raises(qa.CorpusError, match="bad.txt"):
        qa.build(corpus_with_a_bad_file, index_dir, embedder=hash_embedder, strict=True)
    assert not index_dir.exists()


# --- the embedder -----------------------------------------------------------------------


def test_the_embedder_is_loaded_once_when_threads_ask_at_once(built, index_dir: Path, hash_embedder, monkeypatch):
    index = Index.load(index_dir)
    calls = []

    def slow_load(name: str, runtime: str = "torch"):
        calls.append(name)
        time.sleep(0.05)
        return hash_embedder

    monkeypatch.setattr(qa.index, "load_embedder", slow_load)
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: index.model, range(8)))
    assert calls == ["hash-64"]
    assert all(m is hash_embedder for m in models)


# --- atomic saves -------------------------------------------------------------------------


class Simulated(RuntimeError):
    pass


def stop_at(monkeypatch, step: str, nth: int, stop: Callable[[], None]) -> None:
    """Make the ``nth`` call of ``step`` run ``stop`` instead.

    ``step`` is a function of `qa.index` or `qa.folders` (whichever defines it), or ``faiss.write_index``.
    """
    if step == "faiss.write_index":
        owner, name = qa.dense.faiss, "write_index"
    else:
        owners = [module for module in (qa.index, qa.folders) if hasattr(module, step)]
        assert len(owners) == 1, f"{step} should live in exactly one of qa.index and qa.folders"
        owner, name = owners[0], step
    original = getattr(owner, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth:
            stop()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def simulated_error() -> None:
    raise Simulated("disk full (simulated)")


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def killed_while(action: Callable[[], None], monkeypatch, step: str, nth: int) -> None:
    """Run ``action`` in a forked child that is SIGKILLed at the ``nth`` call of ``step``: nothing after runs."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            stop_at(monkeypatch, step, nth, kill_self)
            action()
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"the save never reached {step}"


def exchange_works(folder: Path) -> bool:
    a, b = folder / "exchange-a", folder / "exchange-b"
    a.mkdir()
    b.mkdir()
    try:
        return qa.folders._exchange(a, b)
    finally:
        a.rmdir()
        b.rmdir()


@pytest.fixture(params=["exchange", "two renames"])
def swap(request, monkeypatch, tmp_path: Path) -> str:
    """Both ways of swapping the new index in: one atomic exchange, or (where there is none) two renames."""
    if request.param == "exchange" and not exchange_works(tmp_path):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    if request.param == "two renames":
        monkeypatch.setattr(qa.folders, "_renameat2", None)
    return request.param


@pytest.fixture
def newer(tiny_corpus: Path, tmp_path: Path, hash_embedder) -> Index:
    """An index of the tiny corpus and one more document: what the interrupted save was writing."""
    corpus = tmp_path / "newer-corpus"
    corpus.mkdir()
    for path in tiny_corpus.rglob("*"):
        if path.is_file():
            (corpus / path.relative_to(tiny_corpus)).parent.mkdir(parents=True, exist_ok=True)
            (corpus / path.relative_to(tiny_corpus)).write_bytes(path.read_bytes())
    (corpus / "delta.txt").write_text(DELTA)
    return Index.build(corpus, embedder=hash_embedder)


OLD_DOCS = {"alpha.txt", "beta.txt", "sub/gamma.md"}
NEW_DOCS = OLD_DOCS | {"delta.txt"}
# Where a save is stopped (function, which call), and the index it leaves: old before the swap, new after.
KILL_POINTS = {
    "exchange": [
        ("_write_index", 1, OLD_DOCS),
        ("faiss.write_index", 1, OLD_DOCS),
        ("_write_jsonl", 2, OLD_DOCS),
        ("_write_json", 2, OLD_DOCS),  # everything but the manifest written
        ("_exchange", 1, OLD_DOCS),
        ("_fsync", 1, OLD_DOCS),
        ("_remove_tree", 1, NEW_DOCS),  # swapped; the old index not yet removed
    ],
    "two renames": [
        ("_write_index", 1, OLD_DOCS),
        ("_write_json", 2, OLD_DOCS),
        ("_exchange", 1, OLD_DOCS),
        ("_rename", 1, OLD_DOCS),  # before the old index is moved aside
        ("_rename", 2, NEW_DOCS),  # between the renames: no index at its place; the complete new one is restored
        ("_remove_tree", 1, NEW_DOCS),
    ],
}
KILLS = [(way, *point) for way, points in KILL_POINTS.items() for point in points]


@pytest.mark.parametrize("then", ["load", "save"])
@pytest.mark.parametrize(
    ("swap", "step", "nth", "expected"), KILLS, ids=[f"{w}-{s}-{n}" for w, s, n, _ in KILLS], indirect=["swap"]
)
def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_index(
    built, newer: Index, index_dir: Path, monkeypatch, swap, step, nth, expected, then
):
    killed_while(lambda: newer.save(index_dir), monkeypatch, step, nth)
    if then == "save":  # the next save tidies up first; what it writes is the index from then on
        built.index.save(index_dir)
        expected = OLD_DOCS
    assert set(Index.load(index_dir).documents) == expected
    assert hidden_copies(index_dir) == []  # nothing the killed save left is kept


FAILURES = {
    "exchange": [("faiss.write_index", 1), ("_write_jsonl", 1), ("_write_json", 2), ("_exchange", 1)],
    "two renames": [("faiss.write_index", 1), ("_write_json", 2), ("_rename", 1), ("_rename", 2)],
}


@pytest.mark.parametrize(
    ("swap", "step", "nth"),
    [(way, *point) for way, points in FAILURES.items() for point in points],
    ids=[f"{way}-{s}-{n}" for way, points in FAILURES.items() for s, n in points],
    indirect=["swap"],
)
def test_a_failed_save_leaves_the_previous_index_intact(
    built, newer: Index, index_dir: Path, monkeypatch, swap, step, nth
):
    before = snapshot(index_dir)
    stop_at(monkeypatch, step, nth, simulated_error)
    with pytest.raises(Simulated):
        newer.save(index_dir)
    monkeypatch.undo()
    assert snapshot(index_dir) == before
    assert visible(index_dir.parent) == ["corpus", "index", "newer-corpus"] and hidden_copies(index_dir) == []


def test_a_failed_first_save_leaves_nothing(tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch):
    stop_at(monkeypatch, "faiss.write_index", 1, simulated_error)
    with pytest.raises(Simulated):
        qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert visible(index_dir.parent) == ["corpus"] and hidden_copies(index_dir) == []


def test_a_first_save_killed_before_its_rename_is_completed_by_the_next_load(
    tiny_corpus: Path, newer: Index, index_dir: Path, monkeypatch
):
    killed_while(lambda: newer.save(index_dir), monkeypatch, "_rename", 1)
    assert not index_dir.exists() and len(hidden_copies(index_dir)) == 1
    assert set(Index.load(index_dir).documents) == NEW_DOCS  # it was complete
    assert hidden_copies(index_dir) == []


def test_the_exchange_swaps_in_one_step(built, newer: Index, index_dir: Path, monkeypatch, tmp_path):
    if not exchange_works(tmp_path):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    renames = []
    monkeypatch.setattr(qa.folders, "_rename", lambda a, b: renames.append(b))
    newer.save(index_dir)
    assert renames == []
    assert set(Index.load(index_dir).documents) == NEW_DOCS and hidden_copies(index_dir) == []


def failing_renameat2(code: int):
    def renameat2(*args) -> int:
        ctypes.set_errno(code)
        return -1

    return renameat2


@pytest.mark.parametrize("renameat2", [None, failing_renameat2(errno.EINVAL), failing_renameat2(errno.ENOSYS)])
def test_without_an_exchange_the_save_renames_twice(built, newer: Index, index_dir: Path, monkeypatch, renameat2):
    monkeypatch.setattr(qa.folders, "_renameat2", renameat2)
    renames = []
    original = qa.folders._rename
    monkeypatch.setattr(qa.folders, "_rename", lambda a, b: (renames.append(Path(b).name), original(a, b)))
    newer.save(index_dir)
    assert len(renames) == 2 and renames[0].startswith(".index.old-") and renames[1] == "index"
    assert set(Index.load(index_dir).documents) == NEW_DOCS and hidden_copies(index_dir) == []


def test_an_exchange_that_fails_otherwise_fails_the_save(built, newer: Index, index_dir: Path, monkeypatch):
    monkeypatch.setattr(qa.folders, "_renameat2", failing_renameat2(errno.EACCES))
    with pytest.raises(PermissionError):
        newer.save(index_dir)
    assert set(Index.load(index_dir).documents) == OLD_DOCS and hidden_copies(index_dir) == []


@contextlib.contextmanager
def held_by_another_writer(index_dir: Path):
    """The index's writer lock held by another thread (the thread holding it may take it again) until the block ends."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with qa.folders.writer_lock(index_dir, 1):
            holding.set()
            done.wait(30)

    writer = threading.Thread(target=hold)
    writer.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        done.set()
        writer.join(10)


def test_a_second_writer_waits_then_fails_clearly(built, newer: Index, index_dir: Path):
    with held_by_another_writer(index_dir):
        started = time.perf_counter()
        with pytest.raises(IndexLockedError, match="another writer is saving this index") as info:
            newer.save(index_dir, lock_timeout=0.2)
        assert 0.2 <= time.perf_counter() - started < 5
        assert str(index_dir) in str(info.value)
    newer.save(index_dir, lock_timeout=0.2)  # free again
    assert set(Index.load(index_dir).documents) == NEW_DOCS


def test_a_load_never_removes_the_folder_of_a_live_writer(built, index_dir: Path):
    being_filled = index_dir.with_name(".index.tmp-123-abcdef01")
    being_filled.mkdir()
    with held_by_another_writer(index_dir):
        assert set(Index.load(index_dir).documents) == OLD_DOCS  # does not wait for the writer either
        assert being_filled.exists()
    Index.load(index_dir)
    assert not being_filled.exists()


def test_a_load_that_overlaps_a_save_reads_the_new_folder(built, newer: Index, index_dir: Path, monkeypatch):
    """Another save swaps a folder in after this load read the manifest: the files no longer match it, so read again."""
    read = qa.index.Manifest.read
    swapped = []

    def read_then_swap(path: Path):
        manifest = read(path)
        if not swapped:
            newer.save(index_dir)
            swapped.append(path)
        return manifest

    monkeypatch.setattr(qa.index.Manifest, "read", read_then_swap)
    assert set(Index.load(index_dir).documents) == NEW_DOCS
    assert swapped


def test_leftovers_of_the_previous_save_code_are_removed(built, index_dir: Path):
    old_style = index_dir.with_name(".index.old-4242")
    old_style.mkdir()
    built.index.save(index_dir)
    assert hidden_copies(index_dir) == []


def test_a_load_restores_the_old_index_when_the_new_one_is_incomplete(built, index_dir: Path, tmp_path: Path):
    """Killed between the renames, but the new copy is damaged: the complete old one comes back."""
    old = index_dir.with_name(".index.old-1-00000001")
    index_dir.rename(old)
    new = index_dir.with_name(".index.tmp-1-00000002")
    old_copy = snapshot(old)
    new.mkdir()
    (new / "manifest.json").write_text("{}")
    assert set(Index.load(index_dir).documents) == OLD_DOCS
    assert snapshot(index_dir) == old_copy and hidden_copies(index_dir) == []


# --- the committed index ----------------------------------------------------------


def test_committed_index_is_current(repo_root: Path):
    """Fails when data/, the chunking settings or the model change without `qa index`."""
    index = Index.load(repo_root / "embeddings")
    reasons = index.stale_reasons(repo_root / "data", settings=qa.ChunkingSettings(), model=qa.DEFAULT_MODEL)
    assert reasons == [], "rebuild embeddings/ with `qa index`: " + "; ".join(reasons)
    assert index.check(repo_root / "data").problems == []
    assert index.corpus_path(repo_root / "embeddings").resolve() == (repo_root / "data").resolve()


def test_committed_index_model_is_the_installed_one(repo_root: Path):
    manifest = Index.load(repo_root / "embeddings").manifest
    module, dist = qa.models.SHIPPED_MODELS[qa.DEFAULT_MODEL]
    assert manifest.model_version == f"{dist}=={metadata.version(dist)}"
    assert manifest.dim == 384


def test_committed_index_matches_the_current_segmentation_and_chunking(repo_root: Path, default_docs):
    """Segmentation code changes are not in the manifest: compare the stored spans with today's."""
    index = Index.load(repo_root / "embeddings")
    assert index.documents == default_docs, "segmentation changed: rebuild embeddings/ with `qa index`"
    settings = qa.ChunkingSettings(**index.manifest.chunking)
    expected = [c for d in default_docs.values() for c in chunk_document(d, settings)]
    assert index.chunks == expected, "chunking changed: rebuild embeddings/ with `qa index`"


def test_default_index_dir_honours_the_environment(monkeypatch, tmp_path: Path, repo_root: Path):
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path))
    assert qa.default_index_dir() == tmp_path
    monkeypatch.delenv("QA_INDEX_DIR")
    assert qa.default_index_dir() == repo_root / "embeddings"


def test_every_chunk_has_its_sentences_with_unit_vectors(built: qa.Engine):
    index = built.index
    for chunk_id, chunk in enumerate(index.chunks):
        spans, vectors = index.sentences.of_chunk(chunk_id)
        assert len(spans) >= 1
        assert spans[0][0] == chunk.start and spans[-1][1] == chunk.end  # the chunk, cut into sentences
        assert all(chunk.start <= s < e <= chunk.end for s, e in spans)
        assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=1e-2)


def test_index_files_are_readable_text(built, index_dir: Path):
    assert os.path.getsize(index_dir / "dense.faiss") > 0
    for name in ("documents.jsonl", "chunks.jsonl"):
        for line in (index_dir / name).read_text(encoding="utf-8").splitlines():
            json.loads(line)
