"""Many visitors, one engine: concurrent `ask` and `search` calls get exactly the answers one thread gets."""

from __future__ import annotations

import json
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

import qa
from qa.models import TorchThreads
from tests.ui_helpers import served

THREADS = 8
CALLS = 240


def seed_questions(repo_root) -> list[str]:
    path = repo_root.parent / "shared" / "eval" / "seed_dev.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


def outcome(engine: qa.Engine, call: tuple[str, str]) -> object:
    """What a visitor sees of one call: the whole answer, or the whole ranking."""
    kind, question = call
    if kind == "ask":
        return engine.ask(question, k=5).to_dict()
    return [(c.chunk_id, c.score, c.dense, c.lexical) for c in engine.search(question, 40)]


@pytest.fixture
def switch_often():
    """Threads switch every microsecond, so interleavings that a race needs actually happen."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_concurrent_ask_and_search_get_the_sequential_answers(real_engine, repo_root, switch_often):
    questions = seed_questions(repo_root)
    calls = [(kind, q) for q in questions for kind in ("ask", "search")]
    calls = (calls * (CALLS // len(calls) + 1))[:CALLS]
    random.Random(0).shuffle(calls)
    expected = {call: outcome(real_engine, call) for call in set(calls)}
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda call: outcome(real_engine, call), calls))
    wrong = [call for call, answer in zip(calls, got, strict=True) if answer != expected[call]]
    assert not wrong, f"{len(wrong)} of {len(calls)} concurrent calls differ from one thread's: {wrong[:3]}"


def test_an_answer_leaves_nothing_of_its_question_on_the_engine(real_engine):
    """Everything `ask` learns lives in its `Evidence`: the engine and its featurizer keep only index-level state."""

    def state(obj) -> dict[str, int]:
        return {name: id(value) for name, value in vars(obj).items()}

    engine_before, featurizer_before = state(real_engine), state(real_engine.featurizer)
    first = real_engine.ask("How many people were killed in the Tartus bombing?")
    evidence = real_engine.evidence("Who was Zahran Alloush?")
    assert state(real_engine) == engine_before and state(real_engine.featurizer) == featurizer_before
    assert evidence.question.text == "Who was Zahran Alloush?" and evidence.question.kind == "name"
    assert all(c.signals is not None for c in evidence.candidates[: real_engine.settings.rerank_depth])
    assert real_engine.ask("How many people were killed in the Tartus bombing?") == first


def test_torch_thread_count_is_restored_after_concurrent_small_encodes(switch_often):
    import torch

    model = qa.load_embedder(qa.DEFAULT_MODEL, "torch")
    before = torch.get_num_threads()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda i: model.encode([f"question number {i}"]), range(64)))
    assert torch.get_num_threads() == before


def test_a_batch_never_runs_beside_small_encodes_or_another_batch(switch_often):
    threads, seen, lock = TorchThreads(), [], threading.Lock()
    inside = {"small": 0, "batch": 0}

    def run(kind: str) -> None:
        with getattr(threads, kind)():
            with lock:
                inside[kind] += 1
                seen.append(dict(inside))
            with lock:
                inside[kind] -= 1

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(run, ["small", "small", "batch"] * 40))
    assert all(s["batch"] <= 1 and not (s["batch"] and s["small"]) for s in seen), "a batch ran beside others"


@pytest.mark.parametrize("runtime", ["onnx-int8", "torch"])
def test_word_pieces_survive_being_forgotten_by_another_thread(runtime, monkeypatch, switch_often):
    model = qa.load_embedder(qa.DEFAULT_MODEL, runtime)
    words = [f"word{i}" for i in range(50)] + ["vigilantes", "refugee", "camp"]
    expected = model.word_vectors(words)
    monkeypatch.setattr("qa.models.MAX_REMEMBERED_WORDS", 5)  # forgotten again and again while others read
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: model.word_vectors(words), range(64)))
    assert all((r == expected).all() for r in results)


def test_both_gradio_endpoints_at_once_get_the_sequential_answers(real_engine, repo_root):
    questions = seed_questions(repo_root)[:12]
    with served(real_engine) as url:
        client = Client(url, verbose=False)
        expected_ask = {q: client.predict(q, api_name="/ask") for q in questions}
        expected_search = {q: client.predict(q, 3, api_name="/search") for q in questions}

        def call(i: int):
            q = questions[i % len(questions)]
            visitor = Client(url, verbose=False) if i < THREADS else client
            if i % 2:
                return visitor.predict(q, api_name="/ask") == expected_ask[q]
            return visitor.predict(q, 3, api_name="/search") == expected_search[q]

        with ThreadPoolExecutor(THREADS) as pool:
            same = list(pool.map(call, range(48)))
    assert all(same), f"{same.count(False)} of {len(same)} concurrent Gradio calls differ"
