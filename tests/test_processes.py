"""Worker processes answering the chat's questions (qa.processes): the answers the chat's own engine gives, from the
store's latest committed state, and no question lost when a worker dies."""

from __future__ import annotations

import os
import signal

import pytest

import qa
from qa.processes import PARENT_CHECK_S, AnsweringProcesses
from tests.ui_helpers import served

QUESTIONS = [
    ("How many people were killed in the Tartus bombing?", {}),
    ("Who was Zahran Alloush?", {"k": 3}),
    ("How many were wounded?", {"sections": ["article"]}),
    ("And where was it?", {"history": ["How many people were killed in the Tartus bombing?"]}),
    ("How long should I boil an egg?", {}),
]


@pytest.fixture(scope="module")
def answering(real_engine):
    workers = AnsweringProcesses(real_engine, 2)
    yield workers
    workers.close()


def test_workers_give_the_answers_of_the_chats_own_engine(real_engine, answering):
    for question, options in QUESTIONS:
        assert answering.ask(question, **options).to_dict() == real_engine.ask(question, **options).to_dict()


def test_a_bad_argument_is_refused_with_the_engines_own_error(answering):
    with pytest.raises(ValueError, match="k must be"):
        answering.ask("How many were killed?", k=0)
    with pytest.raises(ValueError):
        answering.ask("   ")


def test_the_chat_answers_through_its_workers(real_engine, answering):
    from gradio_client import Client

    with served(real_engine, answering=answering) as url:
        got = Client(url, verbose=False).predict(QUESTIONS[0][0], api_name="/ask")
    assert got == real_engine.ask(QUESTIONS[0][0]).to_markdown()


def test_a_worker_answers_from_the_state_the_chat_committed_since(tiny_corpus, index_dir, hash_embedder, tmp_path):
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    workers = AnsweringProcesses(engine, 1)
    try:
        question = "Which comet did the observatory in Tromsø photograph?"
        assert all(p.doc_id != "comet.txt" for p in workers.ask(question).passages)
        (tmp_path / "comet.txt").write_text("Comet report\n\nThe observatory in Tromsø photographed comet Halley.\n")
        engine.add([tmp_path / "comet.txt"])
        assert workers.ask(question).passages[0].doc_id == "comet.txt"
        assert workers.ask(question).to_dict() == engine.ask(question).to_dict()
    finally:
        workers.close()


def test_a_killed_worker_costs_no_question(tiny_corpus, index_dir, hash_embedder):
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    workers = AnsweringProcesses(engine, 1)
    try:
        question = "How many quokkas did rangers count?"
        want = engine.ask(question).to_dict()
        assert workers.ask(question).to_dict() == want
        for pid in list(workers._pool._processes):
            os.kill(pid, signal.SIGKILL)
        assert workers.ask(question).to_dict() == want  # answered in the chat's process
        assert workers.ask(question).to_dict() == want  # by the workers started again
    finally:
        workers.close()


def test_workers_need_a_store_folder_and_a_count(tiny_corpus, index_dir, hash_embedder, tmp_path):
    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    (tmp_path / "mine.txt").write_text("My notes\n\nNothing of note.\n")
    with pytest.raises(ValueError, match="store folder"):
        AnsweringProcesses(engine.overlay([tmp_path / "mine.txt"]), 2)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=f"not {bad!r}"):
            AnsweringProcesses(engine, bad)


def test_workers_end_when_the_chat_is_killed(tiny_corpus, index_dir, hash_embedder):
    import subprocess
    import sys
    import time

    qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    chat = subprocess.run(  # a chat that starts its workers, says who they are and dies without any clean-up
        [sys.executable, "-c", (
            "import os, sys, qa\n"
            "from qa.processes import AnsweringProcesses\n"
            f"workers = AnsweringProcesses(qa.load({str(index_dir)!r}), 2)\n"
            "workers.ask('How many quokkas did rangers count?')\n"
            "print(*workers._pool._processes, flush=True)\n"
            "os.kill(os.getpid(), 9)\n"
        )],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    pids = [int(p) for p in chat.stdout.split()]
    assert len(pids) == 2, chat.stderr
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]


def cores_after(seconds: float) -> frozenset[int]:
    """The cores this worker may run on, said after a pause (so that two asked at once are two workers)."""
    import time

    time.sleep(seconds)
    return frozenset(os.sched_getaffinity(0))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: nothing to share out")
def test_each_worker_keeps_to_its_own_share_of_the_cores(answering):
    futures = [answering._pool.submit(cores_after, 1.0) for _ in range(2)]
    first, second = (f.result() for f in futures)
    cores = len(os.sched_getaffinity(0))
    assert not first & second and len(first) == len(second) == cores // 2


def test_qa_serve_with_worker_processes_answers_and_takes_them_down_when_stopped(tiny_corpus, index_dir, hash_embedder):
    import socket
    import subprocess
    import sys
    import time

    from gradio_client import Client

    from tests.ui_helpers import free_port

    engine = qa.build(tiny_corpus, index_dir, embedder=hash_embedder)
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    chat = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--index", str(index_dir), "--processes", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert chat.poll() is None, chat.stderr.read()
            assert time.monotonic() < deadline, "qa serve did not start within 120 s"
            time.sleep(0.3)
        question = "How many quokkas did rangers count?"
        got = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(question, api_name="/ask")
        assert got == engine.ask(question).to_markdown()
        workers = [p for p in os.listdir("/proc") if p.isdigit() and _child_of(int(p), chat.pid)]
        assert len(workers) >= 2  # the two answering processes (and multiprocessing's resource tracker)
    finally:
        chat.terminate()
        assert chat.wait(timeout=30) is not None
    time.sleep(PARENT_CHECK_S * 2)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")]


def _child_of(pid: int, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False
