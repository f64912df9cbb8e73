"""The chat through Gradio's own API (gradio_client), as a Space user's script would call it."""

from __future__ import annotations

import pytest
from gradio_client import Client

import qa
from tests.ui_helpers import MARKUP_DOC, served


@pytest.fixture(scope="module")
def client():
    with served(qa.load(strict=True)) as url:
        yield Client(url, verbose=False)


def test_both_endpoints_are_named(client):
    api = client.view_api(print_info=False, return_format="dict")
    names = set(api["named_endpoints"])
    assert {"/ask", "/search"} <= names


def test_ask_returns_cited_verbatim_passages(client):
    reply = client.predict("Which State Department spokesman ruled out joint operations with Russia?", api_name="/ask")
    assert "Mark Toner" in reply
    assert "Reuters" in reply  # the outlet of that roundup piece
    assert "001\\_fb5d5de520412f3a\\.txt" in reply  # citation names the document (Markdown-escaped)


def test_search_returns_the_answer_as_json(client):
    data = client.predict("How many people lived in Aleppo before the war?", 3, api_name="/search")
    assert data["answered"] is True
    assert 1 <= len(data["passages"]) <= 3
    engine = qa.load(strict=True)
    for p in data["passages"]:
        assert engine.document(p["doc_id"]).text[p["start"] : p["end"]] == p["text"]
        assert p["section"] in ("article", "comment", "boilerplate")


def test_off_topic_question_says_so(client):
    reply = client.predict("How long should I boil an egg?", api_name="/ask")
    assert reply.startswith("**The corpus does not seem to answer this question.**")


def test_corpus_markup_is_escaped(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(MARKUP_DOC)
    engine = qa.build(corpus, tmp_path / "index", embedder=qa.HashEmbedder())
    with served(engine) as url:
        reply = Client(url, verbose=False).predict("Zanzibar harbour bridge sign engineers", api_name="/ask")
    assert "&lt;script&gt;" in reply and "<script>" not in reply
    assert "\\*\\*not bold\\*\\*" in reply
    assert "\\[a link\\]\\(http&#58;//example\\.com\\)" in reply
