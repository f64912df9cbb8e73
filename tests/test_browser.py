"""The chat in a real headless browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil

import pytest

import qa
from tests.ui_helpers import MARKUP_DOC, served

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

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def ask_in_page(browser, url: str, question: str, expect_text: str):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(url)
    box = page.locator('textarea[data-testid="textbox"]')
    expect(box).to_be_visible(timeout=30_000)
    box.fill(question)
    box.press("Enter")
    bot = page.locator('[data-testid="bot"]').last
    expect(bot).to_contain_text(expect_text, timeout=30_000)
    return page, bot


def test_question_gets_quoted_cited_passages(browser, tmp_path):
    with served(qa.load(strict=True)) as url:
        page, bot = ask_in_page(browser, url, "From which base did the US jets take off to strike rebels?", "Incirlik")
        assert bot.locator("blockquote").count() >= 1  # passages shown as quotes
        assert bot.locator("strong").count() >= 1  # the answering sentence is marked
        assert "debkafile" in bot.inner_text()  # the outlet of that roundup piece
        page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
        page.close()


def test_corpus_markup_shows_as_text(browser, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_text(MARKUP_DOC)
    engine = qa.build(corpus, tmp_path / "index", embedder=qa.HashEmbedder())
    with served(engine) as url:
        page, bot = ask_in_page(browser, url, "Zanzibar harbour bridge sign engineers", "Zanzibar")
        text = bot.inner_text()
        assert "<script>alert(1)</script>" in text  # shown, not run
        assert "**not bold**" in text
        assert "[a link](http://example.com)" in text
        assert bot.locator("script").count() == 0
        assert bot.locator("a[href='http://example.com']").count() == 0
        page.close()


def test_a_follow_up_is_read_with_the_question_before_it(browser, tmp_path):
    from playwright.sync_api import expect

    with served(qa.load(strict=True)) as url:
        page, _ = ask_in_page(browser, url, "How many people were killed in the Tartus bombing?", "Tartus")
        box = page.locator('textarea[data-testid="textbox"]')
        box.fill("What about Jableh?")
        box.press("Enter")
        expect(page.locator('[data-testid="bot"]')).to_have_count(2, timeout=30_000)
        bot = page.locator('[data-testid="bot"]').last
        expect(bot).to_contain_text("Read as: How many people were killed in the Jableh bombing?", timeout=30_000)
        assert "Jableh" in bot.inner_text()
        page.screenshot(path=str(tmp_path / "follow-up.png"), full_page=True)
        page.close()
