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

With the reader on (`qa.reader`), the reader's own evidence joins them: how
far the top passage's best answer span scores above "no answer", and the best
such margin among the passages read.  That is what tells a passage *about*
the question from one that *answers* it; ``qa/confidence_reader.json`` is the
calibrator fitted with them (on SQuAD 2.0's unanswerable questions too).  The
reader's top layer at [CLS] (`CLS_FEATURES`) can join too, but fitted with
them the calibrator learnt its training corpora: held out by article it
caught fewer off-topic questions on Wikipedia text (0.58 against 0.75).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.evidence import Candidate, Evidence
from qa.linear import LinearModel
from qa.reader import MARGIN_BOUND

READER_WIDTH = 384  # the shipped MiniLM's hidden size
CONFIDENCE_FILE = Path(__file__).with_name("confidence.json")  # fitted without the reader
READER_CONFIDENCE_FILE = Path(__file__).with_name("confidence_reader.json")  # fitted with its features

FEATURES = (
    "dense",  # cosine of the question and the closest passage
    "sentence_coverage",  # IDF-weighted share of the question in the best sentence of the top passage
    "sentence_dense",  # cosine of the question and the top passage's closest sentence
    "phrase",  # longest run of the question's words in that best sentence
    "answer_type",  # the top passage's best sentences hold an answer of the kind asked for
    "coverage",  # IDF-weighted share of the question in the top passage as a whole
    "soft_coverage",  # the best sentence's share of the question, by related words too
    "known_terms",  # IDF-weighted share of the question's terms that the corpus has at all
    "reader_margin",  # the reader's best span in the top passage, above "no answer" (bounded)
    "reader_best",  # the best such margin among the passages the reader read
) + tuple(f"reader_cls_{i}" for i in range(READER_WIDTH))  # the reader's top layer at [CLS] for the top passage
_FROM_SIGNALS = FEATURES[1:7]  # the top candidate's `Signals`, as the ranker reads them
READER_FEATURES = FEATURES[8:]
CLS_FEATURES = FEATURES[10:]


@dataclass
class Calibrator(LinearModel):
    """The confidence model, and the probability at or above which the engine says the corpus answers."""

    threshold: float = 0.5

    FEATURES = FEATURES

    @classmethod
    def computes(cls, features: list[str]) -> bool:
        """A calibrator reads any of `FEATURES` by name (with or without the reader's)."""
        return bool(features) and set(features) <= set(FEATURES) and len(set(features)) == len(features)

    @property
    def reads(self) -> bool:
        """Whether it was fitted on the reader's evidence (and so needs a reader)."""
        return any(f in READER_FEATURES for f in self.features)

    def probability(self, named: dict[str, float]) -> float:
        """The probability that the corpus answers, from named features (`confidence_features`)."""
        x = np.asarray([named[f] for f in self.features], dtype=float)
        return 1 / (1 + math.exp(-float(self.logit(x))))


@lru_cache(maxsize=2)
def load_calibrator(path: str = str(CONFIDENCE_FILE)) -> Calibrator | None:
    """The shipped calibrator, or None before one is trained."""
    return Calibrator.load(path) if Path(path).exists() else None


def shipped_calibrator(reader_weights: str | None) -> Calibrator | None:
    """The shipped calibrator for an engine whose reader has these weights (their sha256; None: no reader).

    The one fitted on the reader's evidence serves only the reader it was
    fitted on (its [CLS] weights mean nothing for another); any other engine
    gets the one fitted without a reader.
    """
    if reader_weights and READER_CONFIDENCE_FILE.exists():
        calibrator = load_calibrator(str(READER_CONFIDENCE_FILE))
        if calibrator.training.get("reader") == reader_weights:
            return calibrator
    return load_calibrator()


def confidence_features(evidence: Evidence, chosen: list[Candidate]) -> dict[str, float]:
    """`FEATURES` of a question's evidence and its chosen candidates, best first, by name.

    The top candidate must carry its signals (`Featurizer.with_signals`); the
    reader's features are the floor, ``-MARGIN_BOUND``, where nothing was read.
    """
    named = {"dense": evidence.best_dense, "known_terms": evidence.question.known_share}
    top = chosen[0] if chosen else None
    if top is None:
        named |= dict.fromkeys(_FROM_SIGNALS, 0.0)
    elif top.signals is None:
        raise ValueError(f"candidate {top.chunk_id} has no signals; pass it through Featurizer.with_signals")
    else:
        named |= {name: float(getattr(top.signals, name)) for name in _FROM_SIGNALS}
    margins = [c.reading.evidence for c in chosen if c.reading is not None]
    named["reader_margin"] = top.reading.evidence if top is not None and top.reading is not None else -MARGIN_BOUND
    named["reader_best"] = max(margins, default=-MARGIN_BOUND)
    cls = top.reading.cls if top is not None and top.reading is not None else None
    named |= dict(zip(CLS_FEATURES, cls.tolist() if cls is not None else [0.0] * READER_WIDTH, strict=True))
    return named
