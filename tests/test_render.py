"""The chat's HTML (`qa.render`) and the dates pages state (`qa.dates`), without a browser."""

from __future__ import annotations

import re

import pytest

from qa.answer import Answer, Passage
from qa.dates import stated_date
from qa.disagreement import Claim, Disagreement
from qa.documents import Document
from qa.render import (
    FOLD_GAP,
    answer_html,
    copy_text,
    document_html,
    documents_html,
    escape,
    folded_from,
    parse_ref,
    passage_ref,
)

TEXT = (
    "Harbour notice\n\nThe bridge at Zanzibar was closed on Monday. "
    "Engineers wrote <img src=x onerror=alert(1)> there.\n"
)


def passage(score: float, start: int = 16, end: int = len(TEXT) - 1, section="article", **kw) -> Passage:
    return Passage(
        doc_id=kw.pop("doc_id", "a b/notes.txt"),
        start=start,
        end=end,
        text=TEXT[start:end],
        score=score,
        title=kw.pop("title", "Harbour notice"),
        source=kw.pop("source", "Island Times"),
        section=section,
        highlights=kw.pop("highlights", [(16, 60)]),
        paragraph=2,
        **kw,
    )


def answer(*scores: float, answered: bool = True, **kw) -> Answer:
    return Answer("When was the bridge closed?", answered, [passage(s) for s in scores], confidence=0.9, **kw)


def cards_outside_the_fold(html: str) -> int:
    return html.split("<details", 1)[0].count('class="qa-card')


def test_passages_far_below_the_best_are_folded_but_the_best_always_shows():
    assert folded_from(answer(9.0, 8.0, 9.0 - FOLD_GAP, 1.0, -3.0)) == 3
    assert folded_from(answer(9.0, -9.0)) == 1
    assert folded_from(answer()) == 0
    html = answer_html(answer(9.0, 8.0, 1.0, -3.0))
    assert cards_outside_the_fold(html) == 2
    assert "<summary>2 more passages, less likely to answer</summary>" in html
    assert html.count('class="qa-card') == 4  # folding hides nothing from the answer itself
    assert "<details" not in answer_html(answer(9.0, 8.5))


def test_a_passage_that_sources_differ_cites_is_never_folded():
    from qa.disagreement import Claim, Disagreement

    claims = [Claim(0, "150", 150, "A", None, 16, 40), Claim(3, "120", 120, "B", "monitors", 16, 40)]
    cited = answer(9.0, 8.0, 1.0, -3.0, -4.0, disagreements=[Disagreement(claims)])
    assert folded_from(cited) == 4  # the fourth passage states the other figure
    assert cards_outside_the_fold(answer_html(cited)) == 4
    assert "<summary>1 more passage, less likely to answer</summary>" in answer_html(cited)


def test_a_refusal_says_so_first_and_marks_nothing():
    html = answer_html(answer(2.0, 1.0, answered=False))
    assert re.match(r'<div class="qa-answer"><p class="qa-refusal"><strong>The corpus does not seem', html)
    assert "qa-hl" not in html and "<details" not in html
    assert html.count('class="qa-card') == 2
    assert "The corpus does not seem" in answer_html(Answer("q?", False, []))


def test_a_card_cites_title_outlet_section_place_and_date():
    html = answer_html(answer(5.0), dates={"a b/notes.txt": "May 24"}, seconds=0.0123)
    cite = re.search(r'<div class="qa-cite">(.*?)</div>', html).group(1)
    assert re.sub("<[^>]+>", "", cite) == "Harbour notice · Island Times · article · ¶2 · May 24"
    assert '<mark class="qa-hl">The bridge at Zanzibar was closed on Monday.</mark>' in html
    assert "searched in 12 ms" in html and "Confidence that the corpus answers this: 90%" in html
    comment = answer_html(Answer("q?", True, [passage(3.0, section="comment", page=4)]))
    assert 'qa-badge-comment">reader comment<' in comment and "p. 4" in comment


def test_corpus_text_is_inert_everywhere_it_is_shown():
    hostile = "<img src=x onerror=alert(1)> ${alert(2)} {{x}} `y` \"q\" 'a'"
    assert "<" not in escape(hostile) and "${" not in escape(hostile) and "{{" not in escape(hostile)
    p = passage(5.0, title=hostile, source=hostile, doc_id='x".txt')
    claim = Claim(0, hostile, 1, hostile, hostile, 0, 1)
    html = answer_html(Answer("q?", True, [p], context=hostile, disagreements=[Disagreement([claim])]))
    assert "<img" not in html and "${" not in html and "{{" not in html
    assert 'value="x&quot;.txt:16:' in html  # attribute values cannot be broken out of
    doc = Document("d.txt", TEXT + hostile, hostile, source=hostile)
    assert "<img" not in document_html(doc, 16, 40) and "<img" not in documents_html([doc])


def test_a_passage_reference_round_trips_and_bad_ones_say_what_they_got():
    p = passage(5.0, doc_id="dir/odd:name.txt")
    assert parse_ref(passage_ref(p)) == ("dir/odd:name.txt", p.start, p.end)
    for bad in ["nonsense", "a.txt:1", "a.txt:x:2", None]:
        with pytest.raises(ValueError, match="not a passage reference"):
            parse_ref(bad)


def test_the_document_view_marks_the_passage_in_the_whole_text():
    doc = Document("d.txt", TEXT, "Harbour notice", source="Island Times")
    html = document_html(doc, 16, 60, [(20, 26)])
    assert '<mark id="qa-here" class="qa-here">The <strong>bridge</strong> at Zanzibar' in html
    assert html.count("Harbour notice") == 2 and "Engineers wrote &lt;img" in html  # title, then all the text
    with pytest.raises(ValueError, match="not inside d.txt"):
        document_html(doc, 10, len(TEXT) + 1)


def test_copy_text_quotes_the_passage_then_cites_it():
    text = copy_text(passage(5.0, start=16, end=60))
    assert text == "“The bridge at Zanzibar was closed on Monday.” — “Harbour notice” · Island Times · article · " + (
        "a b/notes.txt, ¶2, chars 16–60"
    )


def test_the_documents_table_lists_outlets_dates_and_kinds():
    docs = [
        Document("a.pdf", "Report\n\nPublished: 2016-05-24\n\nText.", "Report", source="Reuters"),
        Document("b.txt", "Notes\n\nOn May 23, the group acted.", "Notes"),
    ]
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", documents_html(docs, ["b.txt"])
    )
    assert rows == [("Report", "Reuters", "2016-05-24", "PDF"), ("Notes", "", "", "TXT · your file")]


@pytest.mark.parametrize(
    "head, date",
    [
        ("MESOP Syria Daily\n\nWEST KURDISTAN (SYRIA) – May 24 – By Scott Lucas – eaworldview – The regime", "May 24"),
        ("By Jo Bloggs | Reuters | 3 March 2016 | 10:00 GMT\n\nStory.", "3 March 2016"),
        ("Title\nPosted on Jan. 5, 2017 by admin\n\nStory.", "Jan. 5, 2017"),
        ("Title\n2016-05-24\n\nStory.", "2016-05-24"),
        ("Title\n\nOn May 23, the group detonated seven bombs.", None),  # a date in the story is not the page's
        ("Title\n\nIn May 2016 - the war went on.", None),
        ("x" * 900 + "\n– May 24 –", None),  # only the top of the page
    ],
)
def test_a_page_date_is_the_one_beside_its_byline(head, date):
    assert stated_date(head) == date


def test_the_exact_answer_is_marked_strongly_inside_its_lightly_marked_sentence():
    p = passage(5.0, start=16, end=len(TEXT) - 1, answer=(53, 59))
    assert TEXT[53:59] == "Monday"
    html = answer_html(Answer("When was the bridge closed?", True, [p]))
    assert (
        '<mark class="qa-hl">The bridge at Zanzibar was closed on <strong class="qa-exact">Monday</strong>.</mark>'
        in html
    )
    without = answer_html(Answer("When was the bridge closed?", True, [passage(5.0)]))
    assert (
        "qa-exact" not in without
        and '<mark class="qa-hl">The bridge at Zanzibar was closed on Monday.</mark>' in without
    )


def test_the_exact_answer_heads_the_reply_and_is_marked_in_its_card():
    hostile = "<img src=x onerror=alert(1)>"
    at = TEXT.index(hostile)
    p = passage(5.0, answer=(at, at + len(hostile)))
    assert p.answer_text == hostile
    html = answer_html(Answer("q?", True, [p]))
    head = html.split('<p class="qa-exact-answer">', 1)[1].split("</p>", 1)[0]
    assert head == "Answer: <strong>&lt;img src=x onerror=alert(1)&gt;</strong> (passage 1)"
    assert '<strong class="qa-exact">' in html and "<img" not in html
    refused = answer_html(Answer("q?", False, [p]))
    assert "qa-exact-answer" not in refused and "qa-exact" not in refused  # a refusal marks nothing
