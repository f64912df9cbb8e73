"""Which passages a question may be answered from: allowed documents, outlets and sections.

Each filter is a list of values matched exactly against a passage's
``doc_id``, ``source`` and ``section``; ``None`` allows every value.  They
are applied inside retrieval (the dense search only visits allowed chunks,
BM25 scores elsewhere are zero), so ``ask(q, k=5, sources=["Reuters"])``
returns up to five Reuters passages, not the Reuters ones among the five best.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

import numpy as np

from qa.chunking import Chunk
from qa.documents import Section

if TYPE_CHECKING:
    from qa.stores import Store

SECTIONS: tuple[str, ...] = get_args(Section)


@dataclass(frozen=True)
class Filters:
    """Allowed doc ids, outlets and sections (``None``: all); see `Filters.of` for the checks."""

    documents: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    sections: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        store: Store,
        *,
        documents: Iterable[str] | None = None,
        sources: Iterable[str] | None = None,
        sections: Iterable[str] | None = None,
    ) -> Filters:
        """The filters, checked against ``store``: `TypeError` unless each is a list of strings,
        `ValueError` for an empty list or a value no chunk has (a typo would otherwise answer nothing).

        Each value is looked up, never the store scanned: the check costs the same on any corpus.
        """
        if documents is None and sources is None and sections is None:
            return cls()
        known_sources = store.sources()
        return cls(
            _checked("documents", documents, store.has_document, "engine.documents lists them"),
            _checked("sources", sources, set(known_sources).__contains__, f"known: {', '.join(known_sources[:20])}"),
            _checked("sections", sections, set(SECTIONS).__contains__, f"one of {', '.join(SECTIONS)}"),
        )

    @property
    def active(self) -> bool:
        return any(f is not None for f in (self.documents, self.sources, self.sections))

    def allows(self, chunk: Chunk) -> bool:
        return (
            (self.documents is None or chunk.doc_id in self.documents)
            and (self.sources is None or chunk.source in self.sources)
            and (self.sections is None or chunk.section in self.sections)
        )

    def allowed_ids(self, chunks: Sequence[Chunk]) -> np.ndarray | None:
        """The ids of the chunks allowed, ascending; ``None`` when nothing is filtered."""
        if not self.active:
            return None
        return np.asarray([i for i, c in enumerate(chunks) if self.allows(c)], dtype=np.int64)


NO_FILTERS = Filters()


def only(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """``scores`` with every chunk but the ``allowed`` ones at zero (all of them when ``allowed`` is None)."""
    if allowed is None:
        return scores
    kept = np.zeros_like(scores)
    kept[allowed] = scores[allowed]
    return kept


def string_list(name: str, values: object) -> list[str]:
    """``values`` as a list; `TypeError` naming the argument ``name`` unless a list of strings (not one string)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of strings, not {type(values).__name__}")
    values = list(values)
    if odd := [v for v in values if not isinstance(v, str)]:
        raise TypeError(f"{name} must be a list of strings; got {type(odd[0]).__name__} {odd[0]!r}")
    return values


def _checked(name: str, values: Iterable[str] | None, known: Callable[[str], bool], hint: str) -> frozenset[str] | None:
    if values is None:
        return None
    values = string_list(name, values)
    if not values:
        raise ValueError(f"{name}: an empty list allows no passage; pass None to allow every one")
    if unknown := [v for v in values if not known(v)]:
        raise ValueError(f"{name}: no passage has {unknown[0]!r} ({hint})")
    return frozenset(values)
