"""Cut labelled documents into sentence-aware chunks that keep their character offsets.

A chunk never crosses a segment (so never an article/comment or outlet
boundary) and holds at most ``max_words`` words: all-MiniLM-L6-v2 reads 256
word pieces and silently drops the rest, which is about 170 English words.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pysbd
from pysbd.utils import TextSpan

from qa.documents import Document, Section


@dataclass(frozen=True)
class ChunkingSettings:
    """Everything that decides where chunks fall; recorded in the index manifest."""

    target_words: int = 150  # pack sentences up to about this many words
    max_words: int = 170  # hard cap: the embedder's input limit
    min_words: int = 50  # a paragraph shorter than this joins its neighbour
    overlap: int = 1  # sentences repeated between neighbouring chunks

    def __post_init__(self):
        if not 0 < self.target_words <= self.max_words or self.min_words < 0 or self.overlap < 0:
            raise ValueError(f"inconsistent chunking settings: {self}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A span of a document, ``document.text[start:end]``, with its segment's labels."""

    doc_id: str
    start: int
    end: int
    section: Section
    source: str | None = None


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    paragraph: int  # sentences of one line share a paragraph number
    words: int


_local = threading.local()


class _Segmenter(pysbd.Segmenter):
    """pysbd, finding its sentences' places in the text in one forward scan.

    pysbd looks for each sentence again from the start of the text with a
    regex made for it: quadratic in the sentences of a line, and a compile
    per sentence that also evicts the regexes pysbd reuses from ``re``'s
    cache (a third of the time of chunking).  Its sentences come in order,
    so looking from where the last one ended finds the same places.
    """

    def sentences_with_char_spans(self, sentences: list[str]) -> list[TextSpan]:
        text, spans, end = self.original_text, [], 0
        for sentence in sentences:
            start = text.find(sentence, end)
            if start < 0:  # not verbatim after all: pysbd's own search
                return super().sentences_with_char_spans(sentences)
            end = start + len(sentence)
            while end < len(text) and text[end].isspace():  # pysbd's spans keep the white space after a sentence
                end += 1
            spans.append(TextSpan(text[start:end], start, end))
        return spans


def _segmenter() -> pysbd.Segmenter:
    """This thread's sentence splitter: pysbd keeps the text it splits on the object, so threads must not share one."""
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        segmenter = _local.segmenter = _Segmenter(language="en", clean=False, char_span=True)
    return segmenter


_WORD = re.compile(r"\S+")


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, start: int = 0, end: int | None = None, max_words: int = 170) -> list[Sentence]:
    """Sentences of ``text[start:end]`` as stripped spans; a line break always ends one.

    A "sentence" longer than ``max_words`` (a list without full stops, say) is
    cut at word boundaries so that no chunk can exceed the embedder's window.
    """
    end = len(text) if end is None else end
    sentences: list[Sentence] = []
    for paragraph, line in enumerate(re.finditer(r"[^\n]+", text[start:end])):
        line_start = start + line.start()
        for span in _segmenter().segment(line.group()):
            s, e = _strip(text, line_start + span.start, line_start + span.end)
            if s < e:
                sentences.extend(_cap(text, s, e, paragraph, max_words))
    return sentences


def _cap(text: str, start: int, end: int, paragraph: int, max_words: int) -> Iterator[Sentence]:
    words = list(_WORD.finditer(text, start, end))
    for i in range(0, len(words), max_words):
        piece = words[i : i + max_words]
        yield Sentence(piece[0].start(), piece[-1].end(), paragraph, len(piece))


def _windows(sentences: list[Sentence], settings: ChunkingSettings) -> Iterator[tuple[int, int]]:
    """Index ranges ``[i, j)`` of sentences that form the chunks."""
    i = 0
    while i < len(sentences):
        j, words = i, 0
        while j < len(sentences):
            s = sentences[j]
            if j > i and words + s.words > settings.target_words:
                break
            if j > i and s.paragraph != sentences[j - 1].paragraph and words >= settings.min_words:
                break
            words += s.words
            j += 1
        yield i, j
        if j >= len(sentences):
            return
        # Step back `overlap` sentences, but only inside one paragraph and never to i.
        back = 0
        while (
            back < settings.overlap and j - back - 1 > i and sentences[j - back - 1].paragraph == sentences[j].paragraph
        ):
            back += 1
        i = j - back


def chunk_sentences(
    document: Document, settings: ChunkingSettings = ChunkingSettings()
) -> list[tuple[Chunk, list[Sentence]]]:
    """The chunks of a document's indexed segments, in reading order, each with the sentences packed into it.

    The index embeds those sentences for sentence-level evidence, so the text
    is split once (pysbd is the slowest step of chunking).
    """
    out: list[tuple[Chunk, list[Sentence]]] = []
    for seg in document.segments:
        sentences = split_sentences(document.text, seg.start, seg.end, settings.max_words)
        for i, j in _windows(sentences, settings):
            chunk = Chunk(document.doc_id, sentences[i].start, sentences[j - 1].end, seg.section, seg.source)
            out.append((chunk, sentences[i:j]))
    return out


def chunk_document(document: Document, settings: ChunkingSettings = ChunkingSettings()) -> list[Chunk]:
    """The chunks of a document's indexed segments, in reading order."""
    return [chunk for chunk, _ in chunk_sentences(document, settings)]
