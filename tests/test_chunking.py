"""Chunks are verbatim, stripped, capped spans inside one segment that cover the segment's sentences."""

from __future__ import annotations

import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qa
from qa.chunking import chunk_document, split_sentences
from qa.documents import Document, segment_page
from tests.conftest import write_corpus

SMALL = dict(target_words=20, max_words=25, min_words=5, overlap=1)


def check_chunks(doc: Document, chunks: list[qa.Chunk], max_words: int) -> None:
    """The invariants every chunk of every document must hold."""
    for chunk in chunks:
        text = doc.text[chunk.start : chunk.end]
        assert chunk.doc_id == doc.doc_id
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        assert text == text.strip() and text
        assert len(text.split()) <= max_words, f"{len(text.split())} words: {text[:80]!r}"
        holders = [s for s in doc.segments if s.start <= chunk.start and chunk.end <= s.end]
        assert len(holders) == 1, f"chunk {chunk} is not inside exactly one segment"
        assert (chunk.section, chunk.source) == (holders[0].section, holders[0].source)


def check_coverage(doc: Document, chunks: list[qa.Chunk], max_words: int) -> None:
    """Every sentence, and so every word, of every segment lies inside a chunk."""
    for seg in doc.segments:
        inside = [c for c in chunks if seg.start <= c.start and c.end <= seg.end]
        for sentence in split_sentences(doc.text, seg.start, seg.end, max_words):
            assert any(c.start <= sentence.start and sentence.end <= c.end for c in inside), (
                f"sentence {doc.text[sentence.start : sentence.end]!r} is in no chunk"
            )
        covered = set()
        for c in inside:
            covered.update(range(c.start, c.end))
        missing = [i for i in range(seg.start, seg.end) if i not in covered and not doc.text[i].isspace()]
        assert not missing, f"characters {doc.text[missing[0] : missing[0] + 40]!r}… are in no chunk"


@pytest.mark.parametrize("chunking", [{}, SMALL, dict(SMALL, overlap=0)], ids=["default", "small", "no-overlap"])
def test_default_corpus_chunks(default_docs, chunking):
    chunking_settings = qa.ChunkingSettings(**chunking)
    for doc in default_docs.values():
        chunks = chunk_document(doc, chunking_settings)
        assert chunks
        check_chunks(doc, chunks, chunking_settings.max_words)
        check_coverage(doc, chunks, chunking_settings.max_words)
        assert [c.start for c in chunks] == sorted(c.start for c in chunks)  # reading order


@pytest.mark.parametrize(
    "values",
    [dict(target_words=200, max_words=170), dict(target_words=0), dict(min_words=-1), dict(overlap=-1)],
)
def test_inconsistent_chunking_settings_are_refused(values):
    with pytest.raises(ValueError):
        qa.ChunkingSettings(**values)


def test_without_overlap_chunks_are_disjoint(default_docs):
    for doc in default_docs.values():
        chunks = chunk_document(doc, qa.ChunkingSettings(**dict(SMALL, overlap=0)))
        for a, b in zip(chunks, chunks[1:], strict=False):
            assert a.end <= b.start


def test_overlap_repeats_one_sentence_between_neighbours_of_a_paragraph():
    text = " ".join(f"Sentence number {i} is here." for i in range(12))
    doc = Document("d", text, "d", segments=[qa.Segment(0, len(text), "article")])
    chunks = chunk_document(doc, qa.ChunkingSettings(**SMALL))
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:], strict=False):
        shared = text[b.start : a.end]
        assert shared.startswith("Sentence number") and shared.count(".") == 1  # exactly one sentence repeated


def test_a_line_break_always_ends_a_sentence():
    text = "first line without a stop\nsecond line. Third sentence."
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "first line without a stop",
        "second line.",
        "Third sentence.",
    ]


def test_a_long_line_without_punctuation_is_cut_at_max_words():
    text = " ".join(f"w{i}" for i in range(1000))
    sentences = split_sentences(text, max_words=170)
    assert [s.words for s in sentences] == [170] * 5 + [150]
    doc = Document("d", text, "d", segments=[qa.Segment(0, len(text), "article")])
    chunks = chunk_document(doc)
    check_chunks(doc, chunks, 170)
    check_coverage(doc, chunks, 170)


def test_split_sentences_respects_the_range():
    text = "Outside one. Inside two. Inside three. Outside four."
    start, end = text.index("Inside two"), text.index(" Outside four")
    spans = [text[s.start : s.end] for s in split_sentences(text, start, end)]
    assert spans == ["Inside two.", "Inside three."]


@pytest.mark.parametrize(
    "line",
    [
        "Mr. Smith went to Washington. He arrived at 5 p.m. on Jan. 3. It rained.",
        "Yes. Yes. Yes.  No!   Maybe?",
        "The U.S. economy grew 2.5% in Q3 (up from 1.9%). Analysts, e.g. J. Doe, were surprised.",
        "One sentence without a full stop",
    ],
)
def test_sentence_places_are_pysbds_own(line):
    """The one-scan search for sentence places (`_Segmenter`) finds what pysbd's own search finds."""
    import pysbd

    from qa.chunking import _Segmenter

    def spans(segmenter):
        return [(s.start, s.end) for s in segmenter.segment(line)]

    assert spans(_Segmenter(language="en", clean=False, char_span=True)) == spans(
        pysbd.Segmenter(language="en", clean=False, char_span=True)
    )


def _thread_text(n: int) -> str:
    """A text of its own for thread ``n``: sentences of different lengths, so swapped spans show."""
    return "\n".join(
        f"Thread {n} line {i} says{' so' * n} much. Mr. Smith walked {n * i} km. It rained." for i in range(4)
    )


def test_threads_splitting_sentences_at_once_get_their_own_spans():
    texts = [_thread_text(n) for n in range(8)]
    expected = [split_sentences(t) for t in texts]
    start = threading.Barrier(len(texts))

    def mismatches(n: int) -> int:
        start.wait()
        return sum(split_sentences(texts[n]) != expected[n] for _ in range(25))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that a shared splitter would be caught out
    try:
        with ThreadPoolExecutor(len(texts)) as pool:
            wrong = list(pool.map(mismatches, range(len(texts))))  # re-raises a thread's exception here
    finally:
        sys.setswitchinterval(interval)
    assert wrong == [0] * len(texts), f"wrong spans per thread: {wrong}"


# --- property tests -------------------------------------------------------------

WORDS = [
    "Syria",
    "the",
    "bombing",
    "killed",
    "53",
    "Mr.",
    "U.S.",
    "e.g.",
    "$500",
    "million",
    "3.5",
    "–",
    "—",
    "•",
    "“quoted.”",
    "‘single’",
    "(Reuters)",
    "…",
    "...",
    "?",
    "!",
    "é",
    "naïve",
    "Ελλάδα",
    "東京",
    "😀",
    "🇸🇾",
    "x" * 40,
]
SPACES = [" ", " ", " ", "  ", "\t", "\xa0", " \xa0 ", "\u2003", "\r"]
PREFIXES = ["", "", "", "Source: ", "1. ", "2. ", "• ", "– ", "By ", "  ", "\t"]
SPECIAL_LINES = [
    "",
    "   ",
    "\t",
    "Related video:",
    "5 Responses",
    "Comments are closed.",
    "Share this:",
    "Category: News",
    "By Jane Doe | (Daily Planet)",
    "WASHINGTON (Reuters) – Officials said.",
    "LONDON – May 4 – By A Writer – outlet – Text follows.",
    "(Reporting by Someone; Editing by Other)",
    "Source: Some headline – Some Outlet",
    "Source: Title | Section | Big Paper",
]

word = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=12))


@st.composite
def lines(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(SPECIAL_LINES))
    if kind == 1:  # a very long line without punctuation
        return " ".join(
            draw(st.lists(st.sampled_from(["alpha", "beta", "gamma", "δέλτα", "😀"]), min_size=150, max_size=400))
        )
    words = draw(st.lists(word, min_size=1, max_size=60))
    out = draw(st.sampled_from(PREFIXES))
    for w in words:
        out += w + draw(st.sampled_from(SPACES))
    if draw(st.booleans()):
        out += draw(st.sampled_from([".", "?", "!", ":", ""]))
    return out


@st.composite
def documents(draw) -> str:
    body = draw(st.lists(lines(), min_size=1, max_size=25))
    text = ""
    for line in body:
        text += line + draw(st.sampled_from(["\n", "\n\n", "\r\n", "\n \t\n", "\n\xa0\n"]))
    return draw(st.sampled_from(["", " ", "\n", "\ufeff"])) + text


@settings(max_examples=60, deadline=None)
@given(documents(), st.sampled_from([{}, SMALL]))
def test_property_random_pages_chunk_into_verbatim_capped_spans(text: str, chunking: dict):
    chunking_settings = qa.ChunkingSettings(**chunking)
    title, outlet, author, segments = segment_page(text)
    previous_end = 0
    for seg in segments:
        assert previous_end <= seg.start < seg.end <= len(text)
        span = text[seg.start : seg.end]
        # Only the start is checked for white space: a dateline byline may keep a "–\xa0" separator
        # at its end (see test_dateline_byline_ends_before_the_separator).
        assert span.strip() and not span[0].isspace()
        previous_end = seg.end
    doc = Document("random.txt", text, title or "random", outlet, author, segments)
    chunks = chunk_document(doc, chunking_settings)
    check_chunks(doc, chunks, chunking_settings.max_words)
    check_coverage(doc, chunks, chunking_settings.max_words)


QUESTION = st.one_of(
    st.text(min_size=1, max_size=40),
    st.lists(st.sampled_from(WORDS + ["who", "what", "quokka", "Reuters"]), min_size=1, max_size=8).map(" ".join),
).filter(lambda q: q.strip())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=3), st.lists(QUESTION, min_size=1, max_size=3), st.integers(1, 8))
def test_property_engine_passages_are_verbatim(pages: list[str], questions: list[str], k: int):
    # Always one plainly indexable page, so the corpus is never empty of text.
    pages = ["Plain page\n\nThe quokka lives on Rottnest Island. Reuters reported it.\n", *pages]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp) / "corpus", {f"doc{i}.txt": p for i, p in enumerate(pages)})
        qa.build(corpus, Path(tmp) / "index", embedder=qa.HashEmbedder(16))
        engine = qa.load(Path(tmp) / "index", strict=True, embedder=qa.HashEmbedder(16))
        for question in questions:
            answer = engine.ask(question, k=k)
            assert len(answer.passages) <= k
            scores = [p.score for p in answer.passages]
            assert scores == sorted(scores, reverse=True)
            for p in answer.passages:
                doc = engine.document(p.doc_id)
                assert doc.text[p.start : p.end] == p.text
                assert all(p.start <= s < e <= p.end for s, e in p.highlights)
