"""Questions over a store folder answered in worker processes, each with its own engine over the same folder.

The threads of one process share its GIL (the second stage is Python) and
its cores (the reader's session runs each answer on all of them), so two
threads answered 11.1 questions a second on 2 cores where two workers, each
on a core of its own, answered 14.1 (benchmarks/README.md, "Worker
processes").  The chat (``python app.py --processes N``) hands the
questions over its shared index to N processes: every one opens
the store's committed state (memory-mapped: the page cache holds one copy)
and answers with the same defaults as the chat's own engine, so an answer is
the one the chat would give.  A session's uploads stay in the chat's process.

>>> answering = AnsweringProcesses(engine, 2)            # doctest: +SKIP
>>> answering.ask("How many were killed?").passages[0]   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from qa.answer import Answer
from qa.engine import Engine
from qa.stores.local import LocalStore, Manifest

log = logging.getLogger("qa")

PARENT_CHECK_S = 1.0  # how often a worker looks whether the chat that started it is still there
_engine: Engine | None = None  # a worker process's own engine (configuration and models, nothing of a question)


class AnsweringProcesses:
    """``engine.ask`` answered by ``processes`` worker processes over ``engine``'s store folder.

    Each call names the generation ``engine`` answers from; a worker on an
    older one opens the folder's committed state first (the chat caught up
    with a changed corpus).  A worker that dies (killed, out of memory)
    costs no question: that one is answered here and the workers are started
    again.  `close` stops them.  ``warm_up``: a question each worker asks itself when it starts (a "who"
    question also loads the parser for names), so that a visitor's first answer is as quick as the rest.
    """

    def __init__(self, engine: Engine, processes: int, warm_up: str = "Who said what, and when?"):
        folder = getattr(engine.store, "folder", None)
        if not isinstance(engine.store, LocalStore) or folder is None:
            raise ValueError("worker processes answer from a store folder (a Milvus store: run more chat processes)")
        if not isinstance(processes, int) or isinstance(processes, bool) or processes < 1:
            raise ValueError(f"processes must be a whole number ≥ 1, not {processes!r}")
        self.engine, self.processes, self.warm_up = engine, processes, warm_up
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawned, not forked: a fork of a process with ONNX Runtime's and Gradio's threads running can hang
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            self.processes,
            mp_context=context,
            initializer=_open,
            initargs=(str(self.engine.store.folder), self.warm_up, context.Value("i", 0), self.processes),
        )
        for _ in range(self.processes):  # start every worker now (a pool starts them on demand), none waited for
            pool.submit(_started)
        return pool

    def ask(self, question: str, **options: object) -> Answer:
        """`Engine.ask` (same arguments) in a worker; its `ValueError` / `TypeError` raised here."""
        generation = self.engine.store.manifest.generation
        pool = self._pool
        try:
            return pool.submit(_ask, generation, question, options).result()
        except BrokenProcessPool:
            log.warning("a worker process stopped; starting them again (this question is answered in the chat)")
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
            return self.engine.ask(question, **options)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _open(folder: str, warm_up: str, started: Synchronized, processes: int) -> None:
    """A worker's start: its share of the cores, its engine over ``folder``'s committed state, asked once so that
    its models are loaded.

    Each worker keeps to its own ``1 / processes`` of the cores (the reader's
    and the embedder's sessions take as many threads as the process may use):
    two workers each running the reader on every core answered fewer
    questions a second than one process.
    """
    global _engine
    logging.basicConfig(level=logging.WARNING, format="qa worker: %(message)s")
    with started.get_lock():
        number, started.value = started.value, started.value + 1
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        share = max(1, len(cores) // processes)
        first = (number % processes) * share % len(cores)
        os.sched_setaffinity(0, cores[first : first + share])
    threading.Thread(target=_leave_with, args=(os.getppid(),), name="qa-parent-watch", daemon=True).start()
    _engine = Engine(LocalStore.open(Path(folder)))
    _engine.ask(warm_up)


def _leave_with(parent: int) -> None:
    """End this worker when the chat that started it is gone, however it ended (a killed chat runs no clean-up)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _started() -> None:
    """Nothing: submitted once per worker so that all of them start (and warm up) before the first question."""


def _ask(generation: int, question: str, options: dict) -> Answer:
    """One question in a worker, from the committed state of its store when the chat answers from another one
    than the worker (``generation``): the chat caught up with its corpus, or the worker started after a commit."""
    assert _engine is not None, "the worker did not open its store"
    folder, own = _engine.store.folder, _engine.store.manifest.generation
    if generation != own and Manifest.read(folder).generation != own:
        _engine.refresh(LocalStore.open(folder))
    return _engine.ask(question, **options)
