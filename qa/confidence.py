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

from qa.linear import LinearModel
from qa.ranker import FEATURES as RANKER_FEATURES
from qa.ranker import Featurizer
from qa.retrieval import Candidate

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
_FROM_RANKER = [RANKER_FEATURES.index(f) for f in FEATURES[1:-1]]  # computed as the ranker computes them


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


def confidence_features(
    featurizer: Featurizer, question: str, query_vector: np.ndarray, top: Candidate | None, best_dense: float
) -> np.ndarray:
    """`FEATURES` of a question and its top candidate (``None``: nothing retrieved)."""
    known = featurizer.known_share(question)
    if top is None:
        return np.asarray([best_dense, *[0.0] * len(_FROM_RANKER), known])
    row = featurizer.features(question, query_vector, [top])[0]
    return np.asarray([best_dense, *row[_FROM_RANKER], known], dtype=float)
