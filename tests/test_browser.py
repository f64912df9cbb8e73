"""The chat in a real headless browser (Debian's Chromium driven by Playwright), used as a person would.

A failing test leaves a screenshot in ``test-artifacts/``.  With
``QA_DOCS_SCREENSHOTS=1`` the tests of the six main views also save them to
``docs/screenshots/`` (what the README shows).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import qa
from tests.conftest import REPO_ROOT
from tests.test_formats import pdf_bytes
from tests.ui_helpers import served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DOCS_SHOTS = REPO_ROOT / "docs" / "screenshots"
WAIT = 30_000  # ms: the first answer of a fresh server loads the models

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")

HOSTILE_DOC = (
    "Harbour notice\n\n"
    "The harbour bridge at Zanzibar was closed on Monday. Engineers wrote <img src=x onerror=alert(1)> "
    "and <script>alert(2)</script> and **not bold** and [a link](http://example.com) and ${alert(3)} "
    "and {{constructor}} on the sign.\n"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def url():
    with served(qa.load(strict=True)) as address:
        yield address


@pytest.fixture
def page(browser, request):
    """A fresh page (its own browser session); screenshotted into test-artifacts/ if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    """One of the six main views, for the README (only when asked: they are committed)."""
    if os.environ.get("QA_DOCS_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"))


def ask(page, question: str, replies: int = 1):
    """Type ``question``, press Enter, and return the reply once it has come (the ``replies``-th)."""
    from playwright.sync_api import expect

    box = page.locator("#qa-question textarea")
    expect(box).to_be_visible(timeout=WAIT)
    box.fill(question)
    box.press("Enter")
    bots = page.locator('#qa-chat [data-testid="bot"]')
    expect(bots).to_have_count(replies, timeout=WAIT)
    reply = bots.last
    expect(reply.locator(".qa-footer")).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(300)  # the reply is scrolled to its start after it renders
    return reply


def visible_in(page, inner, outer) -> bool:
    """Whether ``inner``'s top lies within ``outer``'s visible box and the window."""
    a, b = inner.bounding_box(), outer.bounding_box()
    height = page.viewport_size["height"]
    return b["y"] - 1 <= a["y"] <= min(b["y"] + b["height"], height) - 20


def test_the_best_passage_opens_at_the_top_of_the_reply_with_its_citation(page, url):
    page.goto(url)
    ask(page, "How many fighters does ISIS still have in Syria?")  # a first reply fills the chat
    reply = ask(page, "From which base did the US jets take off to strike rebels?", replies=2)
    first = reply.locator(".qa-card").first
    assert "Incirlik" in first.inner_text()
    assert first.locator("mark.qa-hl").count() >= 1  # the answering words are marked
    assert "debkafile" in first.locator(".qa-outlet").inner_text()  # the outlet of that roundup piece
    assert first.locator(".qa-badge").inner_text() == "article"
    assert visible_in(page, first, page.locator("#qa-chat"))  # opened at its start, not scrolled to its end
    assert "passages considered" in reply.locator(".qa-footer").inner_text()
    shot(page, "answer")


def test_on_a_phone_too_a_reply_opens_at_its_start(browser, url):
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    try:
        page.goto(url)
        ask(page, "How many fighters does ISIS still have in Syria?")
        reply = ask(page, "How many people were killed in the Tartus bombing?", replies=2)
        first = reply.locator(".qa-card").first
        assert visible_in(page, first, page.locator("#qa-chat"))
    finally:
        phone.close()


def overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes overlap."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and (
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
    )


def test_on_a_phone_the_question_box_is_on_the_first_screen_and_no_button_breaks_a_word(browser, url):
    from playwright.sync_api import expect

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    try:
        page.goto(url)
        box = page.locator("#qa-question textarea")
        expect(box).to_be_visible(timeout=WAIT)
        page.wait_for_timeout(300)
        top = box.bounding_box()
        assert top["y"] + top["height"] <= 844, top  # typed into without scrolling
        shot(page, "phone")
        reply = ask(page, "How many people were killed in the Tartus bombing?")
        lines = "e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)"
        for button in reply.locator(".qa-actions button").all():
            if button.is_visible():  # one line: "Open in document", never "docume nt"
                assert button.evaluate(lines) < 1.9, button.inner_text()
    finally:
        phone.close()


def test_on_a_laptop_the_chat_keeps_its_width_with_a_document_open_and_nothing_covers_a_reply(page, url):
    from playwright.sync_api import expect

    page.goto(url)
    reply = ask(page, "How many people were killed in the Tartus bombing?")
    first = page.locator('#qa-chat [data-testid="user"]').first.bounding_box()
    buttons = [b.bounding_box() for b in reply.locator(".qa-actions button").all() if b.is_visible()]
    assert buttons
    covers = page.locator("#qa-chat label, #qa-chat [data-testid='block-label'], #qa-chat .icon-button-wrapper").all()
    for cover in (c.bounding_box() for c in covers if c.is_visible()):
        assert not overlap(cover, first) and not any(overlap(cover, b) for b in buttons), cover
    reply.locator("button.qa-open").first.click()
    expect(page.locator("#qa-document #qa-here")).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(400)
    assert page.locator("#qa-chat").bounding_box()["width"] >= 560


def test_names_that_differ_between_outlets_show_side_by_side(page, url):
    page.goto(url)
    reply = ask(page, "Who is responsible for the bombings on Syria's coast?")
    differ = reply.locator(".qa-differ")
    text = differ.inner_text()
    assert text.startswith("Sources differ:")
    items = differ.locator("li")
    assert items.count() == 2
    assert "Ahrar al-Sham" in text and "Islamic State" in text
    assert "attributed to both Prime Minister Wael al-Halqi and the Foreign Ministry" in text
    cited = max(int(n) for n in re.findall(r"\(passage (\d+)\)", text))
    assert reply.locator(":scope .qa-answer > .qa-card").count() >= cited  # what it cites is not folded away
    shot(page, "names")


def test_weak_passages_fold_and_a_refusal_shows_no_highlights(page, url):
    page.goto(url)
    reply = ask(page, "Who was Zahran Alloush?")
    shown = reply.locator(":scope .qa-answer > .qa-card")
    assert 1 <= shown.count() < 5
    assert reply.locator("details.qa-more .qa-card").count() == 5 - shown.count()
    assert not reply.locator("details.qa-more .qa-card").first.is_visible()  # folded until opened
    refusal = ask(page, "How long should I boil an egg?", replies=2)
    assert refusal.locator(".qa-answer > *").first.inner_text().startswith("The corpus does not seem to answer")
    assert refusal.locator("mark").count() == 0
    assert refusal.locator(".qa-card").count() >= 1  # the closest passages, shown plainly


def test_a_citation_opens_the_whole_document_at_the_passage(page, url):
    from playwright.sync_api import expect

    page.goto(url)
    reply = ask(page, "Who was Zahran Alloush?")
    card = reply.locator(".qa-card").first
    card.locator("button.qa-open").click()
    here = page.locator("#qa-document #qa-here")
    expect(here).to_be_visible(timeout=WAIT)
    page.wait_for_timeout(400)
    quote = " ".join(card.locator(".qa-quote").inner_text().split()[1:])  # without its number
    assert " ".join(here.inner_text().split()) == quote
    document = page.locator("#qa-document .qa-doc-text").inner_text()
    assert len(document) > 3 * len(quote)  # the whole document, not the passage alone
    box, height = here.bounding_box(), page.viewport_size["height"]
    assert 0 <= box["y"] <= height - 20  # scrolled to the passage
    shot(page, "document")
    card.locator("button.qa-copy").click()
    expect(card.locator("button.qa-copy")).to_have_text("Copied", timeout=5_000)
    copied = page.evaluate("navigator.clipboard.readText()")
    assert quote[:40] in copied and card.locator(".qa-title").inner_text() in copied


def test_a_section_filter_keeps_only_reader_comments(page, url):
    page.goto(url)
    page.get_by_role("checkbox", name="article", exact=True).uncheck()
    page.get_by_role("checkbox", name="page furniture").uncheck()
    reply = ask(page, "What do readers think about Russia and ISIS?")
    cards = reply.locator(".qa-card")
    assert cards.count() >= 1
    assert all(c.get_attribute("class").split()[-1] == "qa-comment" for c in cards.all())
    assert {b.text_content().lower() for b in reply.locator(".qa-badge").all()} == {"reader comment"}  # folded too
    shot(page, "filters")


def test_the_documents_panel_finds_documents_by_title_words(page, url):
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_text("Documents (5)").click()
    rows = page.locator(".qa-documents tbody tr")
    expect(rows).to_have_count(5)
    page.locator("#qa-find textarea, #qa-find input").first.fill("haunts")
    page.locator("#qa-find textarea, #qa-find input").first.press("Enter")
    expect(rows).to_have_count(1, timeout=WAIT)
    assert "ISIL haunts Syria" in rows.first.text_content()
    page.locator("#qa-find textarea, #qa-find input").first.fill("platypus")
    page.get_by_role("button", name="Find").click()
    expect(rows.first).to_contain_text("No document's name or title matches “platypus”.", timeout=WAIT)


def test_an_empty_question_adds_no_bubble(page, url):
    from playwright.sync_api import expect

    page.goto(url)
    box = page.locator("#qa-question textarea")
    expect(box).to_be_visible(timeout=WAIT)
    assert "Ask the documents a question" in box.get_attribute("placeholder")
    box.fill("   ")
    box.press("Enter")
    page.wait_for_timeout(1_500)
    assert page.locator('#qa-chat [data-testid="user"]').count() == 0
    assert page.locator('#qa-chat [data-testid="bot"]').count() == 0


def test_a_follow_up_is_read_with_the_question_before_it(page, url):
    page.goto(url)
    ask(page, "How many people were killed in the Tartus bombing?")
    reply = ask(page, "What about Jableh?", replies=2)
    assert "Read as: How many people were killed in the Jableh bombing?" in reply.inner_text()
    assert "Jableh" in reply.locator(".qa-card").first.inner_text()
    shot(page, "follow-up")


def upload(page, path: Path) -> None:
    from playwright.sync_api import expect

    page.get_by_text("Your files").first.click()
    page.locator('input[type="file"]').set_input_files(str(path))
    expect(page.locator("#qa-files-note")).to_contain_text("Added", timeout=WAIT)


def test_an_uploaded_pdf_answers_in_this_session_only(page, browser, url, tmp_path):
    from playwright.sync_api import expect

    pdf = tmp_path / "wombat survey.pdf"
    pdf.write_bytes(
        pdf_bytes([["Wombat Survey 2024"], ["Rangers counted 4,312 wombats in Tasmania's Narawntapu park in 2024."]])
    )
    page.goto(url)
    upload(page, pdf)
    expect(page.locator("#qa-mine")).to_contain_text("wombat_survey.pdf")
    reply = ask(page, "How many wombats did rangers count in Narawntapu?")
    first = reply.locator(".qa-card").first
    assert "4,312" in first.inner_text() and "p. 2" in first.inner_text()
    shot(page, "upload")
    other = browser.new_page()  # another visitor does not see it
    try:
        other.goto(url)
        theirs = ask(other, "How many wombats did rangers count in Narawntapu?")
        assert "4,312" not in theirs.inner_text()
    finally:
        other.close()
    page.get_by_role("checkbox", name="wombat_survey.pdf").check()
    page.get_by_role("button", name="Remove selected").click()
    expect(page.locator("#qa-files-note")).to_contain_text("Removed 1", timeout=WAIT)
    again = ask(page, "How many wombats did rangers count in Narawntapu?", replies=2)
    assert "4,312" not in again.inner_text()


def test_indexing_progress_shows_while_an_upload_is_indexed(page, url, tmp_path):
    import random

    from playwright.sync_api import expect

    rng = random.Random(7)
    words = "ranger river survey count island harbour bridge storm festival market council report".split()
    lines = [" ".join(rng.choice(words) for _ in range(14)).capitalize() + "." for _ in range(2_500)]
    big = tmp_path / "field notes.txt"
    big.write_text("Field notes\n\n" + "\n\n".join(" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)))
    page.goto(url)
    page.get_by_text("Your files").first.click()
    page.locator('input[type="file"]').set_input_files(str(big))
    expect(page.get_by_text(re.compile(r"embedding: \d+ of \d+")).first).to_be_visible(timeout=WAIT)
    expect(page.locator("#qa-files-note")).to_contain_text("Added 1 file", timeout=120_000)


def test_an_unreadable_upload_is_named_and_nothing_else_is_lost(page, url, tmp_path):
    from playwright.sync_api import expect

    good, bad = tmp_path / "notes.txt", tmp_path / "broken.pdf"
    good.write_text("Kiwi notes\n\nRangers fitted forty kiwi chicks with radio tags in 2023.\n")
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    page.goto(url)
    page.get_by_text("Your files").first.click()
    page.locator('input[type="file"]').set_input_files([str(good), str(bad)])
    note = page.locator("#qa-files-note")
    expect(note).to_contain_text("broken.pdf could not be read", timeout=WAIT)
    expect(page.locator("#qa-mine")).to_contain_text("notes.txt")
    assert "broken.pdf" not in page.locator("#qa-mine").inner_text()
    reply = ask(page, "How many kiwi chicks got radio tags?")
    assert "forty kiwi chicks" in reply.locator(".qa-card").first.inner_text()


def test_document_markup_shows_as_text_and_runs_nothing(page, browser, tmp_path):
    from playwright.sync_api import expect

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(HOSTILE_DOC)
    engine = qa.build(corpus, tmp_path / "index", embedder=qa.HashEmbedder())
    with served(engine) as address:
        page.goto(address)
        reply = ask(page, "Zanzibar harbour bridge sign engineers")
        text = reply.inner_text()
        for literal in [
            "<img src=x onerror=alert(1)>",
            "<script>alert(2)</script>",
            "**not bold**",
            "[a link](http://example.com)",
            "${alert(3)}",
            "{{constructor}}",
        ]:
            assert literal in text
        assert reply.locator("img, script, a[href='http://example.com']").count() == 0
        reply.locator("button.qa-open").first.click()
        view = page.locator("#qa-document")
        expect(view.locator("#qa-here")).to_be_visible(timeout=WAIT)
        assert "<img src=x onerror=alert(1)>" in view.inner_text()
        assert view.locator("img, script").count() == 0
        page.wait_for_timeout(500)
        assert page.dialogs == []  # no alert ran
