"""HTML, PDF and Word files become documents: their main text, title and pages; unusable ones are named and skipped."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PageObject, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

import qa
from qa import documents, formats
from qa.documents import corpus_files, load_document, read_corpus, segment_page
from tests.conftest import write_corpus

# --- making small real files --------------------------------------------------------

ARTICLE = [
    "The quokka is a small marsupial found on Rottnest Island, off the coast of Western Australia.",
    "Rangers counted twelve thousand quokkas on the island in 2020, a number stable for a decade.",
    "Visitors are asked not to feed the animals, since bread makes young quokkas ill.",
]
COMMENTS = ["I love quokkas! They smile all the time.", "Please do not feed them bread."]
BOILERPLATE = [
    "Island Times Masthead",  # header
    "News Section Link",  # navigation
    "We use cookies",  # cookie banner
    "Copyright 2024 Island Times",  # footer
    "SCRIPT-TEXT",  # script
    "secret-style-rule",  # style
]


HEADLINE = "Quokkas of Rottnest Island"


def html_page(*, title: str | None = HEADLINE, h1: str | None = HEADLINE) -> str:
    """A news page: the article and its comments amid a header, navigation, cookie banner, footer, script, style."""
    head_title = f"<title>{title}</title>" if title else ""
    heading = f"<h1>{h1}</h1>" if h1 else ""
    paragraphs = "".join(f"<p>{p}</p>" for p in ARTICLE)
    comments = "".join(f'<li class="comment"><p>{c}</p></li>' for c in COMMENTS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{head_title}
<style>body {{ color: red; }} .secret-style-rule {{ margin: 0; }}</style>
<script>var tracking = "SCRIPT-TEXT";</script></head>
<body>
<header class="site-header"><div class="logo">Island Times Masthead</div></header>
<nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/news">News Section Link</a></li>
<li><a href="/sport">Sport Section Link</a></li></ul></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience. Accept all cookies.</div>
<main><article>{heading}<p>By Jane Doe | (Island Times)</p>{paragraphs}</article>
<section id="comments" class="comments-area"><h2>2 Comments</h2><ol class="comment-list">{comments}</ol></section>
</main>
<footer class="site-footer"><p>Copyright 2024 Island Times. All rights reserved.</p></footer>
<script>document.write("MORE-SCRIPT-TEXT");</script>
</body></html>
"""


SCRIPT_PAGE = "<html><head><title>App</title><script>" + "var x = 1;" * 5000 + "</script></head><body></body></html>"

PAGES = [
    ["Quokka Field Report", "The quokka is a small marsupial of Rottnest Island.", "Rangers count them each spring."],
    ["Rangers counted twelve thousand quokkas in 2020.", "The count has been stable for a decade."],
    ["Visitors must not feed the animals.", "Bread makes young quokkas ill."],
]


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def pdf_bytes(pages: list[list[str]], *, password: str | None = None, title: str | None = None) -> bytes:
    """A PDF with one line of Helvetica text per item of each page (pypdf writes it; no fixture needed)."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        content = DecodedStreamObject()
        shows = "".join(f"{_pdf_string(line)} '\n" for line in lines)  # ' : next line, show the string
        content.set_data(f"BT /F1 12 Tf 14 TL 72 740 Td\n{shows}ET".encode("latin-1"))
        page.replace_contents(content)
    if title:
        writer.add_metadata({"/Title": title})
    if password is not None:
        writer.encrypt(password, "owner secret", algorithm="RC4-128")  # RC4 needs no crypto package
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str], *, title: str = "", rows: list[list[str]] | None = None) -> bytes:
    """A Word document with these paragraphs, then a table of ``rows`` if given."""
    document = docx.Document()
    document.core_properties.title = title
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if rows:
        table = document.add_table(rows=len(rows), cols=len(rows[0]))
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                table.cell(i, j).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def write(folder: Path, name: str, data: bytes | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def load(path: Path) -> qa.Document:
    return load_document(path, path.parent)


def skip_reason(path: Path) -> str:
    """Why `load_document` refuses the file."""
    with pytest.raises(documents.UnusableFile) as refused:
        load(path)
    return refused.value.reason


def span(doc: qa.Document, segment: qa.Segment) -> str:
    return doc.text[segment.start : segment.end]


# --- HTML -------------------------------------------------------------------------


def test_html_main_text_keeps_the_article_and_drops_the_page_furniture(tmp_path: Path):
    doc = load(write(tmp_path, "quokkas.html", html_page()))
    assert doc.doc_id == "quokkas.html"
    assert doc.title == HEADLINE
    for sentence in ARTICLE:
        assert sentence + "\n" in doc.text + "\n"  # each paragraph a line of its own
    for furniture in BOILERPLATE:
        assert furniture not in doc.text
    assert doc.page_starts == [] and doc.page_at(0) is None


def test_html_byline_and_comments_are_labelled_like_a_text_page(tmp_path: Path):
    doc = load(write(tmp_path, "quokkas.htm", html_page()))
    assert (doc.author, doc.source) == ("Jane Doe", "Island Times")
    sections = {span(doc, s): s.section for s in doc.segments}
    assert sections["By Jane Doe | (Island Times)"] == "boilerplate"
    assert [text for text, section in sections.items() if section == "comment"] == COMMENTS
    article = " ".join(span(doc, s) for s in doc.segments if s.section == "article")
    assert all(sentence in article for sentence in ARTICLE)


@pytest.mark.parametrize(
    ("title", "h1", "expected"),
    [("Page Title", "Heading", "Page Title"), (None, "Heading Only", "Heading Only"), (None, None, "stem")],
)
def test_html_title_is_the_title_element_else_the_first_h1_else_the_file_name(
    tmp_path: Path, title: str | None, h1: str | None, expected: str
):
    doc = load(write(tmp_path, "stem.html", html_page(title=title, h1=h1)))
    assert doc.title == expected


def test_metadata_title_wins_over_the_title_a_file_states(tmp_path: Path):
    write(tmp_path, "quokkas.html", html_page())
    write(tmp_path, "metadata.json", json.dumps({"quokkas.html": {"title": "Given Title"}}))
    (doc,) = read_corpus(tmp_path).documents
    assert doc.title == "Given Title"


def test_html_in_a_declared_legacy_encoding_is_decoded(tmp_path: Path):
    page = html_page().replace('charset="utf-8"', 'charset="iso-8859-1"').replace("Rangers", "Café rangers")
    doc = load(write(tmp_path, "latin.html", page.encode("iso-8859-1")))
    assert "Café rangers" in doc.text


def test_html_without_main_text_is_skipped(tmp_path: Path):
    assert skip_reason(write(tmp_path, "app.html", SCRIPT_PAGE)) == "no indexable text"


def test_a_page_of_nothing_but_navigation_is_skipped(tmp_path: Path):
    menu = '<ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul>'
    page = f"<html><head><title>Site</title></head><body><nav>{menu}</nav></body></html>"
    assert skip_reason(write(tmp_path, "menu.html", page)) == "no indexable text"
    linked = f"<html><body><p>Rangers counted <a href='/q'>quokkas</a> on the island today.</p>{menu}</body></html>"
    assert "Rangers counted" in load(write(tmp_path, "text.html", linked)).text  # a link inside text is text


# --- PDF --------------------------------------------------------------------------


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    return write(tmp_path, "report.pdf", pdf_bytes(PAGES))


def test_pdf_text_is_its_pages_and_page_at_names_each_page(report_pdf: Path):
    doc = load(report_pdf)
    assert doc.doc_id == "report.pdf"
    assert len(doc.page_starts) == len(PAGES) and doc.page_starts[0] == 0
    for number, lines in enumerate(PAGES, 1):
        for line in lines:
            offset = doc.text.index(line)
            assert doc.page_at(offset) == number
            assert doc.page_at(offset + len(line) - 1) == number
    assert doc.page_at(len(doc.text) - 1) == len(PAGES)


def test_no_segment_spans_two_pages(report_pdf: Path):
    doc = load(report_pdf)
    # segment_page alone would run one article segment across the pages:
    assert any(s.start < doc.page_starts[1] < s.end for s in segment_page(doc.text)[3])
    for seg in doc.segments:
        assert doc.page_at(seg.start) == doc.page_at(seg.end - 1)
        assert span(doc, seg) == span(doc, seg).strip()
    covered = " ".join(span(doc, s) for s in doc.segments)
    assert all(line in covered for lines in PAGES for line in lines)


def test_pdf_title_is_its_stated_title_else_a_short_first_line(tmp_path: Path):
    assert load(write(tmp_path, "a.pdf", pdf_bytes(PAGES, title="Stated Title"))).title == "Stated Title"
    assert load(write(tmp_path, "b.pdf", pdf_bytes(PAGES))).title == "Quokka Field Report"
    assert load(write(tmp_path, "c.pdf", pdf_bytes([ARTICLE]))).title == "c"  # a sentence is no title


def test_pdf_without_text_is_skipped_as_a_possible_scan(tmp_path: Path):
    path = write(tmp_path, "scan.pdf", pdf_bytes([[], []]))
    assert skip_reason(path) == "no extractable text (it may be a scanned image)"


def test_pdf_that_needs_a_password_is_skipped(tmp_path: Path):
    path = write(tmp_path, "locked.pdf", pdf_bytes(PAGES, password="secret"))
    assert skip_reason(path) == "encrypted PDF: it needs a password"


def test_pdf_encrypted_with_an_empty_user_password_is_read(tmp_path: Path):
    doc = load(write(tmp_path, "restricted.pdf", pdf_bytes(PAGES, password="")))
    assert PAGES[1][0] in doc.text


def test_pdf_text_with_lone_surrogates_becomes_valid_unicode(report_pdf: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(PageObject, "extract_text", lambda page, *args, **kwargs: "Broken \ud83d map \U0001f600 ok")
    doc = load(report_pdf)
    assert doc.text.startswith("Broken \ufffd map \U0001f600 ok")
    doc.text.encode("utf-8")  # what saving documents.jsonl needs


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4", b"%PDF-1.4\nthis is not really a PDF\n", b"plain text named .pdf"],
    ids=["header-only", "garbage", "text"],
)
def test_broken_pdf_is_skipped(tmp_path: Path, data: bytes):
    assert skip_reason(write(tmp_path, "broken.pdf", data)).startswith("broken PDF (")


def test_truncated_pdf_is_skipped(tmp_path: Path):
    data = pdf_bytes(PAGES)
    assert skip_reason(write(tmp_path, "cut.pdf", data[: len(data) // 2])).startswith("broken PDF (")


# --- Word -------------------------------------------------------------------------


def test_docx_paragraphs_are_lines_in_order_and_the_title_is_its_stated_title(tmp_path: Path):
    doc = load(write(tmp_path, "notes.docx", docx_bytes(["Quokka Notes", "", *ARTICLE], title="Stated Title")))
    assert doc.text == "\n".join(["Quokka Notes", *ARTICLE])
    assert doc.title == "Stated Title"
    assert doc.page_starts == []


def test_docx_table_rows_are_lines_after_the_paragraphs_before_them(tmp_path: Path):
    rows = [["Year", "Count"], ["2020", "12,000"]]
    doc = load(write(tmp_path, "table.docx", docx_bytes([ARTICLE[0]], rows=rows)))
    assert doc.text == f"{ARTICLE[0]}\nYear | Count\n2020 | 12,000"


@pytest.mark.parametrize(
    ("paragraphs", "title"),
    [(["Quokka Notes", *ARTICLE], "Quokka Notes"), (ARTICLE, "notes")],
    ids=["short-first-paragraph", "sentence-first"],
)
def test_docx_without_a_stated_title_takes_a_short_first_paragraph_else_the_file_name(
    tmp_path: Path, paragraphs: list[str], title: str
):
    assert load(write(tmp_path, "notes.docx", docx_bytes(paragraphs))).title == title


def test_text_file_renamed_to_docx_is_skipped(tmp_path: Path):
    path = write(tmp_path, "renamed.docx", "Just some text, not a Word document.\n")
    assert skip_reason(path) == "not a Word .docx document (not a zip package)"


def test_zip_that_is_not_a_word_document_is_skipped(tmp_path: Path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("hello.txt", "hello")
    assert skip_reason(write(tmp_path, "archive.docx", out.getvalue())).startswith("not a valid Word document (")


def test_docx_declaring_an_absurd_unzipped_size_is_skipped_before_unzipping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = docx_bytes(ARTICLE)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        declared = sum(info.file_size for info in package.infolist())
    monkeypatch.setattr(formats, "MAX_UNZIPPED_BYTES", declared - 1)
    reason = skip_reason(write(tmp_path, "bomb.docx", data))
    assert reason == f"declares {declared:,} bytes unzipped, over the limit of {declared - 1:,}"


# --- any format -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["big.txt", "big.html", "big.pdf", "big.docx"])
def test_file_over_the_size_limit_is_skipped_naming_size_and_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
):
    monkeypatch.setattr(documents, "MAX_FILE_BYTES", 1000)
    path = write(tmp_path, name, b"x" * 1500)
    assert skip_reason(path) == "too large: 1,500 bytes, over the limit of 1,000 bytes"


def test_size_limit_names_megabytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(documents, "MAX_FILE_BYTES", 2 * 2**20)
    path = write(tmp_path, "big.txt", b"x" * (3 * 2**20))
    assert skip_reason(path) == "too large: 3.0 MB, over the limit of 2.0 MB"


@pytest.mark.parametrize("name", ["empty.html", "empty.pdf", "empty.docx"])
def test_empty_file_of_any_format_is_skipped_as_empty(tmp_path: Path, name: str):
    assert skip_reason(write(tmp_path, name, b"")) == "empty"


def test_html_that_is_no_page_is_skipped(tmp_path: Path):
    assert skip_reason(write(tmp_path, "noise.html", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))) == "not an HTML page"


def test_corpus_files_lists_every_supported_format_whatever_the_case(tmp_path: Path):
    names = ["a.txt", "b.md", "c.html", "d.htm", "e.pdf", "f.docx", "G.PDF", "H.Docx", "I.HTML"]
    for name in [*names, "slides.pptx", "old.doc", "image.png"]:
        write(tmp_path, name, b"")
    assert sorted(p.name for p in corpus_files(tmp_path)) == sorted(names)


# --- a corpus of every format -------------------------------------------------------

GOOD = ["article.html", "notes.docx", "plain.txt", "report.pdf"]
BAD = {  # file -> the start of the reason it is skipped
    "app.html": "no indexable text",
    "big.txt": "too large: ",
    "broken.pdf": "broken PDF (",
    "locked.pdf": "encrypted PDF: it needs a password",
    "renamed.docx": "not a Word .docx document (not a zip package)",
    "scan.pdf": "no extractable text (it may be a scanned image)",
}


@pytest.fixture
def mixed_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Good files of every format, and a bad one of each kind."""
    monkeypatch.setattr(documents, "MAX_FILE_BYTES", 200_000)  # above every good file, below big.txt
    folder = write_corpus(tmp_path / "corpus", {"plain.txt": "Volcano Watch\n\nMount Etna erupted again on Tuesday.\n"})
    files = {
        "article.html": html_page(),
        "notes.docx": docx_bytes(["Quokka Notes", *ARTICLE]),
        "report.pdf": pdf_bytes(PAGES),
        "app.html": SCRIPT_PAGE,
        "big.txt": "Too much text. " * 20_000,
        "broken.pdf": b"%PDF-1.4\nthis is not really a PDF\n",
        "locked.pdf": pdf_bytes(PAGES, password="secret"),
        "renamed.docx": "Just some text.\n",
        "scan.pdf": pdf_bytes([[]]),
    }
    for name, data in files.items():
        write(folder, name, data)
    return folder


def test_read_corpus_reads_the_good_files_and_names_every_bad_one_with_its_reason(mixed_folder: Path):
    corpus = read_corpus(mixed_folder)
    assert [d.doc_id for d in corpus.documents] == GOOD
    assert sorted(corpus.skipped) == sorted(BAD)
    for name, reason in BAD.items():
        assert corpus.skipped[name].startswith(reason), (name, corpus.skipped[name])


def test_index_of_every_format_keeps_exact_offsets_and_pages(mixed_folder: Path, tmp_path: Path):
    built = qa.build(mixed_folder, tmp_path / "index", embedder=qa.HashEmbedder())
    store = qa.load(tmp_path / "index", embedder=qa.HashEmbedder()).store  # as stored in documents.jsonl
    expected = {d.doc_id: d for d in read_corpus(mixed_folder).documents}
    assert {d: store.document(d) for d in store.doc_ids()} == expected
    assert {d: built.store.document(d) for d in built.store.doc_ids()} == expected
    assert sorted(store.skipped) == sorted(BAD)
    chunks = [store.chunk(i) for i in store.chunk_ids()]
    assert {c.doc_id for c in chunks} == set(GOOD)
    pdf = store.document("report.pdf")
    assert len(pdf.page_starts) == len(PAGES)
    for chunk in chunks:
        doc = store.document(chunk.doc_id)
        text = doc.text[chunk.start : chunk.end]
        assert text and text == text.strip()
        assert doc.segment_at(chunk.start) == doc.segment_at(chunk.end - 1)
        assert doc.page_at(chunk.start) == doc.page_at(chunk.end - 1)
        assert not any(chunk.start < start < chunk.end for start in doc.page_starts)
    pages = {pdf.page_at(c.start) for c in chunks if c.doc_id == "report.pdf"}
    assert pages == {1, 2, 3}


def test_a_pdf_passage_cites_its_page_and_is_verbatim(report_pdf: Path, tmp_path: Path):
    engine = qa.build(report_pdf.parent, tmp_path / "index", embedder=qa.HashEmbedder())
    line = PAGES[1][0]
    answer = engine.ask(line, k=3)
    top = answer.passages[0]
    assert top.doc_id == "report.pdf" and line in top.text
    assert top.page == 2 and "p. 2," in top.citation() and "¶" not in top.citation()
    assert engine.document("report.pdf").text[top.start : top.end] == top.text
    assert answer.to_dict()["passages"][0]["page"] == 2


def test_a_sentence_that_runs_on_to_the_next_page_is_one_passage_cited_with_both_pages(tmp_path: Path):
    pages = [
        ["Eel Survey 2023", "The trap below the mill took 3,115 eels on the night of 17 October, during a new"],
        ["moon and heavy rain.", "Water temperature fell below 12 degrees in October."],
    ]
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "survey.pdf").write_bytes(pdf_bytes(pages))
    doc = load(folder / "survey.pdf")
    assert "during a new moon and heavy rain." in doc.text  # one sentence, one line
    assert doc.page_at(doc.text.index("moon and heavy")) == 2
    engine = qa.build(folder, tmp_path / "index", embedder=qa.HashEmbedder())
    top = engine.ask("How many eels did the trap take during a new moon and heavy rain?", k=1).passages[0]
    assert "a new moon and heavy rain." in " ".join(top.text.split())
    assert (top.page, top.page_end) == (1, 2) and "pp. 1–2," in top.citation()
