"""The chat through Gradio's own API (gradio_client), as a Space user's script would call it."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import qa
from tests.ui_helpers import MARKUP_DOC, served


@pytest.fixture(scope="module")
def client():
    with served(qa.load(strict=True)) as url:
        yield Client(url, verbose=False)


ALL_SECTIONS = ["article", "comment", "boilerplate"]


def test_every_public_endpoint_is_named_and_typed(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(api) == {"/ask", "/search", "/chat", "/upload", "/remove"}
    assert [r["python_type"]["type"] for r in api["/ask"]["returns"]] == ["str"]  # Markdown
    assert [r["python_type"]["type"] for r in api["/search"]["returns"]] == ["dict(str, Any)"]
    params = {p["parameter_name"]: p["python_type"]["type"] for p in api["/search"]["parameters"]}
    assert params == {
        "question": "str",
        "k": "int",
        "history": "None | list[str]",
        "documents": "None | list[str]",
        "sources": "None | list[str]",
        "sections": "None | list[str]",
    }
    assert "``" not in str(api)  # the API page reads cleanly: no reST markup in descriptions
    unnamed = [(name, r["label"]) for name, e in api.items() for r in e["returns"] if r["label"].startswith("value_")]
    assert not unnamed, unnamed


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
    with pytest.raises(AppError, match="question is empty"):
        client.predict("   ", api_name="/ask")


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


def test_search_applies_filters_before_the_top_k_cut(client):
    data = client.predict("Who said what about Russia?", 5, None, None, ["Reuters"], None, api_name="/search")
    assert len(data["passages"]) == 5 and {p["source"] for p in data["passages"]} == {"Reuters"}
    data = client.predict("What do readers say?", 3, None, None, None, ["comment"], api_name="/search")
    assert {p["section"] for p in data["passages"]} == {"comment"}
    with pytest.raises(AppError, match="Reuterz"):
        client.predict("Who said what about Russia?", 5, None, None, ["Reuterz"], None, api_name="/search")


def test_search_reads_a_follow_up_with_the_history(client):
    history = ["How many people were killed in the Tartus bombing?"]
    data = client.predict("What about Jableh?", 3, history, api_name="/search")
    assert data["context"] == "How many people were killed in the Jableh bombing?"
    assert "Jableh" in data["passages"][0]["text"]
    assert client.predict("What about Jableh?", 3, history, api_name="/ask").startswith("*Read as: ")


def chat(client: Client, question: str, history: list | None = None) -> str:
    """The reply's HTML from the chat's own endpoint (this client's browser session)."""
    messages, box = client.predict(question, history or [], 5, [], [], ALL_SECTIONS, api_name="/chat")
    assert box == ""  # the input is cleared
    return messages[-1]["content"][0]["text"]


def test_upload_chat_and_remove_belong_to_one_session(tmp_path):
    notes = tmp_path / "wombat notes.txt"
    notes.write_text("Wombat notes\n\nRangers counted 4,312 wombats in Narawntapu park in 2024.\n")
    with served(qa.load(strict=True)) as url:
        mine, theirs = Client(url, verbose=False), Client(url, verbose=False)
        listed, documents, table, note = mine.predict([handle_file(notes)], api_name="/upload")
        assert note == "Added 1 file(s)." and [c[1] for c in listed["choices"]] == ["wombat_notes.txt"]
        assert "wombat_notes.txt" in [c[1] for c in documents["choices"]] and "your file" in table
        assert "4,312" in chat(mine, "How many wombats were counted in Narawntapu?")
        assert "4,312" not in chat(theirs, "How many wombats were counted in Narawntapu?")
        assert "4,312" not in mine.predict("How many wombats in Narawntapu?", api_name="/ask")  # shared docs only
        listed, _, table, note = mine.predict(["wombat_notes.txt"], api_name="/remove")
        assert note == "Removed 1 file(s)." and listed["choices"] == [] and "your file" not in table
        assert "4,312" not in chat(mine, "How many wombats were counted in Narawntapu?")


def test_chat_keeps_its_history_and_refuses_an_empty_question(client):
    first = "How many people were killed in the Tartus bombing?"
    messages, _ = client.predict(first, [], 5, [], [], ALL_SECTIONS, api_name="/chat")
    again, _ = client.predict("What about Jableh?", messages, 5, [], [], ALL_SECTIONS, api_name="/chat")
    assert len(again) == 4 and "Read as:" in again[-1]["content"][0]["text"]
    same, box = client.predict("  ", again, 5, [], [], ALL_SECTIONS, api_name="/chat")
    assert len(same) == 4 and box == "  "  # no bubble for an empty question


def test_a_file_keeps_its_doc_id_while_others_come_and_go(tmp_path):
    first, second = tmp_path / "a" / "report.txt", tmp_path / "b" / "report.txt"
    for path, animal in ((first, "wombat"), (second, "numbat")):
        path.parent.mkdir()
        path.write_text(f"{animal.title()} report\n\nRangers counted 9,{len(animal)}00 {animal}s in 2024.\n")
    with served(qa.load(strict=True)) as url:
        client = Client(url, verbose=False)
        client.predict([handle_file(first)], api_name="/upload")
        listed, *_ = client.predict([handle_file(second), handle_file(second)], api_name="/upload")
        assert [c[1] for c in listed["choices"]] == ["report.txt", "report-2.txt"]  # the same upload twice: once
        listed, *_ = client.predict(["report.txt"], api_name="/remove")
        assert [c[1] for c in listed["choices"]] == ["report-2.txt"]  # still the numbats' name
        assert "report-2.txt" in chat(client, "How many numbats did rangers count?")  # cited under that name


def test_the_chat_answers_from_a_milvus_store_and_says_when_it_stops_answering(tmp_path, hash_embedder):
    pytest.importorskip("milvus_lite")
    import shutil

    corpus = shutil.copytree(qa.default_corpus_dir(), tmp_path / "corpus")
    engine = qa.build(corpus, store=qa.MilvusStore(str(tmp_path / "qa.db")), embedder=hash_embedder)
    question = "How many people were killed in the Tartus bombing?"
    with served(engine) as url:
        client = Client(url, verbose=False)
        found = client.predict(question, 3, api_name="/search")
        assert found["passages"] and found["passages"][0]["doc_id"] == engine.ask(question).passages[0].doc_id

        def down(*args, **kwargs):
            raise qa.StoreUnavailableError("Milvus at http://milvus:19530 did not answer search")

        engine.store.dense_search = down  # the server goes away while the chat runs
        with pytest.raises(AppError, match="not answering"):
            client.predict(question, 3, api_name="/search")


@pytest.mark.parametrize(
    ("endpoint", "args"),
    [
        ("/chat", ("Who was Zahran Alloush?", "not a chat", 5, [], [], ALL_SECTIONS)),
        ("/chat", ("Who was Zahran Alloush?", [], "five", [], [], ALL_SECTIONS)),
        ("/chat", ("Who was Zahran Alloush?", [], 5, ["nope.txt"], [], ALL_SECTIONS)),
        ("/chat", ("Who was Zahran Alloush?", [], 5, [], [], 7)),
        ("/remove", (["nope.txt"], [], "")),
        ("/remove", (5, [], "")),
    ],
)
def test_bad_arguments_to_the_chats_own_endpoints_are_refused_without_a_traceback(client, capfd, endpoint, args):
    with pytest.raises(AppError):
        client.predict(*args, api_name=endpoint)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
