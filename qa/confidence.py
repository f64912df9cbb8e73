"""Calibrated confidence that the corpus answers a question, from the evidence retrieved for it.

Off-topic questions are easy (nothing is close in meaning); on-topic questions
the corpus does not answer are not: the passages are about the right thing but
lack the answer. So besides how close and how well covered the best passage is,
one feature asks whether its best sentences hold an answer of the kind the
question wants (a figure for "how many", a date for "when", a name not already
in the question for "who" or "where").  A logistic model over these features,
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

from qa.answer_type import answer_type_present
from qa.highlight import score_sentences
from qa.linear import LinearModel

CONFIDENCE_FILE = Path(__file__).with_name("confidence.json")

FEATURES = (
    "dense",  # cosine of the question and the best passage
    "coverage",  # IDF-weighted share of the question in the best sentence of the best passage
    "answer_type",  # that passage's best sentences hold an answer of the kind asked for
    "known_terms",  # IDF-weighted share of the question's terms that the corpus has at all
)


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


def confidence_features(featurizer, question: str, best_chunk: int | None, best_dense: float) -> np.ndarray:
    """`FEATURES` of a question and its best candidate (``None``: nothing retrieved)."""
    weights = featurizer.weights(question)
    total = sum(weights.values())
    known = sum(w for t, w in weights.items() if featurizer.knows(t)) / total if total else 0.0
    if best_chunk is None:
        return np.asarray([best_dense, 0.0, 0.0, known])
    index = featurizer.index
    chunk = index.chunks[best_chunk]
    text = index.documents[chunk.doc_id].text
    scored = score_sentences(weights, featurizer.sentences(best_chunk))
    top = [text[s.start : s.end] for s in scored[:2]]
    return np.asarray(
        [best_dense, scored[0].score if scored else 0.0, answer_type_present(question, top), known], dtype=float
    )
