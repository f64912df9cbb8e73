"""A reader of our own: where in a passage the answer to a question is, or that the passage does not answer it.

A cross-encoder over ``[CLS] question [SEP] passage [SEP]`` made from the
shipped MiniLM: its lower layers are the package's own weights, unchanged;
the top layers and a span head (a start and an end score for each token)
are trained on SQuAD train (`benchmarks/train_reader.py`) and shipped on
top, in ``qa/reader.safetensors`` with their record in ``qa/reader.json``.
A passage that does not answer points its span at ``[CLS]`` (SQuAD 2.0's
convention): how far the best real span scores above ``[CLS]`` is the
reader's evidence that the passage answers at all.

The product stays extractive: the reader only marks a span of the passage.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.models import DEFAULT_MODEL, ModelError, model_folder

READER_FILE = Path(__file__).with_name("reader.safetensors")
READER_RECORD = Path(__file__).with_name("reader.json")
MAX_TOKENS = 256  # question and passage together: a chunk of about 150 words fits
MAX_ANSWER_TOKENS = 30
MAX_QUESTION_WORDS = 48  # a longer question is read by its first words: the passage must keep room…
MAX_QUESTION_TOKENS = 64  # …and by its first word pieces (one long "word" may be hundreds of them)
TOP_TOKENS = 20  # starts and ends searched for the best span
OUTPUTS = ("start", "end", "cls")  # what the model gives for each (question, passage) pair
EXPORT = 2  # how it is exported (a new value makes every cached export anew)
MARGIN_BOUND = 12.0  # margins beyond this say no more (and "no span at all" is -inf): ranking and confidence clip


@dataclass(frozen=True)
class Reading:
    """What the reader found in one passage: the answer's character span in it (None if none) and its evidence."""

    span: tuple[int, int] | None  # offsets into the passage text
    score: float  # the best span's start + end score
    margin: float  # score minus the [CLS] ("no answer") score: above 0, the passage answers
    cls: np.ndarray | None = field(default=None, compare=False, repr=False)  # the top layer at [CLS]

    @property
    def evidence(self) -> float:
        """The margin within ±`MARGIN_BOUND`: what ranking and confidence read."""
        return max(-MARGIN_BOUND, min(MARGIN_BOUND, self.margin))


class PassageReader(Protocol):
    """What `Engine` needs of a reader: one `Reading` per passage, and the record of what it is."""

    record: dict

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]: ...


def fingerprint(reader: PassageReader) -> str:
    """The first 12 hex digits of the reader's weights (its record's ``weights_sha256``): which reader answered."""
    return str(reader.record.get("weights_sha256", "unrecorded"))[:12]


_loading = threading.Lock()
_failed: list[ModelError] = []  # a shipped reader that cannot be loaded fails once, then at once on every call


def shipped_reader() -> OnnxReader | None:
    """The shipped reader (int8 ONNX), loaded once per process; None when no reader is shipped.

    Thread-safe: the first caller exports and loads it, the others wait for it.
    `ModelError` when its files are damaged or do not match (and again, at
    once, on later calls: the export is not retried for every question).
    """
    with _loading:
        if _failed:
            raise _failed[0]
        try:
            return _shipped()
        except ModelError as exc:
            _failed.append(exc)
            raise


def shipped_weights() -> str | None:
    """The sha256 of the shipped reader's weights as its record states it (None: no reader shipped), unloaded."""
    return read_record(READER_RECORD).get("weights_sha256") if reader_shipped() else None


def read_record(path: Path) -> dict:
    """A reader's training record; `ModelError` if it is missing, unreadable or lacks what loading needs."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"reader record {path} cannot be read: {exc}") from None
    missing = [key for key in ("model", "trained_from", "weights_sha256") if key not in record]
    if missing:
        raise ModelError(f"reader record {path} lacks {', '.join(missing)}")
    return record


def reader_shipped() -> bool:
    """Whether this installation ships a reader (its weights or its record: a half-shipped one is an error)."""
    return READER_FILE.exists() or READER_RECORD.exists()


@functools.cache
def _shipped() -> OnnxReader | None:
    return OnnxReader.load() if reader_shipped() else None


def build_model(trained_from: int, model: str = DEFAULT_MODEL, *, eager: bool = False):
    """The backbone with a span head; only layers ``trained_from`` and above, and the head, can learn.

    ``eager``: plain attention, as ONNX export needs (training uses the faster fused kernel).
    """
    import torch
    from transformers import AutoModel

    kwargs = {"attn_implementation": "eager"} if eager else {}
    backbone = AutoModel.from_pretrained(str(model_folder(model)), local_files_only=True, **kwargs)
    for p in backbone.parameters():
        p.requires_grad = False
    for layer in backbone.encoder.layer[trained_from:]:
        for p in layer.parameters():
            p.requires_grad = True
    return _span_model_class()(backbone, torch.nn.Linear(backbone.config.hidden_size, 2))


@functools.cache
def _span_model_class():
    """The span model's class, defined once, when torch is first needed (importing qa never imports torch)."""
    import torch

    class _SpanModel(torch.nn.Module):
        def __init__(self, backbone, head):
            super().__init__()
            self.backbone, self.head = backbone, head

        def forward(self, input_ids, attention_mask, token_type_ids):
            """Start and end scores of each token, and the top layer at [CLS] (what confidence reads of the pair)."""
            hidden = self.backbone(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            logits = self.head(hidden)
            return logits[..., 0], logits[..., 1], hidden[:, 0]

    return _SpanModel


def trained_state(model, trained_from: int) -> dict:
    """The tensors training changed: the top layers and the head (what ships)."""
    return {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in model.state_dict().items()
        if name.startswith("head.") or _layer_of(name) is not None and _layer_of(name) >= trained_from
    }


def _layer_of(name: str) -> int | None:
    parts = name.split(".")
    if parts[:3] == ["backbone", "encoder", "layer"]:
        return int(parts[3])
    return None


class Reader:
    """A reader in torch (for training and checking): ``read(question, passages)`` gives one `Reading` per passage.

    The product reads with `OnnxReader`, made from the same tensors.
    """

    def __init__(self, model, tokenizer, record: dict):
        self.model, self.tokenizer, self.record = model, tokenizer, record

    @classmethod
    def load(cls, path: Path = READER_FILE, record_path: Path = READER_RECORD) -> Reader:
        """The reader in ``path`` on top of the package's MiniLM; `ModelError` if it is missing or not this model's."""
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        record = read_record(record_path)
        try:
            tensors = load_file(str(path))
        except (OSError, ValueError) as exc:
            raise ModelError(f"reader {path} cannot be read: {exc}") from None
        model = build_model(record["trained_from"], record["model"])
        missing = set(trained_state(model, record["trained_from"])) - set(tensors)
        if missing:
            raise ModelError(f"reader {path} lacks {len(missing)} tensors (e.g. {sorted(missing)[0]})")
        model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_folder(record["model"])))
        return cls(model, tokenizer, record)

    def encode(self, question: str, passages: Sequence[str]):
        """The model's inputs for each (question, passage) pair, as the reader reads them, and each token's offsets.

        The question is cut as `short` and `cut_question` say; the passage to fit `MAX_TOKENS`.
        """
        pieces = self.tokenizer(short(question), add_special_tokens=False, return_offsets_mapping=True)
        question = cut_question(short(question), [end for _, end in pieces["offset_mapping"]])
        enc = self.tokenizer(
            [question] * len(passages),
            list(passages),
            truncation="only_second",
            max_length=MAX_TOKENS,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        return enc, enc.pop("offset_mapping").numpy()

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        """Where each passage answers ``question``, best span first in each."""
        if not passages:
            return []
        import torch

        enc, offsets = self.encode(question, passages)
        with torch.inference_mode():
            start, end, cls = (t.numpy() for t in self.model(**enc))
        return [
            replace(best_span(start[i], end[i], enc.sequence_ids(i), offsets[i]), cls=cls[i])
            for i in range(len(passages))
        ]


def short(question: str) -> str:
    """The question cut to `MAX_QUESTION_WORDS` words (cutting only the passage fails if the question fills all)."""
    return " ".join(question.split()[:MAX_QUESTION_WORDS])


def cut_question(question: str, piece_ends: Sequence[int]) -> str:
    """``question`` cut after its first `MAX_QUESTION_TOKENS` word pieces (``piece_ends``: where each ends)."""
    return question[: piece_ends[MAX_QUESTION_TOKENS - 1]] if len(piece_ends) > MAX_QUESTION_TOKENS else question


def best_span(start: np.ndarray, end: np.ndarray, sequence_ids: list, offsets: np.ndarray) -> Reading:
    """The highest-scoring span of passage tokens (at most `MAX_ANSWER_TOKENS`), against the [CLS] score."""
    passage = np.array([sid == 1 for sid in sequence_ids])
    null = float(start[0] + end[0])
    if not passage.any():
        return Reading(None, null, float("-inf"))
    s_masked = np.where(passage, start, -np.inf)
    e_masked = np.where(passage, end, -np.inf)
    starts = np.argsort(-s_masked)[:TOP_TOKENS]
    ends = np.argsort(-e_masked)[:TOP_TOKENS]
    best, where = -np.inf, None
    for i in starts:
        if not passage[i]:
            continue
        for j in ends:
            if passage[j] and i <= j < i + MAX_ANSWER_TOKENS and s_masked[i] + e_masked[j] > best:
                best, where = float(s_masked[i] + e_masked[j]), (int(offsets[i][0]), int(offsets[j][1]))
    if where is None:
        return Reading(None, null, float("-inf"))
    return Reading(where, best, best - null)


class OnnxReader:
    """The shipped reader through ONNX Runtime (exported once from `READER_FILE`; no torch when answering).

    >>> reader = OnnxReader.load()                                    # doctest: +SKIP
    >>> reader.read("Who was Zahran Alloush?", [passage.text])[0].span  # doctest: +SKIP
    """

    def __init__(self, path: Path, folder: Path, record: dict, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from qa.onnx_embedder import onnx_session

        # every core on one question's passages (one batch): the reader is most of an answer's time
        self.session = onnx_session(ort, path, threads or len(os.sched_getaffinity(0)))
        self.record = record
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="only_second")
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.pieces = Tokenizer.from_file(str(folder / "tokenizer.json"))  # the question alone, uncut
        self.pieces.no_truncation()
        self.pieces.no_padding()

    @classmethod
    def load(cls, path: Path = READER_FILE, record_path: Path = READER_RECORD, *, int8: bool = True) -> OnnxReader:
        """The shipped reader, exported to ONNX here on first use; `ModelError` if it cannot be read.

        A damaged export in the cache is exported again, once.
        """
        record = read_record(record_path)
        folder = model_folder(record["model"])
        onnx = exported_reader(path, record, int8)
        try:
            return cls(onnx, folder, record)
        except Exception:  # noqa: BLE001 - a damaged cache file, whatever onnxruntime calls it: make it again
            onnx.unlink(missing_ok=True)
            return cls(exported_reader(path, record, int8), folder, record)

    def read(self, question: str, passages: Sequence[str]) -> list[Reading]:
        if not passages:
            return []
        question = short(question)
        ends = [end for _, end in self.pieces.encode(question, add_special_tokens=False).offsets]
        question = cut_question(question, ends)
        encodings = self.tokenizer.encode_batch([(question, p) for p in passages])
        feed = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        start, end, cls = self.session.run(None, feed)
        return [
            replace(best_span(start[i], end[i], e.sequence_ids, np.asarray(e.offsets)), cls=cls[i])
            for i, e in enumerate(encodings)
        ]


def exported_reader(path: Path, record: dict, int8: bool) -> Path:
    """The ONNX file of the reader in ``path``, exported (and quantised) into the model cache if it is not yet."""
    from qa.onnx_embedder import cache_dir, cached_export

    target = cache_dir() / export_name(path, record, int8)
    return cached_export(target, lambda t: export_reader(path, record, t, int8))


def export_name(path: Path, record: dict, int8: bool) -> str:
    """The file name of the export of the reader in ``path``: a digest of its weights and what decides the bytes;
    `ModelError` if the weights are missing or not those of ``record``."""
    import hashlib

    from qa.documents import file_sha256

    if not path.is_file():
        raise ModelError(f"reader weights {path} are missing (its record {READER_RECORD.name} names them)")
    digest = file_sha256(path)
    if digest != record.get("weights_sha256"):
        raise ModelError(f"reader {path} is not the one its record describes (sha256 {digest[:12]}…)")
    key = hashlib.sha256(f"{digest}|{int8}|{MAX_TOKENS}|{'|'.join(OUTPUTS)}|{EXPORT}".encode()).hexdigest()[:12]
    return f"reader-{key}.onnx"


def export_reader(path: Path, record: dict, target: Path, int8: bool) -> None:
    """Export the reader in ``path`` with torch to the ONNX file ``target`` (quantised with ``int8``)."""
    import torch
    from safetensors.torch import load_file

    from qa.onnx_embedder import export_onnx

    model = build_model(record["trained_from"], record["model"], eager=True)
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()}, strict=False)
    model.eval()
    ids = torch.tensor([[101, 2054, 102, 1037, 2460, 102], [101, 2054, 102, 1037, 102, 0]])
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]])
    layers = len(model.backbone.encoder.layer)
    export_onnx(model, (ids, (ids != 0).long(), types), list(OUTPUTS), target, int8, layers)
