"""Calibrated confidence that the corpus answers a question, from the evidence retrieved for it.

Off-topic questions are easy (nothing is close in meaning); on-topic questions
the corpus does not answer are not: the passages are about the right thing but
lack the answer. So besides how close the best passage is, the features look
at the passage and its best sentence (how much of the question they cover,
exactly or by related words, how close in meaning the sentence is, the longest
phrase of the question it keeps) and ask whether its best
sentences hold an answer of the kind the question wants (a figure for "how
many", a date for "when", a name not already in the question for "who",
"where" or "which"); they are computed as the ranker computes them.  A logistic model over these features,
trained by ``benchmarks/train_confidence.py`` and shipped as
``qa/confidence.json``, gives a probability; the threshold recorded with it was
chosen on development data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.evidence import Candidate, Evidence
from qa.linear import LinearModel

CONFIDENCE_FILE = Path(__file__).with_name("confidence.json")

FEATURES = (
    "dense",  # cosine of the question and the closest passage
    "sentence_coverage",  # IDF-weighted share of the question in the best sentence of the top passage
    "sentence_dense",  # cosine of the question and the top passage's closest sentence
    "phrase",  # longest run of the question's words in that best sentence
    "answer_type",  # the top passage's best sentences hold an answer of the kind asked for
    "coverage",  # IDF-weighted share of the question in the top passage as a whole
    "soft_coverage",  # the best sentence's share of the question, by related words too
    "known_terms",  # IDF-weighted share of the question's terms that the corpus has at all
)
_FROM_SIGNALS = FEATURES[1:-1]  # the top candidate's `Signals`, as the ranker reads them


@dataclass
class Calibrator(LinearModel):
    """The confidence model, and the probability at or above which the engine says the corpus answers."""

    threshold: float = 0.5

    FEATURES = FEATURES

    def probability(self, x: np.ndarray) -> float:
        return 1 / (1 + math.exp(-float(self.logit(x))))


@lru_cache(maxsize=2)
def load_calibrator(path: str = str(CONFIDENCE_FILE)) -> Calibrator | None:
    """The shipped calibrator, or None before one is trained."""
    return Calibrator.load(path) if Path(path).exists() else None


def confidence_features(evidence: Evidence, top: Candidate | None) -> np.ndarray:
    """`FEATURES` of a question's evidence and its top candidate (``None``: nothing retrieved).

    ``top`` must carry its signals (`Featurizer.with_signals`).
    """
    named = {"dense": evidence.best_dense, "known_terms": evidence.question.known_share}
    if top is None:
        named |= dict.fromkeys(_FROM_SIGNALS, 0.0)
    elif top.signals is None:
        raise ValueError(f"candidate {top.chunk_id} has no signals; pass it through Featurizer.with_signals")
    else:
        named |= {name: float(getattr(top.signals, name)) for name in _FROM_SIGNALS}
    return np.asarray([named[f] for f in FEATURES], dtype=float)
