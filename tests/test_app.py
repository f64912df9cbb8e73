"""The chat through Gradio's own API (gradio_client), as a Space user's script would call it."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

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


@pytest.mark.parametrize(
    "question, k, says",
    [
        ("How many people lived in Aleppo?", 0, "k must be an int from 1 to 50, not 0"),
        ("How many people lived in Aleppo?", 51, "k must be an int from 1 to 50, not 51"),
        ("How many people lived in Aleppo?", None, "k must be an int from 1 to 50, not NoneType"),
        ("How many people lived in Aleppo?", 2.5, "k must be an int from 1 to 50, not float"),
        ("q" * 2001, 3, "question is 2,001 characters long; the limit is 2,000"),
        ("   ", 3, "question is empty"),
    ],
)
def test_search_refuses_bad_arguments_with_the_allowed_range(client, question, k, says):
    with pytest.raises(AppError) as refused:
        client.predict(question, k, api_name="/search")
    assert says in str(refused.value)
    assert "qqqqqqqqqq" not in str(refused.value)  # a refused question is not echoed back


def test_ask_refuses_an_overlong_question_and_answers_a_number(client):
    with pytest.raises(AppError, match="the limit is 2,000"):
        client.predict("q" * 2001, api_name="/ask")
    assert client.predict("12345", 3, api_name="/search")["question"] == "12345"
    assert client.predict("   ", api_name="/ask") == "Please type a question."


def test_refused_arguments_leave_no_traceback_in_the_server_log(capfd):
    engine = qa.load(strict=True)
    with served(engine) as url:
        visitor = Client(url, verbose=False)
        capfd.readouterr()
        with pytest.raises(AppError):
            visitor.predict("Aleppo?", 0, api_name="/search")
        with pytest.raises(AppError):
            visitor.predict("q" * 2001, api_name="/ask")
        out, err = capfd.readouterr()
    assert "Traceback" not in out + err
