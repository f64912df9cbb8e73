"""Build, save, load, staleness and corruption of an index folder."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import qa
import qa.index
from qa.chunking import chunk_document
from qa.index import Index

INDEX_FILES = {"manifest.json", "documents.jsonl", "chunks.jsonl", "dense.faiss", "bm25", "sentences.npz"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def built(tiny_corpus: Path, index_dir: Path, hash_embedder) -> qa.Engine:
    return qa.build(tiny_corpus, index_dir, embedder=hash_embedder)


# --- round trip and manifest ------------------------------------------------------


def test_round_trip_gives_the_same_index(built: qa.Engine, index_dir: Path, hash_embedder):
    loaded = qa.load(index_dir, embedder=hash_embedder, strict=True)
    assert loaded.index.chunks == built.index.chunks
    assert loaded.index.documents == built.index.documents
    assert loaded.index.manifest == built.index.manifest
    assert loaded.index.dense.ntotal == built.index.dense.ntotal == len(built.index.chunks)
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
    assert manifest["format_version"] == qa.index.FORMAT_VERSION
    assert manifest["corpus_dir"] == "corpus"  # relative to the index's parent folder


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
    assert sorted(p.name for p in index_dir.parent.iterdir()) == ["corpus", "index"]


def test_saved_index_folder_has_ordinary_permissions(built, index_dir: Path):
    reference = index_dir.parent / "reference"
    reference.mkdir()
    assert index_dir.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


# --- staleness ----------------------------------------------------------------------


def test_a_fresh_index_is_not_stale(built, tiny_corpus: Path, index_dir: Path):
    index = Index.load(index_dir)
    assert index.stale_reasons(tiny_corpus, settings=qa.ChunkingSettings(), model="hash-64") == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda c: (c / "alpha.txt").write_text("Quokka Island Report\n\nA changed body.\n"), "changed: alpha.txt"),
        (lambda c: (c / "delta.txt").write_text("Zebra Notes\n\nZebras have stripes.\n"), "added: delta.txt"),
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


def test_newer_format_version_is_stale(built, index_dir: Path):
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = qa.index.FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(qa.StaleIndexError, match="format"):
        Index.load(index_dir)


# --- corrupt or missing indexes -----------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def drop_last_line(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")


def rewrite_sentences(path: Path, **changes) -> None:
    """Replace arrays of the sentence table (None: drop one)."""
    with np.load(path) as table:
        arrays = {k: v for k, v in (dict(table) | changes).items() if v is not None}
    np.savez(path, **arrays)


def remove_tree(path: Path) -> None:
    for p in sorted(path.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    path.rmdir()


CORRUPTIONS = {
    "truncated dense.faiss": lambda d: truncate(d / "dense.faiss"),
    "empty dense.faiss": lambda d: (d / "dense.faiss").write_bytes(b""),
    "missing dense.faiss": lambda d: (d / "dense.faiss").unlink(),
    "missing chunks.jsonl": lambda d: (d / "chunks.jsonl").unlink(),
    "garbage chunks.jsonl": lambda d: (d / "chunks.jsonl").write_text("{{{ not json\n"),
    "short chunks.jsonl": lambda d: drop_last_line(d / "chunks.jsonl"),
    "missing documents.jsonl": lambda d: (d / "documents.jsonl").unlink(),
    "wrong documents.jsonl": lambda d: (d / "documents.jsonl").write_text('{"doc_id": "x"}\n'),
    "missing bm25": lambda d: remove_tree(d / "bm25"),
    "missing sentences.npz": lambda d: (d / "sentences.npz").unlink(),
    "truncated sentences.npz": lambda d: truncate(d / "sentences.npz"),
    "sentences.npz without vectors": lambda d: rewrite_sentences(d / "sentences.npz", vectors=None),
    "sentence offsets short of the chunks": lambda d: rewrite_sentences(
        d / "sentences.npz", offsets=np.load(d / "sentences.npz")["offsets"][:-1]
    ),
    "sentence vectors of another dimension": lambda d: rewrite_sentences(
        d / "sentences.npz", vectors=np.load(d / "sentences.npz")["vectors"][:, :10]
    ),
    "garbage manifest.json": lambda d: (d / "manifest.json").write_text("this is not json"),
    "binary manifest.json": lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe\x00garbage"),
    "list manifest.json": lambda d: (d / "manifest.json").write_text("[1, 2, 3]"),
    "incomplete manifest.json": lambda d: (d / "manifest.json").write_text('{"model": "hash-64"}'),
    "missing manifest.json": lambda d: (d / "manifest.json").unlink(),
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_corrupt_index_is_an_index_format_error(built, index_dir: Path, hash_embedder, corrupt):
    corrupt(index_dir)
    with pytest.raises(qa.IndexFormatError) as info:
        qa.load(index_dir, embedder=hash_embedder)
    message = str(info.value)
    assert str(index_dir) in message  # names the folder (or a file in it)
    assert "index" in message.lower()


def test_missing_index_folder_is_an_index_format_error(tmp_path: Path):
    with pytest.raises(qa.IndexFormatError, match="no index here"):
        qa.load(tmp_path / "nowhere")


def test_dimension_disagreement_is_an_index_format_error(built, index_dir: Path):
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["dim"] = 32
    path.write_text(json.dumps(manifest))
    with pytest.raises(qa.IndexFormatError, match="disagree"):
        Index.load(index_dir)


# --- atomic save --------------------------------------------------------------------


def _boom(*args, **kwargs):
    raise RuntimeError("disk full (simulated)")


@pytest.mark.parametrize(
    "target",
    ["faiss.write_index", "_write_jsonl", "_replace_dir"],
)
def test_failed_save_leaves_the_previous_index_intact(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch, target
):
    before = snapshot(index_dir)
    owner, name = (qa.index.faiss, "write_index") if target.startswith("faiss.") else (qa.index, target)
    monkeypatch.setattr(owner, name, _boom)
    (tiny_corpus / "delta.txt").write_text("Zebra Notes\n\nZebras have stripes.\n")
    with pytest.raises(RuntimeError, match="simulated"):
        qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    monkeypatch.undo()
    assert snapshot(index_dir) == before
    assert sorted(p.name for p in index_dir.parent.iterdir()) == ["corpus", "index"]  # no temporary folders
    old = qa.load(index_dir, embedder=hash_embedder, strict=False)  # still loads (and now rebuilds)
    assert "delta.txt" in old.documents


def test_failed_first_save_leaves_nothing(tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch):
    monkeypatch.setattr(qa.index.faiss, "write_index", _boom)
    with pytest.raises(RuntimeError, match="simulated"):
        qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    assert sorted(p.name for p in index_dir.parent.iterdir()) == ["corpus"]


# --- the committed index ----------------------------------------------------------


def test_committed_index_is_current(repo_root: Path):
    """Fails when data/, the chunking settings or the model change without `qa index`."""
    index = Index.load(repo_root / "embeddings")
    reasons = index.stale_reasons(repo_root / "data", settings=qa.ChunkingSettings(), model=qa.DEFAULT_MODEL)
    assert reasons == [], "rebuild embeddings/ with `qa index`: " + "; ".join(reasons)
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
