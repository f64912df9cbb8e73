"""A bounded cache of what is computed from one row (a chunk, a document), safe to share between threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

CHUNKS_CACHED = 4096  # rows whose values a cache keeps by default (a few KB each)
T = TypeVar("T")


class ChunkCache(Generic[T]):
    """``compute(chunk_id)``, remembered for the most recently used chunks, safe to share between threads.

    Bounded, so a long-running app over a large corpus does not end up
    holding the terms and words of every chunk it ever ranked.  What it holds
    depends on the chunk alone, never on a question; a value is computed
    outside the lock (two threads may both compute one: the same value).
    """

    def __init__(self, compute: Callable[[int], T], size: int = CHUNKS_CACHED):
        self.compute, self.size = compute, size
        self._kept: OrderedDict[int, T] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, chunk_id: int) -> T:
        with self._lock:
            if chunk_id in self._kept:
                self._kept.move_to_end(chunk_id)
                return self._kept[chunk_id]
        value = self.compute(chunk_id)
        with self._lock:
            self._kept[chunk_id] = value
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._kept)
