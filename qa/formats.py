"""Extract the text of HTML, PDF and Word (.docx) files, so that they can be indexed like plain text.

Each reader returns an `Extracted`: the text that becomes ``Document.text``
(offsets point into it), the title the file states, and, for a PDF, where each
page starts.  A file that cannot be used raises `FormatError`, whose reason
`qa.documents` reports as the reason the file was skipped.

The parsers are imported on first use: together they add a noticeable share
to ``import qa``, and most corpora hold plain text only.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.table import Table
    from lxml.html import HtmlElement
    from trafilatura.settings import Document as TrafilaturaDocument

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a .docx declaring more than this unzipped is refused (a zip bomb)
PAGE_SEPARATOR = "\n\n"  # between two PDF pages whose first ends a sentence: a paragraph break (else a space)
_SENTENCE_END = re.compile(r"[.!?:;)\]\"”’]\s*$")
SCANNED = "no extractable text (it may be a scanned image)"


class FormatError(ValueError):
    """A file of a supported format cannot be used; ``reason`` says why, without the path."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    """What a reader found in a file: the text to index and what the file says about it."""

    text: str
    title: str | None = None  # the file's own title, when it states one
    page_starts: tuple[int, ...] = ()  # offset of each page's text, for formats with pages
    comments_start: int | None = None  # where a comment area the extractor set apart begins


# --- HTML -------------------------------------------------------------------------


def read_html(path: Path) -> Extracted:
    """The main text of a web page (trafilatura), its paragraphs one per line, then its reader comments.

    Navigation, headers, footers, cookie notices, scripts and styles are page
    furniture, not the document.  The title is the page's ``<title>``, else its
    first ``<h1>``, else the file name.
    """
    tree, result = _parse_html(path.read_bytes())
    title = _element_text(tree, "title") or _element_text(tree, "h1") or path.stem
    body = result.text.strip() if result is not None and result.text else ""
    if _only_links(tree, body):  # a menu is no document: the page is skipped as empty
        body = ""
    comments = result.comments.strip() if body and result.comments else ""
    if not comments:
        return Extracted(body, title)
    return Extracted(f"{body}\n\n{comments}", title, comments_start=len(body) + 2)


def _parse_html(data: bytes) -> tuple[HtmlElement, TrafilaturaDocument | None]:
    """The page's tree and what trafilatura extracts from it (None: nothing); `FormatError` if it is no page."""
    import trafilatura
    from trafilatura.utils import load_html

    try:
        tree = load_html(data)
        result = trafilatura.bare_extraction(tree, include_comments=True) if tree is not None else None
    except Exception as exc:  # lxml and trafilatura fail in many ways on odd pages; one must not stop the corpus
        raise FormatError(f"HTML that cannot be parsed ({type(exc).__name__}: {exc})") from exc
    if tree is None:
        raise FormatError("not an HTML page")
    return tree, result


def _only_links(tree: HtmlElement, text: str) -> bool:
    """Whether every line of ``text`` is the text of one of the page's links (what is left of a navigation-only
    page when the extractor falls back on whatever text it finds)."""
    links = {" ".join(a.text_content().split()) for a in tree.iter("a")}
    return all(" ".join(line.split()) in links for line in text.splitlines() if line.strip())


def _element_text(tree: HtmlElement, tag: str) -> str | None:
    """The white-space-collapsed text of the first ``tag`` element, if there is one with text."""
    element = tree.find(f".//{tag}")
    text = " ".join(element.text_content().split()) if element is not None else ""
    return text or None


# --- PDF --------------------------------------------------------------------------


def read_pdf(path: Path) -> Extracted:
    """The text of each page (pypdf), pages apart by a blank line (by a space where a sentence runs on: a page that
    ends without a sentence's end before one that starts in lower case), and where each page starts.

    A PDF encrypted with an empty user password (one that only restricts
    printing or editing) opens like any other; one that needs a password is
    refused, as is one pypdf cannot parse.
    """
    pages, title = _pdf_pages(path.read_bytes())
    if not pages:
        raise FormatError("a PDF without pages")
    if not any(page.strip() for page in pages):
        raise FormatError(SCANNED)
    pieces, starts, offset, ended = [], [], 0, True  # ended: the text so far ends a sentence (or is blank)
    for page in pages:
        if starts:  # a sentence that runs on to the next page goes on in the same line, so a passage can finish it
            pieces.append(" " if not ended and page.lstrip()[:1].islower() else PAGE_SEPARATOR)
            offset += len(pieces[-1])
        starts.append(offset)
        pieces.append(page)
        offset += len(page)
        ended = _SENTENCE_END.search(page) is not None if page.strip() else ended
    return Extracted("".join(pieces), title, tuple(starts))


def _pdf_pages(data: bytes) -> tuple[list[str], str | None]:
    """Each page's text and the document's title; `FormatError` when the PDF is encrypted or broken."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [_valid_unicode(page.extract_text()) for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except FileNotDecryptedError as exc:
        raise FormatError("encrypted PDF: it needs a password") from exc
    except DependencyError as exc:
        raise FormatError(f"encrypted PDF that cannot be decrypted here ({exc})") from exc
    except Exception as exc:  # pypdf raises many kinds of error on damaged files; one must not stop the corpus
        raise FormatError(f"broken PDF ({type(exc).__name__}: {exc})") from exc
    return pages, _clean(title)


def _valid_unicode(text: str) -> str:
    """``text`` with each lone surrogate (pypdf decodes broken font maps with "surrogatepass") as U+FFFD.

    A lone surrogate cannot be written as UTF-8, so it would stop the index from being saved.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _clean(title: object) -> str | None:
    """A stated title with its white space collapsed, or None when it states nothing."""
    text = " ".join(title.split()) if isinstance(title, str) else ""
    return text or None


# --- Word -------------------------------------------------------------------------


def read_docx(path: Path) -> Extracted:
    """The paragraphs of a Word document in order, one per line (a table: one line per row).

    The title is the document's stated title (core properties); without one,
    `qa.documents` takes the first line when it is short, as for plain text.
    """
    document = _open_docx(path.read_bytes())
    lines = [line for line in _docx_lines(document) if line.strip()]
    return Extracted("\n".join(lines), _clean(document.core_properties.title))


def _open_docx(data: bytes) -> WordDocument:
    """The parsed document; `FormatError` when it is not a .docx package or declares an absurd unzipped size."""
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            unzipped = sum(info.file_size for info in package.infolist())
    except zipfile.BadZipFile as exc:
        raise FormatError("not a Word .docx document (not a zip package)") from exc
    if unzipped > MAX_UNZIPPED_BYTES:
        raise FormatError(f"declares {unzipped:,} bytes unzipped, over the limit of {MAX_UNZIPPED_BYTES:,}")
    # zipfile stops at each member's declared size, so the check above bounds what is inflated.
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx and lxml raise many kinds of error on damaged packages
        raise FormatError(f"not a valid Word document ({type(exc).__name__}: {exc})") from exc


def _docx_lines(document: WordDocument) -> Iterator[str]:
    """The body's paragraphs and table rows in document order."""
    from docx.text.paragraph import Paragraph

    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            yield block.text
        else:
            yield from _table_rows(block)


def _table_rows(table: Table) -> Iterator[str]:
    """Each row as ``cell | cell``, a cell merged across columns once (python-docx repeats it per column)."""
    for row in table.rows:
        cells = row.cells  # computed anew at each access
        kept = [cell for i, cell in enumerate(cells) if i == 0 or cell is not cells[i - 1]]
        yield " | ".join(" ".join(cell.text.split()) for cell in kept)


Reader = Callable[[Path], Extracted]
READERS: dict[str, Reader] = {".html": read_html, ".htm": read_html, ".pdf": read_pdf, ".docx": read_docx}
SUFFIXES = tuple(READERS)
