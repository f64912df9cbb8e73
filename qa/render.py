"""The chat's HTML: an answer as citation cards, a whole document with a passage marked, the list of documents.

Every piece of corpus text goes through `escape` and nothing else reaches the
page from a document: ``<img onerror=…>``, ``**bold**``, ``[links](…)``,
``${template}`` and ``{{handlebars}}`` all show as the characters they are.
The page's script (`qa.ui`) finds what a button refers to in its ``value``
(the only attribute besides ``class`` that Gradio's sanitiser keeps on a
button in a chat message).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from qa.answer import NOT_ANSWERED, Answer, Passage, collapse_space, marked_spans
from qa.dates import stated_date
from qa.documents import Document, Section

# Passages more than this far below the best one (in ranker log-odds: about 50 times less likely to be
# the answer) are folded under "more passages"; the best one always shows.
FOLD_GAP = 4.0

SECTION_LABELS: dict[Section, str] = {
    "article": "article",
    "comment": "reader comment",
    "boilerplate": "page furniture",
}

_EXACT_OPENS = '<p class="qa-exact-answer">Answer: <strong>'  # the exact answer's line (`shown_exact_answer`)
_SHOWN_EXACT = re.compile(re.escape(_EXACT_OPENS) + r"(?P<answer>[^<]*)</strong>")
_TEMPLATE_MARKS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


def escape(text: str) -> str:
    """Corpus text as inert HTML: markup escaped, and the marks of Gradio's templates too."""
    return html.escape(text, quote=True).translate(_TEMPLATE_MARKS)


def folded_from(answer: Answer, gap: float = FOLD_GAP) -> int:
    """How many of the answer's passages show before "more passages" (at least one, at most all).

    Passages within ``gap`` of the best show, and so does every passage that "Sources differ" cites: a figure or
    name set beside the answer's is never hidden under the fold.
    """
    if not answer.passages:
        return 0
    best = answer.passages[0].score
    close = 1 + sum(1 for p in answer.passages[1:] if p.score >= best - gap)
    cited = [c.passage + 1 for d in answer.disagreements for c in d.claims]
    return max([close, *cited])


def answer_html(
    answer: Answer,
    *,
    dates: dict[str, str | None] | None = None,
    seconds: float | None = None,
    gap: float = FOLD_GAP,
) -> str:
    """The chat reply: a refusal first if the corpus does not answer, then the cards, then what the search did.

    ``dates``: each document's stated date (`stated_date`), by doc id, for the
    cards.  ``seconds``: how long the search took.
    """
    dates = dates or {}
    parts = []
    if answer.context:
        parts.append(f'<p class="qa-read-as">Read as: <em>{escape(answer.context)}</em></p>')
    if not answer.answered:
        parts.append(f'<p class="qa-refusal"><strong>{escape(NOT_ANSWERED)}</strong></p>')
        if answer.passages:
            parts.append('<p class="qa-note">The closest passages, which do not seem to answer it:</p>')
            parts += [card(p, n, marked=False, date=dates.get(p.doc_id)) for n, p in enumerate(answer.passages, 1)]
    else:
        exact = answer.passages[0].answer_text if answer.passages else None
        if exact:  # the reader's exact answer, verbatim, above the passage it stands in
            shown_exact = escape(collapse_space(exact).strip())
            parts.append(f'{_EXACT_OPENS}{shown_exact}</strong> (passage 1)</p>')
        parts += [_differ(answer)] if answer.disagreements else []
        shown = folded_from(answer, gap)
        cards = [card(p, n, marked=True, date=dates.get(p.doc_id)) for n, p in enumerate(answer.passages, 1)]
        parts += cards[:shown]
        if cards[shown:]:
            rest = len(cards) - shown
            parts.append(
                f'<details class="qa-more"><summary>{rest} more passage{"s" * (rest > 1)}, less likely to answer'
                f"</summary>{''.join(cards[shown:])}</details>"
            )
    parts.append(_footer(answer, seconds))
    return f'<div class="qa-answer">{"".join(parts)}</div>'


def card(p: Passage, number: int, *, marked: bool, date: str | None = None) -> str:
    """One passage: the quote (its answering words marked when ``marked``), then its citation and actions."""
    quote = _quote(p) if marked else escape(collapse_space(p.text))
    place = p.place()
    meta = [f'<span class="qa-title">{escape(p.title)}</span>']
    if p.source:
        meta.append(f'<span class="qa-outlet">{escape(p.source)}</span>')
    meta.append(f'<span class="qa-badge qa-badge-{p.section}">{SECTION_LABELS[p.section]}</span>')
    meta.append(f'<span class="qa-place">{place}</span>')
    if date:
        meta.append(f'<span class="qa-date">{escape(date)}</span>')
    return (
        f'<div class="qa-card qa-{p.section}">'
        f'<blockquote class="qa-quote"><span class="qa-n">{number}</span> {quote}</blockquote>'
        f'<div class="qa-cite">{" · ".join(meta)}</div>'
        f'<div class="qa-actions"><span class="qa-docid">{escape(p.doc_id)}, chars {p.start}–{p.end}</span>'
        f'<button class="qa-open" value="{escape(passage_ref(p))}">Open in document</button>'
        f'<button class="qa-copy" value="{escape(copy_text(p))}">Copy citation</button></div>'
        "</div>"
    )


def passage_ref(p: Passage) -> str:
    """What an "open" button carries: ``doc_id:start:end`` (`parse_ref` reads it back)."""
    return f"{p.doc_id}:{p.start}:{p.end}"


def parse_ref(ref: object) -> tuple[str, int, int]:
    """``(doc_id, start, end)`` of a `passage_ref`; `ValueError` naming the value for anything else."""
    try:
        doc_id, start, end = str(ref).rsplit(":", 2)
        return doc_id, int(start), int(end)
    except ValueError:
        raise ValueError(f"not a passage reference: {ref!r}") from None


def shown_exact_answer(reply: str) -> str | None:
    """The exact answer a reply of `answer_html` showed, as text (None: it showed none): what a follow-up reads."""
    shown = _SHOWN_EXACT.search(reply)
    return html.unescape(shown.group("answer")) if shown else None


def copy_text(p: Passage) -> str:
    """The citation a reader pastes: the quoted passage, then title, outlet, section and place."""
    return f"“{collapse_space(p.text).strip()}” — {p.citation()}"


def document_html(document: Document, start: int, end: int, highlights: Sequence[tuple[int, int]] = ()) -> str:
    """The whole document, the passage ``[start, end)`` marked (``id="qa-here"``), its answering words in bold.

    `ValueError` when the span is not inside the document.
    """
    text = document.text
    if not (0 <= start < end <= len(text)):
        raise ValueError(f"chars {start}–{end} are not inside {document.doc_id} ({len(text)} characters)")
    inside = marked_spans(text[start:end], start, highlights, escape, lambda s: f"<strong>{escape(s)}</strong>")
    date = stated_date(text)
    head = [f"<h3>{escape(document.title)}</h3>", '<p class="qa-doc-meta">']
    head.append(" · ".join(escape(x) for x in (document.source, date, document.doc_id) if x))
    head.append("</p>")
    return (
        f'<div class="qa-document">{"".join(head)}<div class="qa-doc-text">{escape(text[:start])}'
        f'<mark id="qa-here" class="qa-here">{inside}</mark>{escape(text[end:])}</div></div>'
    )


def documents_html(documents: Iterable[Document], uploaded: Iterable[str] = (), footnote: str = "") -> str:
    """A table of the documents: title, outlet, date, kind (format, and whether the visitor uploaded it); then
    ``footnote`` (what is not listed), as text."""
    mine = set(uploaded)
    rows = []
    for d in documents:
        kind = d.doc_id.rsplit(".", 1)[-1].upper() if "." in d.doc_id else "text"
        if d.doc_id in mine:
            kind += " · your file"
        sources = sorted({s.source for s in d.segments if s.source} | ({d.source} if d.source else set()))
        rows.append(
            f"<tr><td>{escape(d.title)}</td><td>{escape(', '.join(sources))}</td>"
            f"<td>{escape(stated_date(d.text) or '')}</td><td>{escape(kind)}</td></tr>"
        )
    if footnote:
        rows.append(f'<tr class="qa-more"><td colspan="4">{escape(footnote)}</td></tr>')
    return (
        '<table class="qa-documents"><thead><tr><th>Title</th><th>Outlet</th><th>Date</th><th>Kind</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _differ(answer: Answer) -> str:
    """ "Sources differ": each differing figure beside its outlet and whom it is attributed to."""
    items = []
    for d in answer.disagreements:
        for c in d.claims:
            items.append(f"<li><strong>{escape(c.figure)}</strong> — {escape(answer.claim_origin(c))}</li>")
    return f'<div class="qa-differ"><strong>Sources differ:</strong><ul>{"".join(items)}</ul></div>'


def _footer(answer: Answer, seconds: float | None) -> str:
    facts = []
    if answer.passages:
        facts.append(f"Confidence that the corpus answers this: {answer.confidence:.0%}")
    if answer.considered:
        facts.append(f"{answer.considered} passages considered")
    if seconds is not None:
        facts.append(f"searched in {seconds * 1000:.0f} ms")
    return f'<p class="qa-footer">{" · ".join(facts)}</p>'


def _quote(p: Passage) -> str:
    """The passage escaped, its answering sentence marked lightly and the reader's exact answer strongly."""
    cuts = {p.start, p.end}
    for a, b in [*p.highlights, *([p.answer] if p.answer else [])]:
        cuts.update(x for x in (a, b) if p.start <= x <= p.end)
    points = sorted(cuts)
    out, marking = [], False
    for a, b in zip(points, points[1:], strict=False):
        lit = any(h0 <= a and b <= h1 for h0, h1 in p.highlights)
        if lit != marking:
            out.append('<mark class="qa-hl">' if lit else "</mark>")
            marking = lit
        text = p.text[a - p.start : b - p.start]
        piece = escape(collapse_space(text) or (" " if text else ""))
        exact = p.answer is not None and p.answer[0] <= a and b <= p.answer[1]
        out.append(f'<strong class="qa-exact">{piece}</strong>' if exact else piece)
    return "".join(out) + ("</mark>" if marking else "")
