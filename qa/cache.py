"""A bounded cache of what is computed from one key (a chunk, a document, a question's terms), safe to share
between threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

CHUNKS_CACHED = 4096  # rows whose values a cache keeps by default (a few KB each)
FREQUENCIES_KEPT = 256  # questions whose terms' document frequencies a store remembers
T = TypeVar("T")


class ChunkCache(Generic[T]):
    """``compute(key)`` (a chunk id, a doc id, a tuple of terms), remembered for the most recently used keys, safe
    to share between threads.

    Bounded, so a long-running app over a large corpus does not end up
    holding the terms and words of every chunk it ever ranked.  What it holds
    depends on the key and the store alone, never on a question; a value is computed
    outside the lock (two threads may both compute one: the same value).
    """

    def __init__(self, compute: Callable[[Hashable], T], size: int = CHUNKS_CACHED):
        self.compute, self.size = compute, size
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: Hashable) -> T:
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        value = self.compute(key)
        self.put(key, value)
        return value

    def put(self, key: Hashable, value: T) -> None:
        """Remember ``value`` for ``key``, read in passing (a search's rows carry what ``compute`` would read)."""
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._kept

    def __len__(self) -> int:
        return len(self._kept)
