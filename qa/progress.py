"""How far an index build has got: one event per step of each phase, for a progress bar or a UI.

A build reports ``Progress(phase, done, total)`` to a callback: ``done`` goes
from 0 to ``total`` within a phase, and the phases come in the order of
`PHASES` (a phase with nothing to do reports ``0`` of ``0`` and ends at once).

>>> from qa.progress import Progress
>>> seen = []
>>> report = seen.append                     # any callable taking a Progress
>>> report(Progress("embedding", 64, 1000))
>>> seen[0].fraction
0.064
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tqdm import tqdm

Phase = Literal["reading", "chunking", "embedding", "lexical index", "saving"]
PHASES: tuple[Phase, ...] = ("reading", "chunking", "embedding", "lexical index", "saving")
UNITS: dict[Phase, str] = {
    "reading": "file",
    "chunking": "doc",
    "embedding": "text",
    "lexical index": "chunk",
    "saving": "file",
}


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` steps of ``phase`` are finished."""

    phase: Phase
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """The share of the phase done (1.0 for a phase with nothing to do)."""
        return self.done / self.total if self.total else 1.0


Callback = Callable[[Progress], None]


def silent(_: Progress) -> None:
    """The callback of a build nobody watches."""


class Bars:
    """A callback that shows one labelled tqdm bar per phase, with counts, rate and ETA (for the CLI).

    Each bar closes when its phase is done or the next one starts.
    """

    def __init__(self, file=None) -> None:
        self._file = file
        self._bar: tqdm | None = None
        self._phase: Phase | None = None

    def __call__(self, event: Progress) -> None:
        if event.phase != self._phase:
            self.close()
            self._phase = event.phase
            self._bar = tqdm(
                total=event.total, desc=f"{event.phase:<13}", unit=UNITS[event.phase], file=self._file, leave=True
            )
        bar = self._bar
        if bar is None:  # the phase already ended
            return
        bar.update(event.done - bar.n)
        if event.done >= event.total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
