"""A linear map from sentence vectors pooled in a chunk's context to vectors like the sentence's own.

The pooled runtime reads a sentence's vector off the chunk's forward pass
(`OnnxEmbedder.encode_pooled`); that vector leans towards the chunk's.  The
map takes the pooled vector and the chunk's, and gives one closer to the
sentence embedded alone: fitted by ridge regression on SQuAD train
paragraphs (``benchmarks/fit_sentence_map.py``), shipped as
``qa/sentence_map.npz`` for the model it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.models import ModelError

SENTENCE_MAP_FILE = Path(__file__).with_name("sentence_map.npz")


@dataclass(frozen=True)
class SentenceMap:
    """``unit([pooled, chunk, 1] @ weights)``; ``weights`` is ``(2 * dim + 1, dim)``."""

    weights: np.ndarray

    @classmethod
    def fit(cls, pooled: np.ndarray, chunk: np.ndarray, alone: np.ndarray, l2: float) -> SentenceMap:
        """Least squares from (pooled, chunk) to ``alone``, each row a sentence, with an L2 penalty ``l2``."""
        x = _inputs(pooled, chunk).astype(np.float64)
        weights = np.linalg.solve(x.T @ x + l2 * np.eye(x.shape[1]), x.T @ alone.astype(np.float64))
        return cls(weights.astype(np.float32))

    def apply(self, pooled: np.ndarray, chunk: np.ndarray) -> np.ndarray:
        """Unit vectors for sentences with these pooled vectors in chunks with these vectors (row by row)."""
        mapped = _inputs(pooled, chunk) @ self.weights
        return (mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def save(self, path: Path, *, model: str) -> None:
        np.savez(path, weights=self.weights, model=np.asarray(model))

    @classmethod
    def load(cls, model: str, dim: int, path: Path = SENTENCE_MAP_FILE) -> SentenceMap:
        """The map fitted for ``model`` (``dim``-d vectors); `ModelError` if the file is missing or for another."""
        try:
            with np.load(path, allow_pickle=False) as data:
                fitted_for, weights = str(data["model"]), np.asarray(data["weights"], dtype=np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: cannot read the sentence map ({exc})") from exc
        if fitted_for != model or weights.shape != (2 * dim + 1, dim):
            raise ModelError(f"{path}: a sentence map for {fitted_for} {weights.shape}, not {model} ({dim}-d)")
        return cls(weights)


def _inputs(pooled: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    return np.hstack([pooled, chunk, np.ones((len(pooled), 1), dtype=pooled.dtype)])
