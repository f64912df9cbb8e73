"""The `qa` command: answers, and one clear line with exit code 2 for what it cannot do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import qa
from qa.cli import main
from tests.conftest import write_corpus


@pytest.fixture
def index_dir(tiny_engine: qa.Engine, tmp_path: Path) -> str:
    return str(tmp_path / "index")  # where `tiny_engine` was built, with the fake embedder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_cited_passages_as_json(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "How many quokkas did rangers count?", "--k", "2", "--json", "--index", index_dir)
    answer = json.loads(out)
    assert code == 0 and 1 <= len(answer["passages"]) <= 2
    assert answer["passages"][0]["doc_id"] == "alpha.txt"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["ask", "quokka", "--k", "0"], "k must be an int from 1 to 50, not 0"),
        (["ask", "quokka", "--k", "51"], "k must be an int from 1 to 50, not 51"),
        (["ask", "   "], "question is empty"),
        (["ask", "q" * 2001], "the limit is 2,000"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, index_dir, argv, says):
    code, out, err = run(capsys, *argv, "--index", index_dir)
    assert code == 2 and not out
    assert err.startswith("qa: error: ") and says in err and len(err.strip().splitlines()) == 1
    assert "qqqqqqqqqq" not in err  # a refused question is not echoed back


def test_a_number_is_a_question(capsys, index_dir):
    code, out, _ = run(capsys, "ask", "12000", "--json", "--index", index_dir)
    assert code == 0 and json.loads(out)["question"] == "12000"


def test_eval_of_a_missing_file_is_one_line(capsys, index_dir, tmp_path):
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.jsonl"), "--index", index_dir)
    assert code == 2
    assert err.strip() == f"qa: error: {tmp_path / 'missing.jsonl'}: No such file or directory"


def test_eval_of_a_broken_gold_file_names_the_line(capsys, index_dir, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "q1", "question": "quokka?", "type": "factoid"}\n{not json\n')
    code, _, err = run(capsys, "eval", str(gold), "--index", index_dir)
    assert code == 2 and "line 2: not a gold question" in err and len(err.strip().splitlines()) == 1


def test_ask_without_an_index_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "ask", "quokka", "--index", str(tmp_path / "nowhere"))
    assert code == 2 and "no index here" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    folder = write_corpus(tmp_path / "mixed", {"good.txt": "Good News\n\nThe harbour bridge at Zanzibar reopened."})
    (folder / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    (folder / "empty.md").write_bytes(b"")
    return folder


def test_index_skips_bad_files_and_lists_them(capsys, mixed_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    code, out, _ = run(capsys, "index", str(mixed_corpus), "--out", str(tmp_path / "ix"), "--quiet")
    assert code == 0
    assert "indexed 1 documents" in out and "skipped 2 file(s):" in out
    assert "latin1.txt: not UTF-8" in out and "empty.md: empty" in out


def test_each_skipped_file_is_one_line_of_what_qa_index_says(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", {"kites.txt": "Kite festival\n\nThe festival drew kites from afar."})
    (corpus / "broken.pdf").write_bytes(b"not a pdf")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02")
    line = [sys.executable, "-c", "import sys, qa.cli; sys.exit(qa.cli.main())"]
    done = subprocess.run(
        [*line, "index", str(corpus), "--out", str(tmp_path / "ix"), "--quiet"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "indexed 1 documents" in said, said
    assert said.count("broken.pdf") == 1 and said.count("binary.txt") == 1, said  # listed once, not logged too
    assert "EOF marker" not in said and "pdf header" not in said  # pypdf's own complaints stay quiet


def test_removing_a_skipped_file_says_it_was_never_indexed(capsys, mixed_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    run(capsys, "index", str(mixed_corpus), "--out", str(tmp_path / "ix"), "--quiet")
    code, out, _ = run(capsys, "remove", "empty.md", "--index", str(tmp_path / "ix"), "--quiet")
    assert code == 0 and out.strip() == "deleted 1 file(s) that were skipped, never indexed: empty.md (empty)"
    assert not (mixed_corpus / "empty.md").exists()


def test_removing_a_document_that_is_not_there_is_one_plain_line(capsys, mixed_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    run(capsys, "index", str(mixed_corpus), "--out", str(tmp_path / "ix"), "--quiet")
    code, _, err = run(capsys, "remove", "nope.txt", "--index", str(tmp_path / "ix"), "--quiet")
    assert code == 2 and err.startswith("qa: error: no document 'nope.txt'") and '"' not in err, err


def test_index_strict_fails_on_the_first_bad_file(capsys, mixed_corpus, tmp_path, monkeypatch):
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    code, out, err = run(capsys, "index", str(mixed_corpus), "--out", str(tmp_path / "ix"), "--quiet", "--strict")
    assert code == 2 and not out
    assert "empty.md: empty" in err or "latin1.txt: not UTF-8" in err
    assert not (tmp_path / "ix").exists()


def test_index_takes_the_runtime_it_is_told(capsys, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr("qa.models._load_embedder", lambda name, runtime: asked.append(runtime) or qa.HashEmbedder())
    corpus = write_corpus(tmp_path / "corpus", {"a.txt": "Quokka Notes\n\nThe quokka smiles all day long.\n"})
    code, out, _ = run(capsys, "index", str(corpus), "--out", str(tmp_path / "ix"), "--quiet", "--runtime", "torch")
    assert code == 0 and asked == ["torch"] and "indexed 1 documents" in out
    with pytest.raises(SystemExit):
        main(["index", str(corpus), "--runtime", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_every_command_works_on_a_milvus_store(capsys, tiny_corpus, tmp_path, monkeypatch):
    pytest.importorskip("milvus_lite")
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    uri = str(tmp_path / "qa.db")
    code, out, _ = run(capsys, "index", str(tiny_corpus), "--milvus", uri, "--collection", "tiny", "--quiet")
    assert code == 0 and f"into Milvus {uri} (tiny)" in out
    question = "How many quokkas did rangers count?"
    code, out, _ = run(capsys, "ask", question, "--json", "--milvus", uri, "--collection", "tiny")
    assert code == 0 and json.loads(out)["passages"][0]["doc_id"] == "alpha.txt"
    notes = write_corpus(tmp_path / "new", {"kites.txt": "Kite festival\n\nThe festival drew kites from twelve lands."})
    code, out, _ = run(capsys, "add", str(notes / "kites.txt"), "--milvus", uri, "--collection", "tiny", "--quiet")
    assert code == 0 and "added 1 document(s): kites.txt; the index holds 4" in out
    code, out, _ = run(capsys, "remove", "kites.txt", "--milvus", uri, "--collection", "tiny", "--quiet")
    assert code == 0 and "the index holds 3" in out and not (tiny_corpus / "kites.txt").exists()


def test_copy_moves_an_index_folder_into_milvus_and_needs_a_store(capsys, index_dir, tmp_path, monkeypatch):
    pytest.importorskip("milvus_lite")
    monkeypatch.setattr("qa.store.load_embedder", lambda name=None, runtime=None: qa.HashEmbedder())
    uri = str(tmp_path / "qa.db")
    code, out, _ = run(capsys, "copy", "--index", index_dir, "--milvus", uri, "--quiet")
    assert code == 0 and "copied 3 documents" in out and "nothing was embedded again" in out
    question = "How many quokkas did rangers count?"
    code, out, _ = run(capsys, "ask", question, "--json", "--milvus", uri)
    assert code == 0 and json.loads(out)["passages"][0]["doc_id"] == "alpha.txt"
    code, _, err = run(capsys, "copy", "--index", index_dir)
    assert code == 2 and "--milvus URI" in err


def test_a_milvus_server_that_is_not_there_is_one_line(capsys):
    pytest.importorskip("pymilvus")
    code, _, err = run(capsys, "ask", "quokka", "--milvus", "http://127.0.0.1:1")
    assert code == 2 and "cannot reach Milvus at http://127.0.0.1:1" in err and len(err.strip().splitlines()) == 1


def test_chat_keeps_the_engine_and_reads_follow_ups(capsys, monkeypatch):
    import io

    questions = "Which port city hosts Moscow's navy in Syria?\nHow many people were killed in the city?\n\nnot read\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(questions))
    code, out, _ = run(capsys, "chat", "--k", "1")
    assert code == 0
    first, second = out.split("(read as: ")
    assert "Answer: “Tartus”" in first
    assert second.startswith("How many people were killed in the city? Tartus)")  # the city the answer named
    assert "not read" not in out  # an empty line ends the session
