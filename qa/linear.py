"""A logistic model over standardised features, stored as JSON with a record of how it was fitted.

The ranker (`qa.ranker`) and the confidence calibrator (`qa.confidence`) are
both this: a few numbers that ship in the repository, refuse to load when the
code computes other features, and carry a fingerprint of what was fitted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar, Self

import numpy as np


@dataclass
class LinearModel:
    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    training: dict = field(default_factory=dict)  # how it was fitted: command, data hashes, metrics

    FEATURES: ClassVar[tuple[str, ...]] = ()  # what the code computes, in order

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of each row of ``x`` (or of the one row ``x`` is)."""
        z = (np.asarray(x) - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.weights) + self.bias

    def fingerprint(self) -> str:
        """sha256 of the fitted numbers; `training["sha256"]` records it when fitted."""
        numbers = json.dumps([self.features, self.mean, self.scale, self.weights, self.bias])
        return hashlib.sha256(numbers.encode()).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        model = cls(**json.loads(Path(path).read_text()))
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.weights):
            raise ValueError(f"{path}: {len(model.features)} features but {len(model.weights)} weights")
        if not cls.computes(model.features):
            raise ValueError(f"{path}: trained on features {model.features}, this code computes {list(cls.FEATURES)}")
        return model

    @classmethod
    def computes(cls, features: list[str]) -> bool:
        """Whether the code computes ``features`` as the model reads them (here: exactly `FEATURES`, in order)."""
        return tuple(features) == cls.FEATURES
