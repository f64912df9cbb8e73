"""Finding documents (`qa.catalog.find_documents`, `Engine.find_documents`): by file name, then by title words."""

from __future__ import annotations

from pathlib import Path

import pytest

import qa
import qa.ui
from qa.catalog import MAX_FOUND, find_documents
from tests.conftest import write_corpus

DOCS = {
    "reports/harbour-2024.txt": "Harbour closures\n\nThe harbour bridge at Zanzibar was closed on Monday.",
    "reports/harbour-2025.txt": "Ferry timetable\n\nFerries leave the harbour at noon on weekdays.",
    "notes/wombats.txt": "Wombat census\n\nRangers counted wombats in Narawntapu park in 2024.",
    "notes/kites.txt": "Kite festival\n\nThe festival drew kites from twelve countries.",
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> qa.Engine:
    root = tmp_path_factory.mktemp("catalog")
    return qa.build(write_corpus(root / "corpus", DOCS), root / "index", embedder=qa.HashEmbedder())


def test_file_names_holding_every_word_come_first_in_id_order(engine: qa.Engine):
    """Then BM25's: "harbour" is in the other report's title."""
    assert find_documents(engine.store, "HARBOUR 2025") == ["reports/harbour-2025.txt", "reports/harbour-2024.txt"]
    assert find_documents(engine.store, "reports")[:2] == ["reports/harbour-2024.txt", "reports/harbour-2025.txt"]


def test_title_words_find_a_document_whose_name_does_not_hold_them(engine: qa.Engine):
    assert engine.find_documents("census") == ["notes/wombats.txt"]
    assert engine.find_documents("festival kites")[0] == "notes/kites.txt"


def test_a_document_counts_once_and_the_limit_holds(engine: qa.Engine):
    found = engine.find_documents("harbour", limit=5)
    assert len(found) == len(set(found)) and found[:2] == ["reports/harbour-2024.txt", "reports/harbour-2025.txt"]
    assert engine.find_documents("harbour", limit=1) == ["reports/harbour-2024.txt"]


def test_no_text_lists_the_first_documents_and_nothing_found_is_empty(engine: qa.Engine):
    assert engine.find_documents("", limit=2) == sorted(DOCS)[:2]
    assert engine.find_documents("platypus") == []


@pytest.mark.parametrize("limit", [0, -1, MAX_FOUND + 1, 2.5, True])
def test_a_bad_limit_is_refused_with_its_value(engine: qa.Engine, limit):
    with pytest.raises(ValueError, match=f"not {limit!r}"):
        engine.find_documents("harbour", limit=limit)


def test_text_must_be_a_string(engine: qa.Engine):
    with pytest.raises(TypeError, match="not list"):
        engine.find_documents(["harbour"])


def test_the_page_lists_what_is_found_and_says_what_is_not_listed(engine: qa.Engine, monkeypatch):
    monkeypatch.setattr(qa.ui, "MAX_LISTED", 2)
    first = qa.ui._documents_table(engine)
    assert first.count("<tr><td>") == 2 and "… and 2 more documents: find them by name or title." in first
    found = qa.ui._documents_table(engine, find="census")
    assert "Wombat census" in found and found.count("<tr><td>") == 1 and "qa-more" not in found
    assert "No document&#x27;s name or title matches “platypus”." in qa.ui._documents_table(engine, find="platypus")
    choices = qa.ui._document_choices(engine, (), "census", ["notes/kites.txt"])
    assert [value for _, value in choices] == ["notes/kites.txt", "notes/wombats.txt"]  # the chosen one kept first


def test_found_titles_are_escaped(tmp_path: Path):
    corpus = write_corpus(tmp_path / "corpus", {"x.txt": "<b>Bold</b> claims\n\nA story about bold claims."})
    engine = qa.build(corpus, tmp_path / "index", embedder=qa.HashEmbedder())
    table = qa.ui._documents_table(engine, find="claims")
    assert "&lt;b&gt;Bold&lt;/b&gt; claims" in table and "<b>" not in table
