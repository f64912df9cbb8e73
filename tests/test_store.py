"""`qa.load` and `qa.build`: a damaged or edited index is refused when strict and rebuilt from its corpus otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import qa
import qa.index
import qa.store
from qa.index import Index
from tests.conftest import TINY_DOCS, write_corpus
from tests.test_index import CORRUPTIONS, FORGERIES, MANIFEST_CORRUPTIONS, edit_digit, flip_byte, hidden_copies, reseal

QUESTION = "How many quokkas did rangers count?"


def refused_then_rebuilt(index_dir: Path, embedder, caplog, corpus: Path, refusal: str, logged: str) -> None:
    """A strict load raises `IndexFormatError` matching ``refusal``; a plain one logs ``logged`` and rebuilds."""
    with pytest.raises(qa.IndexFormatError, match=refusal):
        qa.load(index_dir, embedder=embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=embedder)
    assert logged in caplog.text
    assert_quotes_the_corpus(engine, corpus)


def assert_quotes_the_corpus(engine: qa.Engine, corpus: Path) -> None:
    """Every passage is the corpus file's own text at its offsets."""
    answer = engine.ask(QUESTION)
    assert answer.passages
    for p in answer.passages:
        assert p.text == (corpus / p.doc_id).read_bytes().decode("utf-8")[p.start : p.end]
    assert any("12,000 quokkas" in p.text for p in answer.passages)


# --- an edited document text ---------------------------------------------------------


def test_an_edited_document_text_fails_a_strict_load(built, index_dir: Path, hash_embedder):
    edit_digit(index_dir)
    with pytest.raises(qa.IndexFormatError, match="documents.jsonl"):
        qa.load(index_dir, embedder=hash_embedder, strict=True)


def test_an_edited_document_text_is_rebuilt_from_the_corpus(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, caplog
):
    edit_digit(index_dir)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "documents.jsonl" in caplog.text and "rebuilding" in caplog.text
    assert_quotes_the_corpus(engine, tiny_corpus)
    assert_quotes_the_corpus(qa.load(index_dir, embedder=hash_embedder, strict=True), tiny_corpus)


def test_an_edit_with_forged_checksums_is_still_caught_by_the_corpus_hashes(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, caplog
):
    edit_digit(index_dir)
    reseal(index_dir)
    refused_then_rebuilt(index_dir, hash_embedder, caplog, tiny_corpus, "alpha.txt is not the corpus file", "alpha.txt")


def test_a_contradiction_with_the_corpus_is_not_staleness(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch, caplog
):
    """`Index.check`'s problems (an index in memory that differs from an unchanged file) raise or rebuild."""
    read = Index.load

    def load_and_forge(cls, folder, **kwargs):
        index = read(folder, **kwargs)
        index.documents["alpha.txt"].text = index.documents["alpha.txt"].text.replace("12,000", "19,000")
        return index

    monkeypatch.setattr(Index, "load", classmethod(load_and_forge))
    logged = "alpha.txt: the index holds other text"
    refused_then_rebuilt(index_dir, hash_embedder, caplog, tiny_corpus, "contradicts its corpus", logged)


# --- damaged indexes ------------------------------------------------------------------------

DAMAGE = {name: corrupt for name, (corrupt, _) in CORRUPTIONS.items()}
DAMAGE |= {f"forged: {name}": (lambda d, f=forge: (f(d), reseal(d))) for name, (forge, _) in FORGERIES.items()}


@pytest.mark.parametrize("damage", list(DAMAGE.values()), ids=list(DAMAGE))
def test_a_damaged_index_is_rebuilt_by_a_non_strict_load(
    built, tiny_corpus: Path, index_dir: Path, hash_embedder, damage, caplog
):
    damage(index_dir)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "rebuilding" in caplog.text and str(index_dir) in caplog.text  # says why
    assert engine.index.chunks == built.index.chunks
    assert_quotes_the_corpus(engine, tiny_corpus)
    again = qa.load(index_dir, embedder=hash_embedder, strict=True)  # saved: sound now
    assert again.index.documents == built.index.documents


def test_a_damaged_index_without_its_corpus_raises(built, tiny_corpus: Path, index_dir: Path, hash_embedder):
    flip_byte(index_dir / "dense.faiss", -5)
    tiny_corpus.rename(tiny_corpus.with_name("moved"))
    with pytest.raises(qa.IndexFormatError, match="dense.faiss"):
        qa.load(index_dir, embedder=hash_embedder)


def test_an_old_format_index_is_rebuilt_by_a_non_strict_load(built, index_dir: Path, hash_embedder, caplog):
    path = index_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 2
    path.write_text(json.dumps(manifest))
    with pytest.raises(qa.index.IndexVersionError):
        qa.load(index_dir, embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(index_dir, embedder=hash_embedder)
    assert "index format 2" in caplog.text
    assert engine.index.manifest.format_version == qa.index.FORMAT_VERSION


def test_the_rebuild_keeps_the_manifest_model_and_chunking(
    tiny_corpus: Path, index_dir: Path, hash_embedder, monkeypatch
):
    settings = qa.ChunkingSettings(target_words=20, max_words=170, min_words=5, overlap=0)
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder, settings=settings)
    flip_byte(index_dir / "dense.faiss", -5)
    asked = []
    monkeypatch.setattr(qa.store, "load_embedder", lambda name, runtime=None: asked.append(name) or hash_embedder)
    engine = qa.load(index_dir)
    assert asked == ["hash-64"]
    assert engine.index.manifest.chunking == settings.to_dict()


# --- the default index ------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch, hash_embedder) -> Path:
    """A repo-like folder: ``data/`` and its index ``embeddings/``, which are the defaults."""
    root = tmp_path / "repo"
    write_corpus(root / "data", TINY_DOCS)
    monkeypatch.setattr(qa.store, "default_index_dir", lambda: root / "embeddings")
    monkeypatch.setattr(qa.store, "default_corpus_dir", lambda: root / "data")
    qa.build(root / "data", root / "embeddings", embedder=hash_embedder)
    return root


NO_MANIFEST = MANIFEST_CORRUPTIONS | {
    "no folder": shutil.rmtree,
    "garbage everywhere": lambda d: [p.write_bytes(b"\0garbage") for p in d.rglob("*") if p.is_file()],
}


@pytest.mark.parametrize("corrupt", list(NO_MANIFEST.values()), ids=list(NO_MANIFEST))
def test_a_default_index_without_a_readable_manifest_is_rebuilt_from_data(repo: Path, hash_embedder, corrupt, caplog):
    corrupt(repo / "embeddings")
    with pytest.raises(qa.IndexFormatError):
        qa.load(embedder=hash_embedder, strict=True)
    with caplog.at_level("WARNING", logger="qa"):
        engine = qa.load(embedder=hash_embedder)
    assert "rebuilding it from" in caplog.text and str(repo / "data") in caplog.text
    assert set(engine.documents) == set(TINY_DOCS)
    assert engine.index.manifest.corpus_dir == "data"
    assert_quotes_the_corpus(qa.load(embedder=hash_embedder, strict=True), repo / "data")


def test_without_a_manifest_the_rebuild_uses_the_default_model_and_chunking(repo: Path, hash_embedder, monkeypatch):
    (repo / "embeddings" / "manifest.json").write_text("not json")
    asked = []
    monkeypatch.setattr(qa.store, "load_embedder", lambda name, runtime=None: asked.append(name) or hash_embedder)
    engine = qa.load()
    assert asked == [qa.DEFAULT_MODEL]
    assert engine.index.manifest.chunking == qa.ChunkingSettings().to_dict()


def test_a_manifestless_index_elsewhere_is_not_rebuilt(repo: Path, tmp_path: Path, hash_embedder):
    other = tmp_path / "other"
    qa.build(repo / "data", other, embedder=hash_embedder)
    (other / "manifest.json").unlink()
    with pytest.raises(qa.IndexFormatError, match="no index here"):
        qa.load(other, embedder=hash_embedder)


def test_default_corpus_dir_is_the_repo_data(repo_root: Path):
    assert qa.store.default_corpus_dir() == repo_root / "data"


# --- build -------------------------------------------------------------------------------


def test_build_writes_atomically_and_leaves_only_the_lock(tiny_corpus: Path, index_dir: Path, hash_embedder):
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    qa.build(tiny_corpus, index_dir, embedder=hash_embedder, strict=True)
    assert sorted(p.name for p in index_dir.parent.iterdir()) == [".index.lock", "corpus", "index"]
    assert hidden_copies(index_dir) == []
