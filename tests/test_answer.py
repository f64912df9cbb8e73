"""Rendering an Answer: escaped Markdown, bold highlights, citations, JSON."""

from __future__ import annotations

import html
import json
import re

import pytest

from qa.answer import NOT_ANSWERED, Answer, Passage, escape_markdown

markdown_it = pytest.importorskip("markdown_it")
MD = markdown_it.MarkdownIt("commonmark")

HOSTILE = [
    "<script>alert(1)</script>",
    "**bold**",
    "__bold__ and *em* and _em_",
    "[link](http://x)",
    "![img](http://x/a.png)",
    "# heading",
    "> quote",
    "- item",
    "1. item",
    "`code`",
    "<b>html</b> &amp; &lt;",
    "a | table | row",
    "back\\slash",
    "~~strike~~",
]


def visible_text(rendered_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", rendered_html)).strip()


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_markdown_renders_literally(text: str):
    rendered = MD.render(escape_markdown(text))
    for tag in ("<script", "<strong", "<em", "<a ", "<img", "<h1", "<blockquote", "<ul", "<ol", "<code", "<b>"):
        assert tag not in rendered, f"{text!r} rendered as {rendered!r}"
    assert visible_text(rendered) == text


def test_escape_markdown_specific_outputs():
    assert "<script>" not in escape_markdown("<script>alert(1)</script>")
    assert "&lt;script&gt;" in escape_markdown("<script>alert(1)</script>")
    assert escape_markdown("**bold**") == r"\*\*bold\*\*"
    assert escape_markdown("# heading").startswith(r"\#")
    assert escape_markdown("[link](http://x)").startswith(r"\[link\]\(")


def make_passage(**overrides) -> Passage:
    text = "Alpha beta. Gamma <b>delta</b> **x**. Epsilon."
    values = dict(
        doc_id="folder/page_1.txt",
        start=100,
        end=100 + len(text),
        text=text,
        score=0.5,
        title="A *Title* [with] <markup>",
        source="Daily Planet",
        section="article",
        highlights=[],
        paragraph=3,
    )
    values.update(overrides)
    return Passage(**values)


def test_highlight_is_bold_and_corpus_markup_is_inert():
    p = make_passage()
    offset = p.text.index("Gamma")
    p.highlights = [(p.start + offset, p.start + offset + len("Gamma <b>delta</b> **x**."))]
    rendered = MD.render(Answer("q", True, [p], 0.9).to_markdown())
    assert "<strong>Gamma &lt;b&gt;delta&lt;/b&gt; **x**.</strong>" in rendered
    assert rendered.count("<strong>") == 2  # the passage number and the highlight
    assert "<b>" not in rendered and "<a " not in rendered


def test_markdown_includes_the_citation():
    p = make_passage()
    markdown = Answer("q", True, [p], 0.9).to_markdown()
    text = visible_text(MD.render(markdown))
    assert "A *Title* [with] <markup>" in text
    assert "Daily Planet" in text
    assert "folder/page_1.txt" in text
    assert "¶3" in text
    assert "article" in text


def test_comment_citation_says_reader_comment():
    p = make_passage(section="comment", source=None)
    citation = p.citation()
    assert "reader comment" in citation
    assert "None" not in citation
    assert "reader comment" in visible_text(MD.render(Answer("q", True, [p]).to_markdown()))


def test_citation_parts():
    p = make_passage(section="boilerplate")
    assert (
        p.citation()
        == "“A *Title* [with] <markup>” · Daily Planet · boilerplate · folder/page_1.txt, ¶3, chars 100–146"
    )


def test_white_space_in_a_passage_is_collapsed_in_markdown():
    text = "Line one.\n\n    Line\ttwo.\xa0End."
    p = make_passage(text=text, end=100 + len(text))
    markdown = Answer("q", True, [p]).to_markdown()
    assert "Line one\\. Line two\\. End\\." in markdown


def test_highlights_outside_the_passage_or_overlapping_are_ignored():
    p = make_passage()
    p.highlights = [(0, 5), (p.start, p.start + 5), (p.start + 2, p.start + 8), (p.end, p.end + 4)]
    rendered = MD.render(Answer("q", True, [p]).to_markdown())
    assert rendered.count("<strong>") == 2
    assert "<strong>Alpha</strong>" in rendered


def test_highlight_followed_directly_by_a_word_is_still_bold():
    text = "you get the same answer….Follow the money."
    p = make_passage(text=text, end=100 + len(text))
    p.highlights = [(p.start, p.start + text.index("Follow"))]
    rendered = MD.render(Answer("q", True, [p]).to_markdown())
    assert rendered.count("<strong>") == 2, rendered


def test_not_answered_starts_with_the_message():
    markdown = Answer("How long to boil an egg?", False, []).to_markdown()
    assert markdown.startswith(f"**{NOT_ANSWERED}**")
    assert "does not seem to answer" in markdown
    with_passages = Answer("q", False, [make_passage()]).to_markdown()
    assert with_passages.startswith(f"**{NOT_ANSWERED}**")
    assert "may not be relevant" in with_passages


def test_answered_markdown_numbers_passages():
    markdown = Answer("q", True, [make_passage(), make_passage(doc_id="b.txt")]).to_markdown()
    assert markdown.startswith("> **1.**")
    assert "> **2.**" in markdown
    assert NOT_ANSWERED not in markdown


def test_to_dict_is_json_serialisable():
    p = make_passage(highlights=[(100, 111)])
    answer = Answer("q?", True, [p], 0.75)
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["question"] == "q?" and data["answered"] is True and data["confidence"] == 0.75
    assert data["passages"][0]["highlights"] == [[100, 111]]
    assert data["passages"][0]["text"] == p.text
    assert set(data["passages"][0]) >= {"doc_id", "start", "end", "text", "score", "title", "source", "section"}
    assert p.highlights == [(100, 111)]  # to_dict does not alter the passage


def test_to_text_is_plain_with_optional_ansi_bold():
    p = make_passage(highlights=[(100, 111)])
    plain = Answer("q", True, [p]).to_text()
    assert plain.startswith("1. Alpha beta. Gamma <b>delta</b> **x**.")  # no escaping for a terminal
    assert "\033[" not in plain
    assert p.citation() in plain
    bold = Answer("q", True, [p]).to_text(bold=True)
    assert "\033[1mAlpha beta.\033[0m" in bold
    assert Answer("q", False, []).to_text().startswith(NOT_ANSWERED)
