"""The default embedding path: MiniLM through ONNX Runtime, int8, against the torch reference it was exported from."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import qa
from qa.chunking import chunk_sentences
from qa.index import embedding_text, embedding_text_and_spans
from qa.models import load_embedder


@pytest.fixture(scope="module")
def onnx() -> qa.models.Embedder:
    return load_embedder(qa.DEFAULT_MODEL, "onnx-int8")


@pytest.fixture(scope="module")
def fp32() -> qa.models.Embedder:
    return load_embedder(qa.DEFAULT_MODEL, "onnx-fp32")


@pytest.fixture(scope="module")
def torch_model() -> qa.models.Embedder:
    return load_embedder(qa.DEFAULT_MODEL, "torch")


@pytest.fixture(scope="module")
def texts(default_docs) -> dict[str, list[str]]:
    """The default corpus's chunks and sentences as the embedder reads them."""
    chunks, sentences = [], []
    for doc in default_docs.values():
        for chunk, inside in chunk_sentences(doc):
            chunks.append(embedding_text(doc, chunk))
            sentences += [" ".join(doc.text[s.start : s.end].split()) for s in inside]
    return {"chunks": chunks, "sentences": sentences}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_int8_chunk_vectors_keep_cosine_099_with_torch_on_the_default_corpus(onnx, torch_model, texts):
    chunks = cosines(onnx.encode(texts["chunks"]), torch_model.encode(texts["chunks"]))
    assert chunks.min() >= 0.99
    sentences = cosines(onnx.encode(texts["sentences"]), torch_model.encode(texts["sentences"]))
    assert sentences.mean() >= 0.99 and np.percentile(sentences, 1) >= 0.98  # the shortest sentences move most


def test_float32_vectors_are_torchs(fp32, torch_model, texts):
    for kind in ("chunks", "sentences"):
        assert cosines(fp32.encode(texts[kind]), torch_model.encode(texts[kind])).min() >= 0.99999


QUESTIONS = [
    "Which State Department spokesman ruled out joint operations?",
    "Where did Bashar al-Assad work as a surgeon?",
    "How many people were killed in the Tartus bombing?",
    "Who was Zahran Alloush?",
    "When did the bombings happen?",
    "How long should I boil an egg?",
]


def test_questions_are_embedded_alike_by_both_paths(onnx, fp32, torch_model):
    reference = torch_model.encode(QUESTIONS)
    assert cosines(onnx.encode(QUESTIONS), reference).min() >= 0.99
    assert cosines(fp32.encode(QUESTIONS), reference).min() >= 0.99999


def test_word_vectors_are_torchs_input_embeddings(onnx, torch_model):
    words = ["anger", "angry", "residents", "Alloush", "al-Assad", "unbelievably"]
    assert np.array_equal(onnx.word_vectors(words), torch_model.word_vectors(words))


def test_the_tokenizer_reads_what_sentence_transformers_reads(onnx, torch_model, texts):
    ours = onnx._tokenizer.encode_batch(texts["chunks"])
    theirs = torch_model._model.tokenizer(texts["chunks"], padding=True, truncation=True, max_length=256)
    assert [e.ids for e in ours] == theirs["input_ids"]


def test_an_int8_pooled_index_takes_its_sentence_vectors_from_the_chunk_pass(tiny_corpus, tmp_path):
    pooled = load_embedder(qa.DEFAULT_MODEL, "onnx-int8-pooled")
    engine = qa.build(tiny_corpus, tmp_path / "index", embedder=pooled)
    store = engine.store
    assert store.info.runtime == "onnx-int8-pooled"
    for i in store.chunk_ids():
        chunk = store.chunk(i)
        spans, vectors = store.sentences_of(i)
        doc = store.document(chunk.doc_id)
        text, where = embedding_text_and_spans(doc, chunk, [qa.chunking.Sentence(a, b, 0, 0) for a, b in spans])
        _, expected = pooled.encode_pooled([text], [where])
        # int8 scales each batch's activations by their range, so a vector depends a little on its batch-mates
        assert cosines(vectors.astype(np.float32), expected[0]).min() >= 0.97
        if len(spans) > 1:  # not what embedding each sentence alone gives
            alone = pooled.encode([doc.text[a:b] for a, b in spans])
            assert cosines(expected[0], alone).min() < 0.97


def test_pooled_vectors_come_from_the_texts_own_pass(onnx):
    texts = ["Quokkas live on Rottnest Island. Rangers count them every spring.", "One sentence only."]
    spans = [[(0, 32), (33, 65)], [(0, 18)]]
    vectors, parts = onnx.encode_pooled(texts, spans)
    assert np.allclose(vectors, onnx.encode(texts), atol=1e-5)
    assert np.allclose(parts[1][0], vectors[1])  # a span of the whole text is the text
    assert np.allclose(np.linalg.norm(parts[0], axis=1), 1.0, atol=1e-5)
    assert float(parts[0][0] @ parts[0][1]) < 0.95  # two sentences, two vectors


def test_a_span_past_what_the_model_reads_is_embedded_alone(onnx):
    text = " ".join(f"word{i}" for i in range(400)) + " The quokka smiles."
    tail = (len(text) - len("The quokka smiles."), len(text))
    _, parts = onnx.encode_pooled([text], [[tail]])
    assert np.allclose(parts[0][0], onnx.encode(["The quokka smiles."])[0], atol=1e-5)


def test_sentence_spans_in_the_embedding_text_hold_each_sentence(default_docs):
    text = "A  first\tsentence.\n\n  A second   one.  "
    doc = qa.Document("x.txt", text, "x", segments=[qa.Segment(0, len(text.rstrip()), "article")])
    ((chunk, inside),) = chunk_sentences(doc)
    collapsed, spans = embedding_text_and_spans(doc, chunk, inside)
    assert collapsed == "A first sentence. A second one."
    assert [collapsed[a:b] for a, b in spans] == ["A first sentence.", "A second one."]
    for doc in default_docs.values():
        for chunk, inside in chunk_sentences(doc):
            collapsed, spans = embedding_text_and_spans(doc, chunk, inside)
            assert collapsed == embedding_text(doc, chunk)
            assert [collapsed[a:b] for a, b in spans] == [" ".join(doc.text[s.start : s.end].split()) for s in inside]


def test_an_index_records_its_runtime_and_its_questions_use_it(tiny_corpus, tmp_path, torch_model):
    engine = qa.build(tiny_corpus, tmp_path / "index", embedder=torch_model)
    loaded = qa.load(tmp_path / "index", strict=True)
    assert loaded.store.info.runtime == "torch" and loaded.embedder.loaded is torch_model
    assert engine.ask("How many quokkas did rangers count?").passages[0].doc_id == "alpha.txt"


def test_the_committed_index_was_built_by_the_default_path(real_engine):
    info = real_engine.store.info
    assert (info.model, info.runtime) == (qa.DEFAULT_MODEL, qa.models.DEFAULT_RUNTIME)


def test_a_damaged_exported_model_is_exported_again_quietly(tmp_path, monkeypatch, onnx, caplog):
    from qa.onnx_embedder import OnnxEmbedder, exported_model

    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path))
    with caplog.at_level(logging.DEBUG):
        path = exported_model(onnx.name, onnx.version, int8=True)
    assert not [r for r in caplog.records if "onnxruntime" in r.pathname]  # the quantiser's advice stays out of logs
    path.write_bytes(path.read_bytes()[:1000])  # truncated
    again = OnnxEmbedder(onnx.name, onnx.version, int8=True)
    assert path.stat().st_size > 10_000_000
    assert np.allclose(again.encode(["a quokka"]), onnx.encode(["a quokka"]), atol=1e-6)


def test_the_shipped_sentence_map_brings_pooled_vectors_nearer_the_sentences_own(default_docs, fp32):
    pooled = load_embedder(qa.DEFAULT_MODEL, "onnx-int8-pooled")
    texts, spans, alone = [], [], []
    for doc in default_docs.values():
        for chunk, inside in chunk_sentences(doc):
            if len(inside) > 1:
                text, where = embedding_text_and_spans(doc, chunk, inside)
                texts.append(text), spans.append(where)
                alone.append(fp32.encode([text[a:b] for a, b in where]))
    _, raw = pooled.encode_pooled(texts, spans, mapped=False)
    _, mapped = pooled.encode_pooled(texts, spans)
    alone_all = np.concatenate(alone)
    before = cosines(np.concatenate(raw), alone_all).mean()
    after = cosines(np.concatenate(mapped), alone_all).mean()
    assert after > before + 0.03, (before, after)
