"""The map from pooled sentence vectors towards standalone ones: fitted by least squares, loaded for its model only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qa
from qa.models import ModelError
from qa.sentence_map import SENTENCE_MAP_FILE, SentenceMap


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_fitting_recovers_a_linear_map_and_gives_unit_vectors():
    rng = np.random.default_rng(0)
    pooled, chunk = unit(rng.normal(size=(500, 8))), unit(rng.normal(size=(500, 8)))
    planted = rng.normal(size=(17, 8))
    alone = np.hstack([pooled, chunk, np.ones((500, 1))]) @ planted
    fitted = SentenceMap.fit(pooled, chunk, alone, l2=1e-6)
    assert np.allclose(fitted.weights, planted, atol=1e-3)
    mapped = fitted.apply(pooled, chunk)
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
    assert np.allclose(mapped, unit(alone), atol=1e-4)


def test_a_map_loads_only_for_its_model_and_width(tmp_path: Path):
    path = tmp_path / "map.npz"
    SentenceMap(np.zeros((17, 8), dtype=np.float32)).save(path, model="tiny")
    assert SentenceMap.load("tiny", 8, path).weights.shape == (17, 8)
    with pytest.raises(ModelError, match="not other"):
        SentenceMap.load("other", 8, path)
    with pytest.raises(ModelError, match="not tiny"):
        SentenceMap.load("tiny", 16, path)
    with pytest.raises(ModelError, match="cannot read"):
        SentenceMap.load("tiny", 8, tmp_path / "missing.npz")
    path.write_bytes(b"not a numpy file")
    with pytest.raises(ModelError, match="cannot read"):
        SentenceMap.load("tiny", 8, path)


def test_the_shipped_map_is_for_the_default_model():
    weights = SentenceMap.load(qa.DEFAULT_MODEL, 384, SENTENCE_MAP_FILE).weights
    assert np.isfinite(weights).all()
