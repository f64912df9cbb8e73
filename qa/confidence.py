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
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.highlight import score_sentences
from qa.linear import LinearModel

CONFIDENCE_FILE = Path(__file__).with_name("confidence.json")

FEATURES = (
    "dense",  # cosine of the question and the best passage
    "coverage",  # IDF-weighted share of the question in the best sentence of the best passage
    "answer_type",  # that passage's best sentences hold an answer of the kind asked for
    "known_terms",  # IDF-weighted share of the question's terms that the corpus has at all
)

_MONTHS = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_NUMBER_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|millions?"
_ASKS_NUMBER = re.compile(
    r"\bhow (many|much)\b|\bwhat (number|percentage|fraction|proportion|share|amount)\b|\bdeath toll\b", re.I
)
_ASKS_DATE = re.compile(r"^\s*when\b|\b(what|which) (date|year|day|month|time)\b|\bon what date\b", re.I)
_ASKS_NAME = re.compile(r"^\s*(who|whom|whose|where)\b|\b(which|what) (is the )?name\b", re.I)
_HAS_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b", re.I)
_HAS_DATE = re.compile(rf"\b({_MONTHS}|{_DAYS}|(1[89]|20)\d\d|yesterday|today|last (week|month|year))\b")
_CAPITALISED = re.compile(r"(?<=[\s(“\"'‘])[A-Z][\w’'-]+")


def answer_type_present(question: str, sentences: list[str]) -> float:
    """1 when some sentence holds an answer of the kind the question asks for (or it asks for no kind)."""
    text = " ".join(sentences)
    if _ASKS_NUMBER.search(question):
        asked = set(re.findall(r"\d[\d,.]*", question))
        return float(any(n not in asked for n in re.findall(r"\d[\d,.]*", text)) or bool(_HAS_NUMBER.search(text)))
    if _ASKS_DATE.search(question):
        return float(bool(_HAS_DATE.search(text)))
    if _ASKS_NAME.search(question):
        known = {w.lower().strip("’'s") for w in re.findall(r"[\w’'-]+", question)}
        return float(any(w.lower().strip("’'s") not in known for w in _CAPITALISED.findall(" " + text)))
    return 1.0


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
