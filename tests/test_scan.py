"""The corpus scan (`qa.scan`): what it lists, and what it calls added, changed, removed or unchanged.

The recorded side is a dict-backed `Recorded`, so that these tests say what the scan does whatever the store.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import qa.scan
from qa.documents import CorpusError
from qa.scan import changes_since, compare, list_corpus, stat_of
from qa.stores.segment import FileStat


class Recorded:
    """What an index recorded: doc id -> FileStat."""

    def __init__(self, stats: dict[str, FileStat]):
        self.stats = stats

    def recorded(self, doc_id: str) -> FileStat | None:
        return self.stats.get(doc_id)

    def recorded_ids(self) -> list[str]:
        return list(self.stats)

    def recorded_stats(self, doc_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        got = [self.stats.get(d) for d in doc_ids]
        sizes = np.asarray([-1 if s is None else s.size for s in got], dtype=np.int64)
        mtimes = np.asarray([-1 if s is None else s.mtime_ns for s in got], dtype=np.int64)
        return sizes, mtimes


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "news" / "2024").mkdir(parents=True)
    (root / "a.txt").write_text("Alpha.", encoding="utf-8")
    (root / "news" / "b.html").write_text("<p>Beta.</p>", encoding="utf-8")
    (root / "news" / "2024" / "c.md").write_text("Gamma.", encoding="utf-8")
    (root / "notes.xyz").write_text("not a document", encoding="utf-8")
    (root / ".hidden").write_text("ignored", encoding="utf-8")
    return root


def recorded_now(root: Path) -> Recorded:
    listing = list_corpus(root)
    return Recorded({d: stat_of(root / d) for d in listing.ids})


def test_listing_names_each_document_by_its_posix_path_with_its_stat(corpus: Path):
    listing = list_corpus(corpus)
    assert sorted(listing.ids) == ["a.txt", "news/2024/c.md", "news/b.html"]
    for doc_id, (size, mtime) in zip(listing.ids, listing.stats.tolist(), strict=True):
        st = (corpus / doc_id).stat()
        assert (size, mtime) == (st.st_size, st.st_mtime_ns)
    assert listing.others == ["notes.xyz"] and listing.metadata is None


def test_listing_an_empty_folder_gives_empty_tables(tmp_path: Path):
    listing = list_corpus(tmp_path)
    assert listing.ids == [] and listing.stats.shape == (0, 2)


def test_listing_a_missing_folder_is_a_corpus_error(tmp_path: Path):
    with pytest.raises(CorpusError, match="no such corpus folder"):
        list_corpus(tmp_path / "gone")


def test_a_linked_folder_is_not_entered_but_a_linked_file_is_listed(corpus: Path):
    (corpus / "loop").symlink_to(corpus, target_is_directory=True)
    (corpus / "link.txt").symlink_to(corpus / "a.txt")
    (corpus / "dangling.txt").symlink_to(corpus / "nowhere.txt")
    ids = list_corpus(corpus).ids
    assert "link.txt" in ids and "dangling.txt" not in ids
    assert not any(d.startswith("loop/") for d in ids)


def test_an_unchanged_corpus_has_no_changes_and_hashes_nothing(corpus: Path, monkeypatch):
    recorded = recorded_now(corpus)
    hashed: list[Path] = []
    monkeypatch.setattr(qa.scan, "file_sha256", lambda path: hashed.append(path) or "")
    changes = compare(corpus, list_corpus(corpus), recorded)
    assert not changes.any and hashed == []


def test_added_changed_and_removed_files_are_told_apart(corpus: Path):
    recorded = recorded_now(corpus)
    (corpus / "news" / "b.html").write_text("<p>Beta, edited at length.</p>", encoding="utf-8")
    (corpus / "news" / "2024" / "c.md").unlink()
    (corpus / "d.txt").write_text("Delta.", encoding="utf-8")
    changes = compare(corpus, list_corpus(corpus), recorded)
    assert (changes.added, changes.changed, changes.removed) == (["d.txt"], ["news/b.html"], ["news/2024/c.md"])
    assert changes.stats["d.txt"] == stat_of(corpus / "d.txt")
    assert changes.reasons() == [
        "1 document(s) added: d.txt",
        "1 document(s) removed: news/2024/c.md",
        "1 document(s) changed: news/b.html",
    ]


def test_a_touched_file_with_the_same_bytes_is_unchanged(corpus: Path):
    recorded = recorded_now(corpus)
    st = (corpus / "a.txt").stat()
    os.utime(corpus / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not compare(corpus, list_corpus(corpus), recorded).any


def test_an_edit_that_keeps_size_and_mtime_goes_unseen_unless_stats_are_not_trusted(corpus: Path):
    """As git's: the stat is trusted; without trust (metadata.json changed) every file counts as changed."""
    recorded = recorded_now(corpus)
    path = corpus / "a.txt"
    st = path.stat()
    path.write_text("Omega.", encoding="utf-8")  # same length
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not compare(corpus, list_corpus(corpus), recorded).any
    untrusted = compare(corpus, list_corpus(corpus), recorded, trust_stats=False)
    assert sorted(untrusted.changed) == ["a.txt", "news/2024/c.md", "news/b.html"] and not untrusted.added


def test_a_changed_metadata_file_makes_every_document_changed(corpus: Path):
    recorded = recorded_now(corpus)
    assert not changes_since(corpus, recorded, None).any
    (corpus / "metadata.json").write_text('{"a.txt": {"title": "A"}}', encoding="utf-8")
    changes = changes_since(corpus, recorded, None)
    assert changes.metadata and sorted(changes.changed) == ["a.txt", "news/2024/c.md", "news/b.html"]
    assert changes.others == ["notes.xyz"]


@pytest.mark.parametrize("apart", [False, True])
def test_a_listing_begun_soon_is_list_corpus_own_in_a_thread_or_a_process_apart(corpus: Path, apart, monkeypatch):
    import subprocess

    from qa import scan

    (corpus / "metadata.json").write_text("{}", encoding="utf-8")
    started = []
    real_run = subprocess.run
    monkeypatch.setattr(scan.subprocess, "run", lambda *a, **k: started.append(a[0]) or real_run(*a, **k))
    got, want = scan.listing_soon(corpus, apart=apart).result(timeout=60), list_corpus(corpus)
    assert (got.ids, got.stats.tolist(), got.others, got.metadata) == (
        want.ids, want.stats.tolist(), want.others, want.metadata
    )  # fmt: skip
    assert len(started) == apart and (not apart or started[0][1:3] == ["-I", "-S"])  # a bare interpreter


def test_a_listing_apart_that_cannot_run_is_made_here_and_a_missing_folder_is_still_a_corpus_error(
    corpus: Path, tmp_path: Path, monkeypatch
):
    from qa import scan

    def no_processes(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(scan.subprocess, "run", no_processes)
    assert scan.listing_soon(corpus, apart=True).result(timeout=60).ids == list_corpus(corpus).ids
    with pytest.raises(CorpusError, match="no such corpus folder"):
        scan.listing_soon(tmp_path / "gone", apart=True).result(timeout=60)
