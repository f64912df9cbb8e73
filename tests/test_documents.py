"""Segmentation of the default corpus pinned at known sentences, and corpus errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import qa
from qa.chunking import chunk_document
from qa.documents import CorpusError, clean_title, file_sha256, load_document, read_corpus, segment_page
from tests.conftest import write_corpus

IC = "Informed Comment"
D000 = "000_ef7ab4103cac12f9.txt"
D001 = "001_fb5d5de520412f3a.txt"
D002 = "002_d6c5143299779081.txt"
D003 = "003_272f6d9faaa49ae3.txt"
D004 = "004_4089cd0367db9c7b.txt"


def segment_of(doc: qa.Document, needle: str, *, last: bool = False) -> qa.Segment | None:
    """The segment at the first (or last) place ``needle`` stands in the document."""
    offset = doc.text.rindex(needle) if last else doc.text.index(needle)
    return doc.segment_at(offset)


# (document, known substring, section, source)
LABELLED = [
    # 000: an Informed Comment article with a video caption and reader comments
    (D000, "With Defeat Looming, ISIL haunts Syria with 6 Bombings, Killing 53", "article", IC),
    (D000, "By Juan Cole | (Informed Comment)", "boilerplate", IC),
    (D000, "Daesh (ISIS, ISIL) is still acting like a military organization", "article", IC),
    (D000, "Daesh claimed responsibility for the wave of bombings", "article", IC),
    (D000, "Ruptly TV: “Syria: Twin bombing kills 35 in Tartous", "boilerplate", IC),
    (D000, "Ask who is funding Daesh", "comment", IC),
    (D000, "Daesh has annual revenues estimated at $500 million", "comment", IC),
    (D000, "Huhhh?", "comment", IC),
    (D000, "Good, solid details in this article.", "comment", IC),
    # 001: a roundup of five outlets' pieces, each closed by a Source: line
    (D001, "killing about 150 people", "article", "Business Insider"),
    (D001, "Source: ISIS strikes in Assad territory", "boilerplate", "Business Insider"),
    (D001, "WASHINGTON (Reuters)", "article", "Reuters"),
    (D001, "spokesman Mark Toner", "article", "Reuters"),
    (D001, "(Reporting By Arshad Mohammed", "boilerplate", "Reuters"),
    (D001, "Source: Russia has special responsibility", "boilerplate", "Reuters"),
    (D001, "gave a lower death toll of 78", "article", "The Independent"),
    (D001, "Source: Syria: Isis attacks kill more than 120", "boilerplate", "The Independent"),
    (D001, "Incirlik airbase", "article", "debkafile"),  # outlet from data/metadata.json
    (D001, "Source: Exclusive: US warplanes intervene", "boilerplate", "debkafile"),
    (D001, "22,000 files obtained by Sky News", "article", "Daily Express"),
    (D001, "Source: ISIS BOMSHELL", "boilerplate", "Daily Express"),
    # 002: a dateline byline inside the first paragraph
    (D002, "MESOP Syria Daily", "article", "eaworldview"),
    (D002, "WEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview", "boilerplate", "eaworldview"),
    (D002, "The Assad regime and its ally Russia", "article", "eaworldview"),
    (D002, "Vigilantes attacked a refugee camp", "article", "eaworldview"),
    # 003: no outlet; a bulleted list is article text
    (D003, "ISIS survives because the US will not unite with Russia", "article", None),
    (D003, "Despite massive defeats ISIS still has 8,000 to 11,000 fighters", "article", None),
    (D003, "The Yarmouk Basin – 1,500 to 2,000.", "article", None),
    (D003, "Eastern Deir Ezzor desert near the Iraqi border – 1,000.", "article", None),
    # 004: replies (• …) inside the comment area are comments too
    (D004, "The Regime Strikes Back", "article", IC),
    (D004, "By Juan Cole | (Informed Comment)", "boilerplate", IC),
    (D004, "Zahran Alloush", "article", IC),
    (D004, "Ruptly TV: “Syria: Russian airstrikes destroy ISIS oil tankers", "boilerplate", IC),
    (D004, "Dr Assad was a surgeon here in London", "comment", IC),
    (D004, "Well said, Mr. Cole.", "comment", IC),
    (D004, "It reveals that many in the Pentagon leadership", "comment", IC),
]

# Page furniture that is never indexed.
NOT_INDEXED = [
    (D000, "Related video:"),
    (D000, "5 Responses"),
    (D000, "Comments are closed."),
    (D001, "Category: Syria"),
    (D001, "%d bloggers like this:"),
    (D003, "in ,"),
    (D003, "The statements, views and opinions expressed"),  # both copies, the first between two article lines
    (D003, "What do you think?"),
    (D003, "24 Points"),
    (D003, "Upvote Downvote"),
    (D003, "View all comments"),
    (D003, "Eminem lashes out"),
    (D003, "WATCH: US Ambassador takes the pain"),
    (D004, "Related video:"),
    (D004, "11 Responses"),
    (D004, "Comments are closed."),
]


@pytest.mark.parametrize(("doc_id", "needle", "section", "source"), LABELLED)
def test_known_sentences_are_labelled(default_docs, doc_id, needle, section, source):
    segment = segment_of(default_docs[doc_id], needle)
    assert segment is not None, f"{needle!r} is not indexed"
    assert (segment.section, segment.source) == (section, source)


@pytest.mark.parametrize(("doc_id", "needle"), NOT_INDEXED)
def test_page_furniture_is_not_indexed(default_docs, doc_id, needle):
    doc = default_docs[doc_id]
    for m in re.finditer(re.escape(needle), doc.text):
        for offset in range(m.start(), m.end()):
            assert doc.segment_at(offset) is None, f"{needle!r} at {offset} is indexed"


def test_every_copy_of_the_003_disclaimer_is_skipped(default_docs):
    doc = default_docs[D003]
    starts = [m.start() for m in re.finditer("The statements, views and opinions expressed", doc.text)]
    assert len(starts) == 2
    assert all(doc.segment_at(s) is None for s in starts)


def test_widget_between_two_article_paragraphs_is_not_indexed():
    text = "A headline\n\nFirst paragraph of the article.\n\nShare this:\n\nSecond paragraph of the article.\n"
    _, _, _, segments = segment_page(text)
    offset = text.index("Share this:")
    assert not any(s.start <= offset < s.end for s in segments)


def test_quoted_article_sentence_inside_a_comment_is_a_comment(default_docs):
    doc = default_docs[D000]
    needle = "Daesh (ISIS, ISIL) is still acting like a military organization"
    assert segment_of(doc, needle).section == "article"
    assert segment_of(doc, needle, last=True).section == "comment"


def test_dateline_byline_segment_is_exactly_the_byline(default_docs):
    doc = default_docs[D002]
    segment = segment_of(doc, "WEST KURDISTAN")
    assert doc.text[segment.start : segment.end] == "WEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview"
    after = segment_of(doc, "The Assad regime and its ally Russia")
    assert after.start == doc.text.index("The Assad regime and its ally Russia")


@pytest.mark.parametrize(
    "separator",
    [" – ", " –\xa0", " –\t"],
    ids=["space", "nbsp", "tab"],
)
def test_dateline_byline_ends_before_the_separator(separator: str):
    text = (
        "Title here\n\nWEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview"
        + separator
        + "The Assad regime and its ally Russia are trying to regroup.\n"
    )
    _, outlet, author, segments = segment_page(text)
    assert (outlet, author) == ("eaworldview", "Scott Lucas")
    byline = next(s for s in segments if s.section == "boilerplate")
    assert text[byline.start : byline.end] == "WEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview"


def test_comment_numbers_are_not_part_of_the_comment(default_docs):
    doc = default_docs[D000]
    segment = segment_of(doc, "Ask who is funding Daesh")
    assert doc.text[segment.start :].startswith("Ask who is funding Daesh")


def test_each_reader_comment_is_its_own_segment(default_docs):
    doc = default_docs[D000]
    first = segment_of(doc, "Ask who is funding Daesh")
    second = segment_of(doc, "i would say that isis is doing pretty well")
    assert first != second
    assert segment_of(doc, "Follow the money.") == first  # later paragraphs of the same comment


@pytest.mark.parametrize(
    ("doc_id", "title", "source", "author"),
    [
        (D000, "With Defeat Looming, ISIL haunts Syria with 6 Bombings, Killing 53", IC, "Juan Cole"),
        (D001, "ISIS strikes in Assad territory are exposing Syria and Russia’s weaknesses", None, None),  # no title
        # line: a roundup is known by its first piece's headline
        (
            D002,
            "MESOP Syria Daily: Regime & Russia Try to Regroup After Deadly ISIS Bombings",
            "eaworldview",
            "Scott Lucas",
        ),
        (D003, "ISIS survives because the US will not unite with Russia to destroy it", None, None),
        (D004, "The Regime Strikes Back: Syrian Gov’t advances, Bolstered by Russia", IC, "Juan Cole"),
    ],
)
def test_document_title_outlet_and_author(default_docs, doc_id, title, source, author):
    doc = default_docs[doc_id]
    assert (doc.title, doc.source, doc.author) == (title, source, author)


@pytest.mark.parametrize(
    ("needle", "headline"),
    [
        ("killing about 150 people", "ISIS strikes in Assad territory are exposing Syria and Russia’s weaknesses"),
        ("spokesman Mark Toner", "Russia has special responsibility to push Syria to stop attacks"),
        (
            "gave a lower death toll of 78",
            "Syria: Isis attacks kill more than 120 people in Assad’s coastal heartlands",
        ),
        ("Incirlik airbase", "Exclusive: US warplanes intervene in Syrian war"),
        ("22,000 files obtained by Sky News", "ISIS BOMSHELL: Islamic State and Syrian regime ‘working TOGETHER’"),
    ],
)
def test_roundup_piece_headlines(default_docs, needle, headline):
    segment = segment_of(default_docs[D001], needle)
    assert segment.headline is not None
    assert segment.headline.startswith(headline)


def test_business_insider_headline_starts_as_expected(default_docs):
    segment = segment_of(default_docs[D001], "killing about 150 people")
    assert segment.headline.startswith("ISIS strikes in Assad territory")
    assert "Business Insider" not in segment.headline


def test_non_roundup_pages_have_no_headlines(default_docs):
    for doc_id in (D000, D002, D003, D004):
        assert all(s.headline is None for s in default_docs[doc_id].segments)


@pytest.mark.parametrize(
    "doc_id, needle, expected",
    [
        (D000, "With Defeat Looming, ISIL haunts Syria", True),  # the page title
        (D001, "Source: ISIS strikes in Assad territory", True),  # a roundup piece's Source line
        (D002, "WEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas", False),  # a byline says who wrote it
        (D001, "(Reporting By Arshad Mohammed", False),
        (D003, "Despite massive defeats ISIS still has", False),  # a standfirst states facts
    ],
)
def test_headline_only_spans(default_docs, doc_id, needle, expected):
    doc = default_docs[doc_id]
    start = doc.text.index(needle)
    end = doc.text.index("\n", start) if "\n" in doc.text[start:] else len(doc.text)
    assert doc.headline_only(start, end) is expected


def test_headline_only_needs_every_line_to_be_a_headline(default_docs):
    doc = default_docs[D001]
    start = doc.text.index("(Reporting By Arshad Mohammed")
    source = doc.text.index("Source: Russia has special responsibility")
    assert doc.headline_only(source, doc.text.index("\n", source))
    assert not doc.headline_only(start, doc.text.index("\n", source))


def test_default_corpus_is_the_five_pages(default_docs):
    assert sorted(default_docs) == [D000, D001, D002, D003, D004]


@pytest.mark.parametrize("doc_id", [D000, D001, D002, D003, D004])
def test_segments_are_ordered_disjoint_stripped_spans(default_docs, doc_id):
    doc = default_docs[doc_id]
    assert doc.segments
    previous_end = 0
    for seg in doc.segments:
        assert previous_end <= seg.start < seg.end <= len(doc.text)
        span = doc.text[seg.start : seg.end]
        assert span == span.strip()
        assert seg.section in ("article", "comment", "boilerplate")
        previous_end = seg.end


# --- segment_page on hand-made pages ----------------------------------------


def test_metadata_overrides_title_outlet_author_and_sources():
    text = "Some headline\n\nBody text here.\n\nSource: A piece – Somebody\n"
    meta = {"title": "T", "outlet": "O", "author": "A", "sources": {"A piece – Somebody": "Real Outlet"}}
    title, outlet, author, segments = segment_page(text, meta)
    assert (title, outlet, author) == ("T", "O", "A")
    body = next(s for s in segments if text[s.start : s.end] == "Body text here.")
    assert body.source == "Real Outlet"


def test_agency_dateline_names_the_piece_outlet():
    text = (
        "A first piece, a full sentence.\n\nSource: Piece one – Outlet A\n\n"
        "LONDON (Reuters) – Something happened.\n\nSource: Something happened, officials say\n"
    )
    _, _, _, segments = segment_page(text)
    offset = text.index("LONDON")
    seg = next(s for s in segments if s.start <= offset < s.end)
    assert seg.source == "Reuters"
    assert segments[0].source == "Outlet A"


def test_a_page_without_a_title_line_is_known_by_its_first_pieces_headline_else_its_file_name():
    roundup = "Category: News\n\nMount Etna erupted again on Tuesday.\n\nSource: Etna erupts again – Volcano Daily\n"
    assert segment_page(roundup)[0] == "Etna erupts again"
    assert segment_page("Category: News\n\nMount Etna erupted again on Tuesday, its third time this year.\n")[0] is None


def test_roundup_page_title_is_not_attributed_to_the_first_piece():
    text = "Volcano Watch\n\nMount Etna erupted again.\n\nSource: Etna erupts again – Volcano Daily\n"
    title, outlet, _, segments = segment_page(text)
    assert title == "Volcano Watch"
    title_segment = segments[0]
    assert text[title_segment.start : title_segment.end] == "Volcano Watch"
    assert (title_segment.source, title_segment.headline) == (outlet, None)


# --- corpus errors ------------------------------------------------------------


# Files that cannot be used, and why: read_corpus skips them, load_document and strict=True refuse them.
BAD_FILES = {
    "bad_utf8.txt": (b"caf\xe9 au lait\xff", "not UTF-8: byte 3"),
    "blank.md": (b"  \n\t\n", "empty"),
    "bom_only.txt": ("\ufeff\n".encode(), "empty"),
    "empty.txt": (b"", "empty"),
    "nul.txt": (b"Looks like text\x00\x01\x02", "binary: contains NUL bytes"),
    "widgets.txt": (b"Share this:\nComments are closed.\n", "no indexable text"),
}
GOOD_TEXT = "Quokka Island\n\nThe quokka lives on Rottnest Island.\n"


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    """One good file among files that cannot be used."""
    folder = write_corpus(tmp_path / "mixed", {"good.txt": GOOD_TEXT})
    for name, (data, _) in BAD_FILES.items():
        (folder / name).write_bytes(data)
    return folder


def refuse_to_read(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make reading the file called ``name`` fail as an unreadable file does."""
    read_bytes = Path.read_bytes

    def guarded(path: Path) -> bytes:
        if path.name == name:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", guarded)


def test_read_corpus_skips_unusable_files_with_their_reasons(mixed_corpus: Path):
    corpus = read_corpus(mixed_corpus)
    assert [d.doc_id for d in corpus.documents] == ["good.txt"]
    assert corpus.skipped == {name: reason for name, (_, reason) in BAD_FILES.items()}


def test_load_corpus_returns_the_usable_documents(mixed_corpus: Path):
    assert [d.doc_id for d in qa.load_corpus(mixed_corpus)] == ["good.txt"]


def test_one_warning_names_every_skipped_file_and_why(mixed_corpus: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level("WARNING", logger="qa"):
        read_corpus(mixed_corpus)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert f"skipped {len(BAD_FILES)} file(s)" in message
    for name, (_, reason) in BAD_FILES.items():
        assert f"{name} ({reason})" in message


def test_strict_read_raises_at_the_first_bad_file(mixed_corpus: Path):
    with pytest.raises(CorpusError, match=re.escape("bad_utf8.txt: not UTF-8: byte 3")):
        read_corpus(mixed_corpus, strict=True)


def test_strict_read_of_a_good_corpus_skips_nothing(tiny_corpus: Path):
    corpus = read_corpus(tiny_corpus, strict=True)
    assert len(corpus.documents) == 3 and corpus.skipped == {}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_load_document_refuses_a_bad_file_for_the_reason_read_corpus_gives(mixed_corpus: Path, name: str):
    with pytest.raises(CorpusError, match=re.escape(f"{name}: {BAD_FILES[name][1]}")):
        load_document(mixed_corpus / name, mixed_corpus)


def test_unreadable_file_is_skipped_with_the_system_reason(mixed_corpus: Path, monkeypatch: pytest.MonkeyPatch):
    refuse_to_read(monkeypatch, "good.txt")
    write_corpus(mixed_corpus, {"other.txt": GOOD_TEXT})
    corpus = read_corpus(mixed_corpus)
    assert [d.doc_id for d in corpus.documents] == ["other.txt"]
    assert corpus.skipped["good.txt"] == "cannot be read: Permission denied"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_chmod_000_file_is_skipped_as_unreadable(mixed_corpus: Path):
    locked = write_corpus(mixed_corpus, {"locked.txt": GOOD_TEXT}) / "locked.txt"
    locked.chmod(0)
    try:
        corpus = read_corpus(mixed_corpus)
    finally:
        locked.chmod(0o644)
    assert corpus.skipped["locked.txt"].startswith("cannot be read: ")


def test_unreadable_file_hash_marks_it_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "locked.txt"
    path.write_text("Some text.")
    readable = file_sha256(path)
    refuse_to_read(monkeypatch, "locked.txt")
    assert file_sha256(path) == "unreadable: Permission denied" != readable


def test_corpus_of_only_unusable_files_is_a_corpus_error_naming_them(mixed_corpus: Path):
    (mixed_corpus / "good.txt").unlink()
    with pytest.raises(CorpusError, match="no usable documents") as error:
        read_corpus(mixed_corpus)
    for name, (_, reason) in BAD_FILES.items():
        assert f"{name} ({reason})" in str(error.value)


# --- titles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("\ufeffQuokka Report", "Quokka Report"),
        ("# Quokka Report", "Quokka Report"),
        ("## Quokka Report ##", "Quokka Report"),
        ("\ufeff### Quokka Report #  ", "Quokka Report"),
        ("###### Six marks", "Six marks"),
        ("# Learning C#", "Learning C#"),  # a closing run needs a space before it
        ("#hashtags are not headings", "#hashtags are not headings"),
        ("####### seven marks are not a heading", "####### seven marks are not a heading"),
        ("Plain title ##", "Plain title ##"),  # no opening marks: no closing run either
    ],
)
def test_clean_title(line: str, title: str):
    assert clean_title(line) == title


def check_offsets(doc: qa.Document, file_text: str) -> None:
    """The text is the file's, and no segment or chunk starts on a BOM or has white space at either end."""
    assert doc.text == file_text
    spans = [(s.start, s.end) for s in doc.segments] + [(c.start, c.end) for c in chunk_document(doc)]
    for start, end in spans:
        span = doc.text[start:end]
        assert span and span == span.strip() and "\ufeff" not in span


@pytest.mark.parametrize(
    ("name", "text", "title"),
    [
        ("bom.txt", "\ufeffQuokka Report\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("bom_space.txt", "\ufeff  Quokka Report\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("bom_blank.txt", "\ufeff\n\nQuokka Report\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("h1.md", "# Quokka Report\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("h2.md", "## Quokka Report ##\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("bom_h1.md", "\ufeff# Quokka Report\n\nThe quokka lives on Rottnest Island.\n", "Quokka Report"),
        ("bom_body.txt", "\ufeffThe quokka lives on Rottnest Island.\n", "bom_body"),  # no title line
    ],
)
def test_title_is_cleaned_and_offsets_stay_exact(tmp_path: Path, name: str, text: str, title: str):
    write_corpus(tmp_path, {name: text})
    (doc,) = read_corpus(tmp_path).documents
    assert doc.title == title
    check_offsets(doc, text)


@pytest.mark.parametrize("title_line", ["\ufeffQuokka Report", "# Quokka Report", "## Quokka Report ##"])
def test_headline_only_recognises_a_cleaned_title_line(title_line: str):
    text = f"{title_line}\n\nThe quokka lives on Rottnest Island.\n"
    title, _, _, segments = segment_page(text)
    doc = qa.Document("d.md", text, title, segments=segments)
    first = text.index("\n")
    assert doc.headline_only(0, first)
    assert doc.headline_only(segments[0].start, segments[0].end)
    assert not doc.headline_only(0, len(text))


def test_metadata_title_is_used_as_given(tmp_path: Path):
    write_corpus(tmp_path, {"a.md": "# Quokka Report\n\nThe quokka lives on Rottnest Island.\n"})
    (tmp_path / "metadata.json").write_text(json.dumps({"a.md": {"title": "## Kept as given"}}))
    (doc,) = read_corpus(tmp_path).documents
    assert doc.title == "## Kept as given"


def test_missing_folder_is_a_corpus_error(tmp_path: Path):
    with pytest.raises(qa.CorpusError, match="no such corpus folder"):
        qa.load_corpus(tmp_path / "nope")


def test_a_file_instead_of_a_folder_is_a_corpus_error(tmp_path: Path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(qa.CorpusError):
        qa.load_corpus(tmp_path / "x.txt")


def test_empty_folder_is_a_corpus_error(tmp_path: Path):
    with pytest.raises(qa.CorpusError, match="no .*documents"):
        qa.load_corpus(tmp_path)


def test_folder_without_text_documents_is_a_corpus_error(tmp_path: Path):
    (tmp_path / "slides.pptx").write_bytes(b"PK\x03\x04")
    (tmp_path / "metadata.json").write_text("{}")
    with pytest.raises(qa.CorpusError):
        qa.load_corpus(tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '"a string"'])
def test_bad_metadata_is_a_corpus_error(tmp_path: Path, content: str):
    write_corpus(tmp_path, {"a.txt": "Some text."})
    (tmp_path / "metadata.json").write_text(content)
    with pytest.raises(qa.CorpusError, match="metadata.json"):
        qa.load_corpus(tmp_path)


def test_non_utf8_metadata_is_a_corpus_error(tmp_path: Path):
    write_corpus(tmp_path, {"a.txt": "Some text."})
    (tmp_path / "metadata.json").write_bytes(b'{"a.txt": {"title": "\xff"}}')
    with pytest.raises(qa.CorpusError, match="metadata.json"):
        qa.load_corpus(tmp_path)


def test_corpus_reads_txt_and_md_recursively_and_ignores_other_files(tiny_corpus: Path):
    (tiny_corpus / "image.png").write_bytes(b"\x89PNG")
    docs = qa.load_corpus(tiny_corpus)
    assert [d.doc_id for d in docs] == ["alpha.txt", "beta.txt", "sub/gamma.md"]
    for doc in docs:
        assert doc.text == (tiny_corpus / doc.doc_id).read_bytes().decode("utf-8")


def test_metadata_title_applies_to_its_document(tiny_corpus: Path):
    (tiny_corpus / "metadata.json").write_text(json.dumps({"sub/gamma.md": {"title": "Bread"}}))
    docs = {d.doc_id: d for d in qa.load_corpus(tiny_corpus)}
    assert docs["sub/gamma.md"].title == "Bread"
    assert docs["alpha.txt"].title == "Quokka Island Report"


def test_files_of_other_formats_are_skipped_with_a_warning(tiny_corpus: Path, caplog: pytest.LogCaptureFixture):
    (tiny_corpus / "slides.pptx").write_bytes(b"PK\x03\x04")
    with caplog.at_level("WARNING", logger="qa"):
        docs = qa.load_corpus(tiny_corpus)
    assert all(not d.doc_id.endswith(".pptx") for d in docs)
    assert "unsupported format: slides.pptx" in caplog.text
