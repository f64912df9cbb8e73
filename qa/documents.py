"""Read corpus files into `Document`s and label what each span of a page is.

A news page mixes the article with bylines, reader comments, share widgets and,
in roundups, several outlets' pieces each closed by a ``Source: …`` line.  The
text is never rewritten: segmentation only decides which character spans are
indexed and how they are labelled, so a citation can say honestly whether a
passage is the article, a reader's comment or page furniture, and which outlet
it came from.

HTML, PDF and Word files are read by `qa.formats`; their extracted text is
the document's text, segmented the same way.  A PDF's segments are cut at
page starts, so that no chunk spans two pages and a passage can name its page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Literal, NamedTuple

from qa.formats import READERS, Extracted, FormatError
from qa.progress import Callback, Progress, silent

log = logging.getLogger("qa")

Section = Literal["article", "comment", "boilerplate"]

TEXT_SUFFIXES = (".txt", ".md")  # plain text: the document's text is the file's
DOCUMENT_SUFFIXES = TEXT_SUFFIXES + tuple(READERS)  # and the formats whose text is extracted
MAX_FILE_BYTES = 50 * 1024 * 1024  # a larger file is skipped rather than read into memory
METADATA_FILE = "metadata.json"
BOM = "\ufeff"


class CorpusError(ValueError):
    """A corpus file or folder cannot be read; the message names the file."""


class UnusableFile(CorpusError):
    """One corpus file cannot be used; ``reason`` says why without the path, for a list of skipped files."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Segment:
    """A labelled span of a document: ``document.text[start:end]``."""

    start: int
    end: int
    section: Section
    source: str | None = None  # the outlet this span belongs to
    headline: str | None = None  # the piece's own title, in roundups


@dataclass
class Document:
    """One corpus file: its text (what offsets point into) and its labelled spans."""

    doc_id: str  # path relative to the corpus folder
    text: str
    title: str
    source: str | None = None  # the page's outlet, when it names one
    author: str | None = None
    segments: list[Segment] = field(default_factory=list)
    page_starts: list[int] = field(default_factory=list)  # offset of each page's text; empty without pages

    def page_at(self, offset: int) -> int | None:
        """The page (1 for the first) that holds character ``offset``, or None for a document without pages."""
        return bisect_right(self.page_starts, offset) if self.page_starts else None

    def segment_at(self, offset: int) -> Segment | None:
        """The segment that holds character ``offset``, if it is indexed."""
        for seg in self.segments:
            if seg.start <= offset < seg.end:
                return seg
        return None

    def headline_only(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` holds nothing but the page's title or roundup ``Source:`` lines.

        Such a span names a piece rather than saying anything of its own: it
        matches a question's words well and answers it rarely.
        """
        title = clean_title(self.title)
        lines = [line.strip() for line in self.text[start:end].splitlines() if line.strip()]
        return bool(lines) and all(clean_title(line) == title or _SOURCE_LINE.match(line) for line in lines)


# --- page furniture -------------------------------------------------------

# Widgets that carry no fact: never indexed.
_WIDGET = re.compile(
    r"""^(?:
        Category:.*|in\s*,|%d\ bloggers\ like\ this:|Share\ this:?|Like\ this:?|
        \d+\ Points|Upvote\ Downvote|Notify\ of|Inline\ Feedbacks|
        The\ statements,\ views\ and\ opinions\ expressed\ in\ this\ column.*|
        Related\ video:
    )$""",
    re.X | re.I,
)
# A comment area opens with a count of responses.
_COMMENTS_START = re.compile(r"^\d+\s+(?:Responses?|Comments?|Replies|Reactions?)$", re.I)
# After these, nothing but comments belongs to the page's content.
_CONTENT_END = re.compile(
    r"^(?:Comments are closed\.|What do you think\?|View all comments|%d bloggers like this:)$", re.I
)
_COMMENT_ITEM = re.compile(r"^\s*(?:\d+\.|[–—•])\s+")  # "1. …", or a reply "• …"
_SOURCE_LINE = re.compile(r"^Source:\s*(?P<rest>.+)$")
_BYLINE = re.compile(r"^By\s+(?P<author>[^|–—(]+?)\s*(?:\|\s*\((?P<outlet>[^)]+)\))?(?:\s*[|–—].*)?$")
_CREDIT = re.compile(r"^\((?:Reporting|Writing|Editing|Additional reporting)\b.*\)$", re.I)
# "WEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview – The Assad…"
_DATELINE_BYLINE = re.compile(r"^(?P<fields>(?:[^–—\n]{1,40}\s[–—]\s){2,6})(?=\S)")
# "WASHINGTON (Reuters) – …": the agency that filed the piece.
_AGENCY_DATELINE = re.compile(r"^[A-Z][A-Z .,'-]+\((?P<agency>[A-Z][\w .&-]{1,30})\)\s[–—-]\s")


# A Markdown ATX heading: "# Title", "## Title ##"; the closing run only counts after an opening one.
_ATX_HEADING = re.compile(r"^#{1,6}(?:[ \t]+(?P<text>.*?))??(?:[ \t]+#+)?[ \t]*$")
_LINE = re.compile(r"[^\n]+")
_LEAD = re.compile(rf"[\s{BOM}]*")  # white space, and the byte-order mark that is as invisible


def unsupported_format(path: Path) -> str | None:
    """Why ``path`` is of no format the corpus reads (its extension, and those it does read), or None."""
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return None
    return f"unsupported format {path.suffix or '(no extension)'!r}; supported: {', '.join(DOCUMENT_SUFFIXES)}"


def file_sha256(path: Path) -> str:
    """The file's hash; for an unreadable file, a marker that changes once it can be read (so an index goes stale)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def clean_title(line: str) -> str:
    """A title line as a title: without a byte-order mark or Markdown heading marks (the text keeps them)."""
    title = line.strip().lstrip(BOM).strip()
    heading = _ATX_HEADING.match(title)
    return (heading.group("text") or "").strip() if heading else title


def _lines(text: str, pos: int = 0) -> list[tuple[int, int]]:
    """Spans of the non-blank lines of ``text[pos:]``, without surrounding white space or a leading byte-order mark."""
    spans = []
    for m in _LINE.finditer(text, pos):
        start = _LEAD.match(text, m.start(), m.end()).end()
        end = m.start() + len(m.group().rstrip())
        if start < end:
            spans.append((start, end))
    return spans


def _outlet_from_source_line(rest: str) -> str | None:
    """The outlet named at the end of a ``Source:`` line, if it names one."""
    parts = [p.strip() for p in rest.split(" | ")]
    if len(parts) > 1 and parts[-1]:
        return parts[-1]
    parts = [p.strip() for p in re.split(r"\s[–—-]\s", rest)]
    last = parts[-1] if len(parts) > 1 else ""
    if last and len(last.split()) <= 4 and last[0].isupper() and not last.endswith("."):
        return last
    return None


def _headline_from_source_line(rest: str, outlet: str | None) -> str:
    if outlet and rest.endswith(outlet):
        rest = rest[: -len(outlet)]
        rest = rest.split(" | ")[0]
        rest = re.sub(r"\s[–—-]\s*$", "", rest)
    return rest.strip()


_TITLE = -2  # the `item` of the title line


@dataclass
class _Span:
    start: int
    end: int
    section: Section
    piece: int  # which roundup piece (counts Source lines seen before it)
    item: int  # which comment, or -1
    run: int = 0  # spans of one run have no skipped line between them


def segment_page(text: str, meta: dict | None = None) -> tuple[str | None, str | None, str | None, list[Segment]]:
    """Label the spans of a page: returns ``(title, outlet, author, segments)``.

    ``meta`` may state what the text leaves ambiguous: ``title``, ``outlet``,
    ``author`` and ``sources`` (a ``Source:`` line's text -> its outlet).
    """
    meta = meta or {}
    spans: list[_Span] = []
    title: str | None = None
    outlet: str | None = None
    author: str | None = None
    state = "body"  # body -> comments -> tail
    piece = 0
    item = -1
    caption_next = False
    first_line = True
    source_lines: list[tuple[int, int, str]] = []  # (start, end, rest)

    run = 0

    def add(start: int, end: int, section: Section, item: int = -1) -> None:
        spans.append(_Span(start, end, section, piece, item, run))

    for start, end in _lines(text):
        line = text[start:end]
        skipped = True
        if _COMMENTS_START.match(line):
            state, caption_next = "comments", False
        elif _CONTENT_END.match(line):
            state = "tail"
        elif _WIDGET.match(line):
            caption_next = line.lower().startswith("related video")
        elif state != "tail":
            skipped = False
        if skipped:
            run += 1  # a segment never spans a line that is not indexed
            continue
        if state == "comments":
            marker = _COMMENT_ITEM.match(line)
            if marker or item < 0:
                item += 1
            if marker:
                start += marker.end()
            add(start, end, "comment", item)
            continue
        if caption_next:
            caption_next = False
            add(start, end, "boilerplate", -1)
            continue
        if first_line:
            first_line = False
            if len(line.split()) <= 25 and not line.endswith((".", ":")):
                title = clean_title(line) or None
                add(start, end, "article", _TITLE)  # a segment of its own
                continue
        if m := _SOURCE_LINE.match(line):
            source_lines.append((start, end, m.group("rest")))
            add(start, end, "boilerplate", -1)
            piece += 1
            continue
        if (m := _BYLINE.match(line)) and len(line.split()) <= 15:
            author = author or m.group("author").strip()
            outlet = outlet or (m.group("outlet") or "").strip() or None
            add(start, end, "boilerplate", -1)
            continue
        if _CREDIT.match(line):
            add(start, end, "boilerplate", -1)
            continue
        if m := _DATELINE_BYLINE.match(line):
            fields = [f.strip() for f in re.split(r"\s[–—]\s", m.group("fields")) if f.strip()]
            by = [f for f in fields if f.startswith("By ")]
            if by:
                author = author or by[0][3:].strip()
                after = fields[fields.index(by[0]) + 1 :]
                outlet = outlet or (after[0] if after else None)
                cut = start + m.end()
                byline_end = start + len(re.sub(r"[\s–—]+$", "", m.group("fields")))
                add(start, byline_end, "boilerplate", -1)
                add(cut, end, "article", -1)
                continue
        add(start, end, "article", -1)

    outlet = meta.get("outlet", outlet)
    author = meta.get("author", author)
    title = meta.get("title", title)
    pieces = _roundup_pieces(text, spans, source_lines, meta.get("sources", {}))
    segments = _merge(spans, pieces, outlet)
    title = title or next((headline for _, headline in pieces.values() if headline), None)  # a roundup's first piece
    return title, outlet, author, segments


def _roundup_pieces(
    text: str, spans: list[_Span], source_lines: list[tuple[int, int, str]], known: dict
) -> dict[int, tuple[str | None, str]]:
    """Outlet and headline of each roundup piece, keyed by piece number."""
    pieces: dict[int, tuple[str | None, str]] = {}
    for number, (_, _, rest) in enumerate(source_lines):
        outlet = known.get(rest)
        if outlet is None:
            first = next((s for s in spans if s.piece == number and s.section == "article"), None)
            agency = _AGENCY_DATELINE.match(text[first.start : first.end]) if first else None
            outlet = agency.group("agency") if agency else _outlet_from_source_line(rest)
        pieces[number] = (outlet, _headline_from_source_line(rest, _outlet_from_source_line(rest)))
    return pieces


def _merge(spans: list[_Span], pieces: dict[int, tuple[str | None, str]], outlet: str | None) -> list[Segment]:
    """Join neighbouring spans with the same label into segments."""
    segments: list[Segment] = []
    previous: _Span | None = None
    for span in spans:
        if span.end <= span.start:
            continue
        # The page's own title belongs to the page, not to the roundup's first piece.
        src, headline = (outlet, None) if span.item == _TITLE else pieces.get(span.piece, (outlet, None))
        same = (
            previous is not None
            and segments
            and previous.section == span.section
            and previous.piece == span.piece
            and previous.item == span.item
            and previous.run == span.run
        )
        if same:
            last = segments[-1]
            segments[-1] = Segment(last.start, span.end, last.section, last.source, last.headline)
        else:
            segments.append(Segment(span.start, span.end, span.section, src or outlet, headline))
        previous = span
    return segments


def read_metadata(corpus_dir: Path) -> dict:
    """The optional ``metadata.json`` of a corpus: what pages state that text alone can't."""
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not a readable JSON metadata file ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected an object keyed by document id")
    return data


def corpus_files(corpus_dir: Path, exclude: Collection[str] = ()) -> list[Path]:
    """The document files of a corpus folder, sorted, but those whose doc id is in ``exclude``; others are ignored."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir}: no such corpus folder")
    return sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES and doc_id_of(p, corpus_dir) not in exclude
    )


def doc_id_of(path: Path, corpus_dir: Path) -> str:
    """A document's id: its path relative to the corpus folder, in posix form."""
    return path.relative_to(corpus_dir).as_posix()


def _decode(path: Path, data: bytes) -> str:
    """The text of a file's bytes, or `UnusableFile` when they are not text worth indexing."""
    if b"\0" in data:
        raise UnusableFile(path, "binary: contains NUL bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableFile(path, f"not UTF-8: byte {exc.start}") from exc
    if _LEAD.fullmatch(text):
        raise UnusableFile(path, "empty")
    return text


def _unreadable(path: Path, exc: OSError) -> UnusableFile:
    return UnusableFile(path, f"cannot be read: {exc.strerror or exc}")


def read_text(path: Path) -> str:
    """A text file's content, or `UnusableFile` that names the file and why it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    return _decode(path, data)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _check_size(path: Path) -> None:
    """`UnusableFile` for an empty file or one over `MAX_FILE_BYTES`, before any of it is read."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if size == 0:
        raise UnusableFile(path, "empty")
    if size > MAX_FILE_BYTES:
        raise UnusableFile(path, f"too large: {_size(size)}, over the limit of {_size(MAX_FILE_BYTES)}")


def extract(path: Path) -> Extracted:
    """The text of a corpus file of any supported format, or `UnusableFile` saying why there is none."""
    _check_size(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return Extracted(read_text(path))
    try:
        return READERS[suffix](path)
    except FormatError as exc:
        raise UnusableFile(path, exc.reason) from exc
    except OSError as exc:
        raise _unreadable(path, exc) from exc


def _comment_segments(text: str, start: int, source: str | None) -> list[Segment]:
    """A comment area set apart by the extractor: one segment per line, since which lines are one comment is lost."""
    return [Segment(s, e, "comment", source) for s, e in _lines(text, start) if not _WIDGET.match(text[s:e])]


def split_at(text: str, segments: list[Segment], cuts: list[int]) -> list[Segment]:
    """The segments cut at each offset of ``cuts`` (sorted: page starts), each piece stripped of white space."""
    pieces = []
    for seg in segments:
        inside = cuts[bisect_right(cuts, seg.start) : bisect_left(cuts, seg.end)]
        if not inside:
            pieces.append(seg)
            continue
        for start, end in pairwise([seg.start, *inside, seg.end]):
            start = _LEAD.match(text, start, end).end()
            end = start + len(text[start:end].rstrip())
            if start < end:
                pieces.append(replace(seg, start=start, end=end))
    return pieces


def segment_extracted(
    extracted: Extracted, meta: dict | None = None
) -> tuple[str | None, str | None, str | None, list[Segment]]:
    """`segment_page` for text of any format: the file's own title unless metadata gives one, comments, pages."""
    text, body_end = extracted.text, extracted.comments_start
    if extracted.title:
        meta = {"title": extracted.title, **(meta or {})}
    title, outlet, author, segments = segment_page(text if body_end is None else text[:body_end], meta)
    if body_end is not None:
        segments += _comment_segments(text, body_end, outlet)
    breaks = [start for start in extracted.page_starts if text[start - 1 : start] == "\n"]  # not a sentence run on
    return title, outlet, author, split_at(text, segments, breaks)


def load_document(path: Path, corpus_dir: Path, meta: dict | None = None) -> Document:
    """Read and segment one file of the corpus; `UnusableFile` (a `CorpusError`) says why it cannot be used."""
    doc_id = doc_id_of(path, corpus_dir)
    extracted = extract(path)
    title, outlet, author, segments = segment_extracted(extracted, meta)
    if not segments:
        raise UnusableFile(path, "no indexable text")
    text, pages = extracted.text, list(extracted.page_starts)
    return Document(doc_id, text, title or Path(doc_id).stem, outlet, author, segments, pages)


class Corpus(NamedTuple):
    """The usable documents of a corpus folder, and why each other document file was left out."""

    documents: list[Document]
    skipped: dict[str, str]  # doc id -> reason


def _warn_unsupported(corpus_dir: Path, files: list[Path]) -> None:
    """Name the files of other formats, so that nothing is left out silently."""
    documents = set(files)
    others = sorted(
        doc_id_of(p, corpus_dir)
        for p in corpus_dir.rglob("*")
        if p.is_file() and p not in documents and p.name != METADATA_FILE and not p.name.startswith(".")
    )
    if others:
        log.warning("%s: skipped %d file(s) of unsupported format: %s", corpus_dir, len(others), ", ".join(others[:10]))


def _describe(skipped: dict[str, str]) -> str:
    """``"skipped 2 file(s): a.txt (empty), b.txt (binary: …)"``."""
    return f"skipped {len(skipped)} file(s): " + ", ".join(f"{doc_id} ({why})" for doc_id, why in skipped.items())


def read_corpus(
    corpus_dir: str | Path,
    *,
    strict: bool = False,
    exclude: Collection[str] = (),
    progress: Callback = silent,
    known: Mapping[str, Document | str] | None = None,
) -> Corpus:
    """Every usable document of a corpus folder, segmented, in file-name order, and the files skipped.

    One bad file does not stop the rest from being read: it is skipped with
    a reason, and one warning names every skipped file.  ``strict=True``
    raises `CorpusError` at the first bad file instead.  ``exclude``: doc ids
    read as if their files were gone (a removal before it deletes the file).
    ``known``: doc id -> its document, or why it is skipped, for files not to
    read again (an incremental build's unchanged files).
    """
    corpus_dir = Path(corpus_dir)
    metadata = read_metadata(corpus_dir)
    every = corpus_files(corpus_dir)
    _warn_unsupported(corpus_dir, every)
    files = [p for p in every if doc_id_of(p, corpus_dir) not in exclude]
    if not files:
        raise CorpusError(f"{corpus_dir}: no {'/'.join(DOCUMENT_SUFFIXES)} documents")
    corpus = read_files(corpus_dir, files, metadata, strict, progress, known or {})
    if not corpus.documents:
        raise CorpusError(f"{corpus_dir}: no usable documents; {_describe(corpus.skipped)}")
    if corpus.skipped:
        log.warning("%s: %s", corpus_dir, _describe(corpus.skipped))
    return corpus


def read_files(
    corpus_dir: Path,
    files: list[Path],
    metadata: dict,
    strict: bool,
    progress: Callback = silent,
    known: Mapping[str, Document | str] | None = None,
) -> Corpus:
    """Load each file (but the ``known`` ones), setting aside (or, when ``strict``, raising at) the unusable ones."""
    corpus, known = Corpus([], {}), known or {}
    progress(Progress("reading", 0, len(files)))
    for done, path in enumerate(files, 1):
        doc_id = doc_id_of(path, corpus_dir)
        try:
            document = known.get(doc_id) or load_document(path, corpus_dir, metadata.get(doc_id))
            if isinstance(document, str):
                raise UnusableFile(path, document)
            corpus.documents.append(document)
        except UnusableFile as exc:
            if strict:
                raise
            corpus.skipped[doc_id] = exc.reason
        progress(Progress("reading", done, len(files)))
    return corpus


def load_corpus(corpus_dir: str | Path) -> list[Document]:
    """Every usable document of a corpus folder (see `read_corpus`), in file-name order."""
    return read_corpus(corpus_dir).documents
