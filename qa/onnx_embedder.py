"""The shipped MiniLM through ONNX Runtime: the default embedding path (int8, sentences pooled) and its variants.

The ONNX file comes from the weights the model package ships (nothing is
downloaded): exported with ``torch.onnx``; for the int8 runtimes also
quantised by onnxruntime (dynamic int8, per output channel, unsigned
weights; the six feed-forward output projections stay float32, which keeps
every chunk vector of the default corpus at cosine ≥ 0.99 with torch's).
The default int8 export ships in ``qa/exports/`` less its word-piece table
(`qa.exports`: put back on first use, no torch); any other is exported here
once.  Either way it is kept in a cache outside any index folder:
``$QA_MODEL_CACHE``, else ``~/.cache/qa``.  Text is tokenised by the package's own ``tokenizer.json``
and mean-pooled and normalised as sentence-transformers does for this model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa import models
from qa.models import SMALL_BATCH, Done, ModelError, length_batches, model_folder, piece_means
from qa.sentence_map import SentenceMap

log = logging.getLogger("qa")

RUNTIME = "onnx-int8"
POOLED_RUNTIME = "onnx-int8-pooled"
FP32_RUNTIME = "onnx-fp32"
MAX_TOKENS = 256  # the model's max_seq_length: longer texts are cut, as sentence-transformers cuts them
BATCH = 32
OPSET = 17
RECIPES = {  # what decides an exported file's bytes besides the weights: part of its cache name
    True: f"opset{OPSET}-eager-matmul-int8-per-channel-u8-ffn-out-fp32-v1",
    False: f"opset{OPSET}-eager-fp32-v1",
}


def cache_dir() -> Path:
    """Where exported models are kept: ``$QA_MODEL_CACHE``, else ``~/.cache/qa`` (else a temporary folder)."""
    if env := os.environ.get("QA_MODEL_CACHE"):
        return Path(env)
    home = Path.home() / ".cache" / "qa"
    try:
        home.mkdir(parents=True, exist_ok=True)
        return home
    except OSError:
        return Path(tempfile.gettempdir()) / "qa-models"


def export_name(name: str, version: str, int8: bool = True) -> str:
    """The file name of model ``name``'s export (package ``version``): a digest of what decides its bytes."""
    return f"{name}-{hashlib.sha256(f'{name}|{version}|{RECIPES[int8]}'.encode()).hexdigest()[:12]}.onnx"


def exported_model(name: str, version: str, int8: bool = True) -> Path:
    """The ONNX file of model ``name`` (package ``version``), exported (and quantised) here if it is not yet."""
    return cached_export(cache_dir() / export_name(name, version, int8), lambda t: export_model(name, t, int8))


def cached_export(target: Path, export: Callable[[Path], None]) -> Path:
    """``target``, made first if it is not there yet (one process at a time, under a lock): from the file the
    package ships (`qa.exports`), else by ``export(target)``."""
    from filelock import FileLock

    from qa.exports import assemble

    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.with_name(f".{target.name}.lock")):
        if not target.exists() and not assemble(target):  # another process may have made it while we waited
            log.warning("exporting %s to ONNX once (about 15 s)", target)
            export(target)
    return target


def export_model(name: str, target: Path, int8: bool) -> None:
    """Export model ``name``'s transformer to ONNX, quantise it (``int8``), and move the result into place whole."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    folder = model_folder(name)
    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    sample = tokenizer(["a short text", "a padded batch traces the masking of a longer text"], padding=True)
    inputs = tuple(torch.tensor(sample[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))

    class Hidden(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    export_onnx(Hidden(model), inputs, ["last_hidden_state"], target, int8, model.config.num_hidden_layers)


POOLED_OUTPUTS = ("cls",)  # outputs with one row per text, not one per token


def export_onnx(module, inputs: tuple, outputs: list[str], target: Path, int8: bool, layers: int) -> None:
    """Trace ``module`` (a BERT taking ids, mask and token types) into the ONNX file ``target``, whole or not at all.

    With ``int8`` its matrix products are quantised (dynamic, per channel),
    except each layer's feed-forward output (``layers`` of them), kept in
    float: the recipe `RECIPES` names.
    """
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, *outputs]}
    axes |= {n: {0: "batch"} for n in outputs if n in POOLED_OUTPUTS}
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        plain, quantised = Path(work) / "model.onnx", Path(work) / "model-int8.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on the mask code, and the exporter's deprecation
            torch.onnx.export(
                module,
                inputs,
                str(plain),
                dynamo=False,
                opset_version=OPSET,
                do_constant_folding=True,
                input_names=names,
                output_names=outputs,
                dynamic_axes=axes,
            )
        if not int8:
            os.replace(plain, target)
            return
        graph = onnx.load(str(plain)).graph
        ffn_out = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name]
        ffn_out = [n for n in ffn_out if "attention" not in n]
        if len(ffn_out) != layers:
            raise ModelError(f"unexpected exported graph: {len(ffn_out)} feed-forward outputs")
        root = logging.getLogger()  # the quantiser logs its notes on the root logger: one filter, while it runs
        root.addFilter(_not_from_the_quantiser)
        try:
            quantize_dynamic(
                str(plain),
                str(quantised),
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QUInt8,
                nodes_to_exclude=ffn_out,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            root.removeFilter(_not_from_the_quantiser)
        os.replace(quantised, target)


def _not_from_the_quantiser(record: logging.LogRecord) -> bool:
    """Drop onnxruntime.quantization's advice ("consider pre-processing…"): the recipe is fixed and measured."""
    return "onnxruntime" not in record.pathname


class OnnxEmbedder:
    """all-MiniLM-L6-v2 through ONNX Runtime: torch's vectors (float32), or close to them (``int8``), faster.

    ``pool_sentences``: an index built with it takes its sentence vectors
    from the chunk pass (`encode_pooled`, runtime ``onnx-int8-pooled``, the
    default) instead of embedding every sentence alone: half the embedding
    work.
    """

    def __init__(
        self, name: str, version: str, threads: int | None = None, *, int8: bool = True, pool_sentences: bool = False
    ):
        import onnxruntime as ort
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = model_folder(name)
        path = exported_model(name, version, int8)
        self.name, self.version = name, version
        self.runtime = (POOLED_RUNTIME if pool_sentences else RUNTIME) if int8 else FP32_RUNTIME
        self.pools_sentences = pool_sentences
        cores = threads or len(os.sched_getaffinity(0))
        try:
            self._small_session = onnx_session(ort, path, 1)  # questions: one core each, several at once
        except Exception as exc:  # noqa: BLE001 - a damaged cache file, whatever onnxruntime calls it: make it again
            log.warning("%s cannot be loaded (%s); exporting it again", path, str(exc).splitlines()[0][:200])
            path.unlink(missing_ok=True)
            path = exported_model(name, version, int8)
            self._small_session = onnx_session(ort, path, 1)
        # an index build's session, every core on one batch: made on first use (a chat that answers never needs it)
        self._batch_args, self._batch_made, self._batch_lock = (ort, path, cores), None, threading.Lock()
        self._cores = threading.BoundedSemaphore(cores)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)  # the file says 128, the model reads 256
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch
        self._piece_tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))  # word pieces: no padding, no cut
        self._piece_tokenizer.no_truncation()
        self._piece_tokenizer.no_padding()
        with safe_open(str(folder / "model.safetensors"), framework="np") as weights:
            self._table = np.asarray(weights.get_tensor("embeddings.word_embeddings.weight"), dtype=np.float32)
        self.dim = int(self._table.shape[1])
        self._pieces: dict[str, list[int]] = {}
        self._memo = threading.Lock()
        self._map: SentenceMap | None = None

    @property
    def _batch_session(self):
        """The session for batches of texts, made on first use (one for all threads)."""
        with self._batch_lock:
            if self._batch_made is None:
                self._batch_made = onnx_session(*self._batch_args)
            return self._batch_made

    def _sentence_map(self) -> SentenceMap:
        """The shipped map for this model, read on first use (`ModelError` if it is missing or for another)."""
        if self._map is None:
            self._map = SentenceMap.load(self.name, self.dim)
        return self._map

    def encode(self, texts: list[str], *, progress: Done | None = None) -> np.ndarray:
        """Unit vectors, in batches of similar length (little padding); questions on one core each."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SMALL_BATCH:
            with self._cores:
                return self._forward(self._small_session, texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in length_batches(texts, BATCH, progress):
            vectors[rows] = self._forward(self._batch_session, [texts[i] for i in rows])
        return vectors

    def encode_pooled(
        self,
        texts: list[str],
        spans: list[list[tuple[int, int]]],
        *,
        progress: Done | None = None,
        mapped: bool = True,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unit vectors of the texts and, from the same forward pass, of each character span of each text.

        A span's vector is the mean of the outputs of its word pieces, read in
        the context of the whole text (an index's sentences, without a second
        pass over them), then (``mapped``) taken through the shipped
        `SentenceMap` towards the span's vector on its own.  A span that is
        the whole text gets the text's vector; one past the 256 word pieces
        the model reads is embedded on its own.
        """
        sentence_map = self._sentence_map() if mapped else None
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        parts: list[np.ndarray] = [np.zeros((len(s), self.dim), dtype=np.float32) for s in spans]
        unread: list[tuple[int, int]] = []  # (text, span) pairs the model did not reach
        pooled: list[tuple[int, int]] = []  # (text, span) pairs read in context
        for rows in length_batches(texts, BATCH, progress):
            encodings, hidden = self._hidden(self._batch_session, [texts[i] for i in rows])
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.float32)
            vectors[rows] = _unit(_mean(hidden, mask))
            for b, i in enumerate(rows):
                offsets = np.asarray(encodings[b].offsets, dtype=np.int64).reshape(-1, 2)
                content = ~np.asarray(encodings[b].special_tokens_mask, dtype=bool)
                for j, (lo, hi) in enumerate(spans[i]):
                    inside = content & (offsets[:, 0] < hi) & (offsets[:, 1] > lo)
                    if np.array_equal(inside, content):  # the whole text: its own vector
                        parts[i][j] = vectors[i]
                    elif inside.any():
                        parts[i][j] = hidden[b][inside].mean(axis=0)
                        pooled.append((i, j))
                    else:
                        unread.append((i, j))
                parts[i] = _unit(parts[i])
        if sentence_map is not None and pooled:
            inputs = np.asarray([parts[i][j] for i, j in pooled])
            chunks = vectors[[i for i, _ in pooled]]
            for (i, j), vector in zip(pooled, sentence_map.apply(inputs, chunks), strict=True):
                parts[i][j] = vector
        if unread:
            alone = self.encode([texts[i][slice(*spans[i][j])] for i, j in unread])
            for (i, j), vector in zip(unread, alone, strict=True):
                parts[i][j] = vector
        return vectors, parts

    def _hidden(self, session, texts: list[str]) -> tuple[list, np.ndarray]:
        """The tokenisations of ``texts`` (padded to the longest) and the model's output for every word piece."""
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = session.run(None, feed)
        return encodings, hidden

    def _forward(self, session, texts: list[str]) -> np.ndarray:
        encodings, hidden = self._hidden(session, texts)
        return _unit(_mean(hidden, np.asarray([e.attention_mask for e in encodings], dtype=np.float32)))

    def word_vectors(self, words: list[str]) -> np.ndarray:
        """The mean of each word's input word-piece embeddings, unit length (as the torch path computes them)."""
        return piece_means(self._table, self._word_pieces(words))

    def _word_pieces(self, words: list[str]) -> list[list[int]]:
        with self._memo:
            known = self._pieces
            if len(known) > models.MAX_REMEMBERED_WORDS:
                known = self._pieces = {}
            missing = list({w for w in words if w not in known})
        if missing:
            ids = [e.ids for e in self._piece_tokenizer.encode_batch(missing, add_special_tokens=False)]
            with self._memo:
                known.update(zip(missing, ids, strict=True))
        return [known[w] for w in words]


def _mean(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each text's word-piece outputs over its attention mask (sentence-transformers' mean pooling)."""
    weights = mask[:, :, None]
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def onnx_session(ort, path: Path, threads: int):
    """An ONNX Runtime session of ``path`` on ``threads`` cores, logging errors only."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
