"""What a question gets back: `Answer` and `Passage`, as data, Markdown or JSON.

Every piece of corpus text is escaped before it is rendered: it is data, and a
page that contains ``<script>`` or ``**`` must show those characters, not run
or format them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from qa.disagreement import Claim, Disagreement
from qa.documents import Section

NOT_ANSWERED = "The corpus does not seem to answer this question."


@dataclass
class Passage:
    """A verbatim span of a document with its citation."""

    doc_id: str  # path relative to the corpus folder
    start: int
    end: int
    text: str  # == document.text[start:end]
    score: float
    title: str  # the piece's headline in a roundup, else the document's title
    source: str | None  # the outlet, when the page names one
    section: Section
    highlights: list[tuple[int, int]] = field(default_factory=list)  # document offsets inside [start, end)
    paragraph: int = 0  # 1-based paragraph (line) of the document where the passage starts
    page: int | None = None  # 1-based page where the passage starts (PDF), None for formats without pages
    page_end: int | None = None  # the page where it ends, when that is another (a sentence run on to the next page)
    answer: tuple[int, int] | None = None  # document offsets of the exact answer the reader marked inside it

    @property
    def answer_text(self) -> str | None:
        """The exact answer the reader marked, verbatim (None when it marked none)."""
        return self.text[self.answer[0] - self.start : self.answer[1] - self.start] if self.answer else None

    def place(self) -> str:
        """Where it stands: its page or pages ("p. 3", "pp. 1–2"), else its paragraph ("¶4")."""
        if self.page is None:
            return f"¶{self.paragraph}"
        return f"pp. {self.page}–{self.page_end}" if self.page_end else f"p. {self.page}"

    def citation(self) -> str:
        """Plain-text citation: title, outlet, section and place in the document."""
        parts = [f"“{self.title}”"]
        if self.source:
            parts.append(self.source)
        parts.append({"comment": "reader comment"}.get(self.section, self.section))
        parts.append(f"{self.doc_id}, {self.place()}, chars {self.start}–{self.end}")
        return " · ".join(parts)


@dataclass
class Answer:
    """The passages that answer a question, best first, or an honest "not in the corpus"."""

    question: str
    answered: bool
    passages: list[Passage]
    confidence: float = 0.0  # in [0, 1]
    disagreements: list[Disagreement] = field(default_factory=list)  # figures that differ between passages
    context: str | None = None  # the question as read with what it took from earlier ones (`qa.followup`)
    considered: int = 0  # how many candidate passages were ranked to choose these
    reader: str | None = None  # the reader that marked the answers and weighed in (`qa.reader.fingerprint`)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable data, for the API and the CLI."""
        data = asdict(self)
        for p in data["passages"]:
            p["highlights"] = [list(h) for h in p["highlights"]]
            p["answer"] = list(p["answer"]) if p["answer"] else None
        for p, passage in zip(data["passages"], self.passages, strict=True):
            p["answer_text"] = passage.answer_text
        return data

    def claim_origin(self, claim: Claim) -> str:
        """Where a differing figure comes from: its outlet (else its document's title), whom it is attributed to,
        and its passage."""
        origin = claim.source or self.passages[claim.passage].title
        if claim.attributed_to:
            origin += f", attributed to {claim.attributed_to}"
        return f"{origin} (passage {claim.passage + 1})"

    def to_markdown(self) -> str:
        """The chat reply: each passage as a quote with its highlight in bold and its citation."""
        lines: list[str] = []
        if self.context:
            lines += [f"*Read as: {escape_markdown(self.context)}*", ""]
        if not self.answered:
            lines.append(f"**{NOT_ANSWERED}**")
            if self.passages:
                lines.append("")
                lines.append("The closest passages, which may not be relevant:")
        if self.answered and self.passages and self.passages[0].answer_text:
            lines += [f"**Answer:** “{escape_markdown(collapse_space(self.passages[0].answer_text))}” (passage 1)"]
        for d in self.disagreements:
            lines += ["", "**Sources differ:**"]
            lines += [f"- **{escape_markdown(c.figure)}** — {escape_markdown(self.claim_origin(c))}" for c in d.claims]
        for number, p in enumerate(self.passages, 1):
            lines.append("")
            lines.append(f"> **{number}.** " + _quote(p))
            lines.append("")
            lines.append(f"— {escape_markdown(p.citation())}")
        if self.passages:
            lines += ["", f"*Confidence that the corpus answers this: {self.confidence:.0%}*"]
        return "\n".join(lines).strip()

    def to_text(self, bold: bool = False) -> str:
        """The reply for a terminal: plain text, highlights in ANSI bold when ``bold``."""
        on, off = ("\033[1m", "\033[0m") if bold else ("", "")
        lines = [] if self.answered else [NOT_ANSWERED, "The closest passages, which may not be relevant:"]
        if self.answered and self.passages and self.passages[0].answer_text:
            lines += [f"Answer: “{on}{collapse_space(self.passages[0].answer_text)}{off}” (passage 1)", ""]
        for d in self.disagreements:
            lines += ["Sources differ:"] + [f"  - {c.figure}: {self.claim_origin(c)}" for c in d.claims] + [""]
        for number, p in enumerate(self.passages, 1):
            quote = _render(p, lambda s: s, lambda s: f"{on}{s}{off}")
            lines += ["", f"{number}. {quote}", f"   — {p.citation()}"]
        return "\n".join(lines).strip()


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_markdown(text: str) -> str:
    """Text shown literally by a Markdown renderer: HTML escaped, Markdown punctuation backslashed.

    Colons become ``&#58;`` so that GitHub-style autolinking never turns a URL
    in the corpus into a live link.
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace(":", "&#58;")


def _quote(p: Passage) -> str:
    """The passage for Markdown: escaped, highlighted spans in bold."""
    # <strong>, not **: "**…**" stops being bold when a word follows the closing mark without a space.
    return _render(p, escape_markdown, lambda s: f"<strong>{escape_markdown(s)}</strong>")


def _render(p: Passage, plain: Callable[[str], str], marked: Callable[[str], str]) -> str:
    """The passage with white space collapsed, each piece through ``plain`` or, if highlighted, ``marked``."""
    return marked_spans(
        p.text, p.start, p.highlights, lambda s: plain(collapse_space(s)), lambda s: marked(collapse_space(s))
    )


def marked_spans(
    text: str, offset: int, spans: Sequence[tuple[int, int]], plain: Callable[[str], str], marked: Callable[[str], str]
) -> str:
    """``text`` (which starts at document offset ``offset``) with each of ``spans`` inside it through ``marked``,
    the rest through ``plain``; overlapping or outlying spans are skipped."""
    pieces, cursor, end = [], offset, offset + len(text)
    for start, stop in sorted(spans):
        if start < cursor or not (offset <= start < stop <= end):
            continue
        pieces.append(plain(text[cursor - offset : start - offset]))
        pieces.append(marked(text[start - offset : stop - offset]))
        cursor = stop
    pieces.append(plain(text[cursor - offset :]))
    return "".join(pieces)


def collapse_space(text: str) -> str:
    """Runs of white space as one space, keeping a space at either end if there was one."""
    collapsed = " ".join(text.split())
    if collapsed and text[:1].isspace():
        collapsed = " " + collapsed
    if collapsed and text[-1:].isspace():
        collapsed += " "
    return collapsed
