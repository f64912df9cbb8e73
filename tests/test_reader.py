"""The reader: its span decoding (`qa.reader.best_span`), its place in `ask`, and its ONNX export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import qa
from qa.reader import MAX_ANSWER_TOKENS, MAX_QUESTION_WORDS, best_span, short

# [CLS] q q [SEP] p0 p1 p2 p3 [SEP]: passage tokens 4-7, each 5 characters wide from 0
SEQUENCE = [None, 0, 0, None, 1, 1, 1, 1, None]
OFFSETS = np.array([(0, 0), (0, 4), (5, 9), (0, 0), (0, 4), (5, 9), (10, 14), (15, 19), (0, 0)])


def logits(**at: float) -> np.ndarray:
    out = np.zeros(len(SEQUENCE))
    for position, value in at.items():
        out[int(position[1:])] = value
    return out


def test_the_best_passage_span_is_found_with_its_characters():
    reading = best_span(logits(t5=4.0, t1=9.0), logits(t6=3.0, t2=9.0), SEQUENCE, OFFSETS)
    assert reading.span == (5, 14)  # question tokens never make an answer, however high they score
    assert reading.score == 7.0 and reading.margin == 7.0  # [CLS] scores 0 here


def test_a_span_never_ends_before_it_starts():
    reading = best_span(logits(t6=5.0, t4=1.0), logits(t5=5.0, t7=0.5), SEQUENCE, OFFSETS)
    assert reading.span == (0, 9) and reading.score == 6.0  # not t6..t5 (10.0), which would end before it starts


def test_a_high_cls_score_means_no_answer():
    reading = best_span(logits(t0=8.0, t5=2.0), logits(t0=8.0, t5=2.0), SEQUENCE, OFFSETS)
    assert reading.span == (5, 9) and reading.margin == 4.0 - 16.0  # the passage does not answer


def test_answers_are_at_most_the_longest_span_allowed():
    sequence = [None] + [1] * (MAX_ANSWER_TOKENS + 5) + [None]
    offsets = np.array([(0, 0)] + [(i, i + 1) for i in range(MAX_ANSWER_TOKENS + 5)] + [(0, 0)])
    start, end = np.zeros(len(sequence)), np.zeros(len(sequence))
    start[1], end[MAX_ANSWER_TOKENS + 3] = 5.0, 5.0  # too far apart to be one answer
    reading = best_span(start, end, sequence, offsets)
    assert reading.span[1] - reading.span[0] <= MAX_ANSWER_TOKENS


class FirstWordReader:
    """A deterministic fake reader: the answer is each passage's first capitalised word that is no stop word and
    that the question does not say (else its first such word), confident only if it is capitalised."""

    record = {"weights_sha256": "f1257" * 8}

    def __init__(self):
        self.asked: list[tuple[str, int]] = []

    def read(self, question, passages):
        import re

        from qa.reader import Reading
        from qa.stores.lexical import tokenize

        self.asked.append((question, len(passages)))
        said = {w.lower() for w in re.findall(r"\w+", question)}
        out = []
        for text in passages:
            words = [m for m in re.finditer(r"\w+", text) if tokenize([m.group()])[0] and m.group().lower() not in said]
            capitalised = [m for m in words if m.group()[0].isupper()]
            m = (capitalised or words)[0]
            out.append(Reading(m.span(), 5.0, 1.0 if m.group()[0].isupper() else -1.0))
        return out


def test_an_engine_with_a_reader_marks_exact_answers_inside_its_passages(tiny_engine):
    import qa

    reader = FirstWordReader()
    engine = tiny_engine.reading(reader)
    answer = engine.ask("What is found on Rottnest Island?", k=5)
    assert answer.answered and reader.asked == [(answer.question, min(3, len(answer.passages)))]
    marked = [p for p in answer.passages if p.answer]
    assert marked, "the confident spans are marked"
    for p in marked:
        start, end = p.answer
        assert p.start <= start < end <= p.end
        assert tiny_engine.document(p.doc_id).text[start:end][0].isupper()
    assert all(p.answer is None for p in answer.passages[3:])  # only the passages read
    assert tiny_engine.reading(None).ask("How many quokkas did rangers count on the island?").passages[0].answer is None
    data = answer.to_dict()["passages"][0]
    assert data["answer"] == (list(answer.passages[0].answer) if answer.passages[0].answer else None)
    assert isinstance(engine, qa.Engine) and engine.index is tiny_engine.index  # the same snapshot, shared


class FixedMarginReader(FirstWordReader):
    """The first-word fake with the margins given, passage by passage in the order read."""

    def __init__(self, margins: list[float]):
        super().__init__()
        self.margins = margins

    def read(self, question, passages):
        return [replace(r, margin=m) for r, m in zip(super().read(question, passages), self.margins, strict=False)]


def test_the_answer_margin_setting_decides_which_spans_are_marked(tiny_engine):
    import dataclasses

    question = "What is found on Rottnest Island?"
    margins = [3.0, 0.5, -1.0]

    def marked(answer_margin: float) -> list[float]:
        settings = dataclasses.replace(tiny_engine.settings, reader_weight=0.0, answer_margin=answer_margin)
        engine = tiny_engine.staged(settings, tiny_engine.ranker).reading(FixedMarginReader(margins))
        answer = engine.ask(question, k=3)
        assert answer.answered and len(answer.passages) == 3
        return sorted(m for m, p in zip(margins, answer.passages, strict=True) if p.answer is not None)

    assert marked(0.0) == [0.5, 3.0]  # the default: the reader says the passage answers
    assert marked(-2.0) == margins[::-1] and marked(1.0) == [3.0] and marked(5.0) == []


def test_a_long_question_is_read_by_its_first_words():
    assert short("word " * 300) == " ".join(["word"] * MAX_QUESTION_WORDS)
    assert short("  Who was   Zahran Alloush? ") == "Who was Zahran Alloush?"


def test_the_onnx_reader_reads_as_the_torch_reader_does(tmp_path, monkeypatch):
    """The export and its tokenizer (the `tokenizers` pair encoding) agree with torch and transformers' tokenizer."""
    import json

    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    from qa.documents import file_sha256
    from qa.models import DEFAULT_MODEL, model_folder
    from qa.reader import OnnxReader, Reader, build_model, trained_state

    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    model = build_model(5).eval()  # an untrained head: any weights will do to compare the two paths
    weights, record = tmp_path / "reader.safetensors", tmp_path / "reader.json"
    save_file(trained_state(model, 5), str(weights))
    record.write_text(json.dumps({"model": DEFAULT_MODEL, "trained_from": 5, "weights_sha256": file_sha256(weights)}))
    in_torch = Reader(model, AutoTokenizer.from_pretrained(str(model_folder(DEFAULT_MODEL))), {})
    in_onnx = OnnxReader.load(weights, record, int8=False)
    question = "How many quokkas did rangers count on Rottnest Island?"
    passages = [
        "Rangers counted 12,000 quokkas on the island in 2020. The count is repeated every spring.",
        "Sourdough bread needs a starter of flour and water.",
        "word " * 400,  # longer than the reader reads: cut, never an error
    ]
    for a, b in zip(in_torch.read(question, passages), in_onnx.read(question, passages), strict=True):
        assert a.span == b.span
        assert abs(a.margin - b.margin) < 1e-3
        assert a.cls.shape == b.cls.shape == (384,) and np.abs(a.cls - b.cls).max() < 1e-3
    assert in_onnx.read("word " * 600, passages[:1])[0].span is not None  # a long question fits too
    for reader in (in_torch, in_onnx):  # one "word" of hundreds of word pieces is cut too
        assert reader.read("叙利亚" * 300 + "?", passages[:1])[0].span is not None
    record.write_text(json.dumps({"model": DEFAULT_MODEL, "trained_from": 5, "weights_sha256": "0" * 64}))
    with pytest.raises(qa.ModelError, match="not the one its record describes"):
        OnnxReader.load(weights, record)
    record.write_text(json.dumps({"model": DEFAULT_MODEL, "weights_sha256": "0" * 64}))
    with pytest.raises(qa.ModelError, match="lacks trained_from"):
        OnnxReader.load(weights, record)
    record.write_text(json.dumps({"model": DEFAULT_MODEL, "trained_from": 5, "weights_sha256": "0" * 64}))
    with pytest.raises(qa.ModelError, match="are missing"):
        OnnxReader.load(tmp_path / "gone.safetensors", record)


def test_by_reading_orders_the_read_passages_by_score_and_margin_and_keeps_the_rest_below():
    from qa.evidence import Candidate
    from qa.reader import MARGIN_BOUND, Reading
    from qa.retrieval import by_reading

    candidates = [
        Candidate(1, 5.0, 0.0, 0.0, reading=Reading((0, 4), 3.0, -3.0)),
        Candidate(2, 4.0, 0.0, 0.0, reading=Reading((0, 4), 9.0, 2.0)),
        Candidate(3, 4.5, 0.0, 0.0),  # not read
        Candidate(4, 1.0, 0.0, 0.0),
    ]
    out = by_reading(candidates, 1.0)
    assert [c.chunk_id for c in out] == [2, 1, 3, 4]
    assert [c.score for c in out] == [6.0, 2.0, 2.0, -1.5]  # unread: below the last one read, their gap kept
    assert [c.chunk_id for c in by_reading(candidates, 0.0)] == [1, 2, 3, 4]  # weight 0: the ranker's order
    assert candidates[0].score == 5.0  # inputs are never changed
    assert Reading(None, 0.0, float("-inf")).evidence == -MARGIN_BOUND
    assert Reading((0, 1), 0.0, 99.0).evidence == MARGIN_BOUND
    assert by_reading(candidates[2:], 1.0) == candidates[2:]


def test_an_engine_without_a_reader_keeps_the_calibrator_fitted_without_one(tiny_engine):
    from qa.confidence import READER_CONFIDENCE_FILE, Calibrator

    off = tiny_engine.reading(None)
    assert off.reader is None and not (off.calibrator and off.calibrator.reads)
    answer = off.ask("How many quokkas did rangers count on the island?")
    assert answer.reader is None and all(p.answer is None for p in answer.passages)
    on = tiny_engine.reading(FirstWordReader())
    assert on.calibrator is not None and not on.calibrator.reads  # fitted on another reader's evidence: not for it
    assert tiny_engine.reading("shipped").calibrator.reads == READER_CONFIDENCE_FILE.exists()
    assert on.ask("How many quokkas did rangers count on the island?").reader == "f1257f1257f1"
    with pytest.raises(ValueError, match="trained on features"):
        Calibrator(["dense", "no such feature"], [0, 0], [1, 1], [1, 1], 0.0).save(tiny_engine.store.folder / "c.json")
        Calibrator.load(tiny_engine.store.folder / "c.json")


def test_the_shipped_reader_is_the_one_its_record_describes(repo_root):
    import json

    from safetensors import safe_open

    from qa.confidence import READER_CONFIDENCE_FILE, Calibrator
    from qa.documents import file_sha256
    from qa.models import DEFAULT_MODEL
    from qa.reader import READER_FILE, READER_RECORD, build_model, reader_shipped, trained_state

    assert reader_shipped()
    record = json.loads(READER_RECORD.read_text())
    assert file_sha256(READER_FILE) == record["weights_sha256"]
    assert record["model"] == DEFAULT_MODEL
    with safe_open(str(READER_FILE), "pt") as f:
        shipped = set(f.keys())
    assert shipped == set(trained_state(build_model(record["trained_from"]), record["trained_from"]))
    assert record["command"].startswith("python benchmarks/train_reader.py")
    assert record["held_out"]["top_passage_f1"] > 0.5 and record["steps"] > 0
    train = repo_root.parent / "shared" / "eval" / "squad"
    for name, digest in record["data"].items():
        if (train.parent / name).exists():
            assert file_sha256(train.parent / name) == digest, f"{name} is not the data the reader was trained on"
    # the calibrator that reads the reader's evidence was fitted on this reader's evidence
    assert Calibrator.load(READER_CONFIDENCE_FILE).training["reader"] == record["weights_sha256"]


def test_below_the_bold_confidence_the_answering_sentence_is_highlighted_and_nothing_is_bold(tiny_engine):
    import dataclasses

    def asked(bold_confidence: float):
        settings = dataclasses.replace(tiny_engine.settings, bold_confidence=bold_confidence)
        engine = tiny_engine.staged(settings, tiny_engine.ranker).reading(FirstWordReader())
        return engine.ask("What is found on Rottnest Island?")

    sure, unsure = asked(0.0), asked(1.01)  # no confidence reaches 1.01
    assert sure.answered and unsure.answered and sure.confidence == unsure.confidence
    assert any(p.answer for p in sure.passages) and not any(p.answer for p in unsure.passages)
    for marked, plain in zip(sure.passages, unsure.passages, strict=True):
        if marked.answer:  # the reader's sentence stays the highlight
            assert plain.highlights == marked.highlights
