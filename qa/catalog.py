"""Finding documents by name or by words: what the chat's documents panel and filter list for an archive.

An archive's every document cannot be listed (megabytes in each browser, each one read to show its title), so
the page lists a few and finds the rest.  A document's file name is matched as text; its title and headlines
through BM25, which indexes every passage under its document's headline or title (`qa.stores.lexical`).
"""

from __future__ import annotations

import itertools

from qa.stores import Store

MAX_FOUND = 1_000  # documents one search may list
PASSAGES_READ = 4  # BM25 passages read per document asked for: a document's several passages count once


def find_documents(store: Store, text: str, limit: int = 20) -> list[str]:
    """Up to ``limit`` doc ids: those whose id holds every word of ``text`` (case-insensitive), in id order,
    then those whose passages BM25 ranks best for ``text``; with an empty ``text``, the first ids.

    >>> find_documents(engine.store, "bombings", limit=3)  # doctest: +SKIP
    ['000_ef7ab4103cac12f9.txt', '002_d6c5143299779081.txt']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_FOUND:
        raise ValueError(f"limit must be an int from 1 to {MAX_FOUND:,}, not {limit!r}")
    words = text.lower().split()
    named = (d for d in store.doc_ids() if all(w in d.lower() for w in words))
    found = dict.fromkeys(itertools.islice(named, limit))
    if words and len(found) < limit:
        hits = store.lexical_search(text, limit * PASSAGES_READ)
        for chunk_id in hits.ids.tolist():
            found.setdefault(store.chunk(chunk_id).doc_id)
            if len(found) == limit:
                break
    return list(found)


__all__ = ["MAX_FOUND", "find_documents"]
