"""The Gradio chat: a thin shell over `Engine.ask`, the same call a Python user makes.

The page is a chat (replies are citation cards from `qa.render`), a column
of controls (filters, the number of passages, the visitor's own files, the
list of documents) and a side panel that shows a whole document with a cited
passage marked.  A visitor's uploads live in that browser session's state
(`Uploads`, an `Engine.overlay` over the shared index): nothing is written to
the corpus, and no other visitor sees them.
"""

from __future__ import annotations

import argparse
import html
import inspect
import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.actors import parser
from qa.answer import Answer, escape_markdown
from qa.dates import stated_date
from qa.documents import DOCUMENT_SUFFIXES, CorpusError
from qa.engine import MAX_K, Engine
from qa.filters import SECTIONS
from qa.followup import Turn
from qa.gradio_import import skip_stub_writing
from qa.models import ModelError
from qa.overlay import upload_names
from qa.processes import AnsweringProcesses
from qa.progress import Progress
from qa.render import SECTION_LABELS, answer_html, document_html, documents_html, escape, parse_ref, shown_exact_answer
from qa.stores.milvus import StoreUnavailableError

skip_stub_writing()  # before Gradio is imported: halves the chat's start-up
# Nothing at run time reaches the network: Gradio would report usage and check for new versions
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402

log = logging.getLogger("qa")

# Questions answered at once, one per core; more wait in Gradio's queue. `ask` holds no per-question
# state, so visitors need not queue behind each other, but on 2 cores 8 asks at once got through
# fewer questions a second than 2 (`benchmarks/latency.py`).
CONCURRENT_QUESTIONS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

EXAMPLES = [
    "How many people were killed in the Tartus bombing?",
    "What did the State Department say about joint air strikes with Russia?",
    "How many fighters does ISIS still have in Syria?",
    "Who is responsible for the bombings on Syria's coast?",
    "Who was Zahran Alloush?",
    "How long should I boil an egg?",
]
PLACEHOLDER = "Ask the documents a question, e.g. “Who was Zahran Alloush?”"
MAX_UPLOADS = 10  # files one browser session may add
MAX_FIND_CHARS = 200  # a search for documents: a few words of a name or title
MAX_LISTED = 200  # documents the page lists (the panel and the filter's choices); an archive's others are found
MAX_UPLOAD_MB = 20  # per file; Gradio refuses larger uploads before they reach us
UPLOAD_NOTE = f"{', '.join(DOCUMENT_SUFFIXES)} · up to {MAX_UPLOADS} files of {MAX_UPLOAD_MB} MB · only you see them"

DESCRIPTION = (
    "Answers are **verbatim passages** from the documents, each with its citation (title · outlet · "
    "article, reader comment or page furniture · place). Nothing is generated or paraphrased; when the "
    "documents do not answer, the reply says so. **Open in document** shows a passage in its place."
)

SEARCH_DOC = (
    "The answer over the shared documents as JSON: answered, confidence, context (the question as read with "
    "the history), and the cited passages, best first."
)
ASK_DOC = "The answer over the shared documents as Markdown: each passage quoted with its citation."
API_ARGS = """

Parameters:
    question: 1 to 2,000 characters.
    k: how many passages, 1 to 50.
    history: the conversation's earlier questions, oldest first, for a follow-up.
    documents: doc ids the passages may come from (all when empty).
    sources: outlets the passages may come from (all when empty).
    sections: any of article, comment, boilerplate (all when empty).
"""

# One listener for the whole page: a card's buttons carry what they refer to in their `value`
# (Gradio's sanitiser keeps no other attribute), "open" hands it to the server through the bridge.
BRIDGE_JS = """
if (!window.qaBridge) {
  window.qaBridge = true;
  document.addEventListener('click', (event) => {
    const button = event.target.closest('button.qa-open, button.qa-copy');
    if (!button) return;
    if (button.classList.contains('qa-copy')) {
      const text = button.value;
      const done = () => {
        button.textContent = 'Copied';
        setTimeout(() => { button.textContent = 'Copy citation'; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {
        const area = document.createElement('textarea');
        area.value = text; document.body.appendChild(area); area.select();
        document.execCommand('copy'); area.remove(); done();
      }
      return;
    }
    props.value = button.value;
    trigger('click');
  });
}
"""
SHOW_PASSAGE_JS = (
    "() => { setTimeout(() => document.getElementById('qa-here')?.scrollIntoView({block: 'center'}), 80); }"
)
SHOW_REPLY_JS = """() => { setTimeout(() => {
  const replies = document.querySelectorAll('#qa-chat [data-testid="bot"]');
  const reply = replies[replies.length - 1];
  let box = reply?.parentElement;
  while (box && box.scrollHeight <= box.clientHeight + 1) box = box.parentElement;
  // just below the chat's label
  if (box) box.scrollTop += reply.getBoundingClientRect().top - box.getBoundingClientRect().top - 44;
}, 80); }"""

CSS = """
<style>
.qa-answer { font-size: var(--text-md); line-height: 1.5; }
.qa-answer strong, .qa-answer mark, .qa-document strong { font-family: inherit; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin: 0 0 10px;
  background: var(--background-fill-primary); }
.qa-card.qa-comment { border-left: 5px solid #c2410c; }
.qa-card.qa-boilerplate { border-left: 5px solid #9ca3af; }
.qa-quote { margin: 0 0 6px; padding: 0; border: none; font-style: normal; }
.qa-n { display: inline-block; min-width: 1.5em; font-weight: 700; color: var(--body-text-color-subdued); }
mark.qa-hl { background: #fde68a; color: inherit; padding: 0; }
strong.qa-exact { font-weight: 700; text-decoration: underline 2px #b45309; text-underline-offset: 2px; }
.qa-exact-answer { margin: 0 0 8px; font-size: 1.05em; }
.qa-exact-answer strong { text-decoration: underline 2px #b45309; text-underline-offset: 2px; }
.qa-cite { font-size: 0.92em; color: var(--body-text-color-subdued); }
.qa-title { font-weight: 600; color: var(--body-text-color); }
.qa-badge { border-radius: 4px; padding: 0 6px; background: #e5e7eb; color: #1f2937; }
.qa-badge-comment { background: #c2410c; color: #fff; font-weight: 700; text-transform: uppercase; font-size: 0.85em; }
.qa-actions { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; margin-top: 6px; font-size: 0.85em; }
.qa-docid { color: var(--body-text-color-subdued); margin-right: auto; overflow-wrap: anywhere; }
.qa-actions button { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 2px 10px;
  cursor: pointer; background: var(--button-secondary-background-fill); white-space: nowrap; }
.qa-documents { display: block; overflow-x: auto; }
@media (max-width: 640px) {  /* a phone: the question box on the first screen */
  #qa-chat { height: 48vh !important; min-height: 0 !important; }
  .qa-docid { flex-basis: 100%; }
}
.qa-refusal { font-size: 1.05em; margin: 0 0 6px; }
.qa-note, .qa-footer, .qa-read-as { color: var(--body-text-color-subdued); font-size: 0.9em; margin: 0 0 8px; }
.qa-more summary { cursor: pointer; color: var(--body-text-color-subdued); margin: 4px 0 8px; }
.qa-differ { border: 1px solid #f59e0b; border-radius: 8px; padding: 6px 12px; margin: 0 0 10px; }
.qa-differ ul { margin: 4px 0 0 1.2em; }
.qa-doc-meta { color: var(--body-text-color-subdued); font-size: 0.9em; }
.qa-doc-text { white-space: pre-wrap; line-height: 1.55; }
mark.qa-here { background: #fef3c7; outline: 2px solid #f59e0b; color: inherit; }
.qa-documents { width: 100%; font-size: 0.9em; }
.qa-documents td, .qa-documents th { padding: 2px 6px; text-align: left; vertical-align: top; }
</style>
"""


def _refusing(control: type) -> type:
    """``control`` whose own check of a value sent through the API (a choice not offered, a number that is none)
    refuses it to the caller as the API's other refusals do, without a traceback in the server's log."""

    def preprocess(self, payload):
        try:
            return control.preprocess(self, payload)
        except gr.Error as exc:
            raise gr.Error(exc.message, print_exception=False) from None
        except (TypeError, ValueError) as exc:
            raise gr.Error(f"not a value this control takes: {payload!r} ({exc})", print_exception=False) from None

    def get_block_name(self) -> str:  # drawn by the browser as the Gradio control it is
        return control.__name__.lower()

    methods = {"preprocess": preprocess, "get_block_name": get_block_name, "__module__": __name__}
    if model := getattr(control, "data_model", None):  # checked before `preprocess`: a chat that is no list of turns

        def model_validate(cls, obj, **options):
            try:
                return model.model_validate.__func__(cls, obj, **options)
            except ValueError as exc:
                raise gr.Error(f"not a value this control takes: {exc}", print_exception=False) from None

        methods["data_model"] = type(model.__name__, (model,), {"model_validate": classmethod(model_validate)})
    return type(control.__name__, (control,), methods)


Chatbot, Slider, Dropdown, CheckboxGroup = map(_refusing, (gr.Chatbot, gr.Slider, gr.Dropdown, gr.CheckboxGroup))


@dataclass(frozen=True)
class Uploads:
    """One browser session's own files, and the engine over the shared index plus them (None: no files)."""

    paths: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # each file's doc id, given when it was added and kept while it stays
    engine: Engine | None = None

    def over(self, shared: Engine) -> Engine:
        """The engine this session's questions go to."""
        return self.engine or shared

    def plus(self, shared: Engine, paths: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The files and doc ids with ``paths`` added (each new one named against all that are there)."""
        fresh = [p for p in dict.fromkeys(paths) if p not in self.paths]  # the same upload twice is one file
        named = upload_names(fresh, [*shared.documents, *self.names])
        return self.paths + tuple(fresh), self.names + tuple(named)

    def without(self, shared: Engine, names: set[str], progress=None) -> Uploads:
        """These uploads less the files named, indexed again (None of them left: no overlay)."""
        kept = [(p, n) for p, n in zip(self.paths, self.names, strict=True) if n not in names]
        return _uploaded(shared, tuple(p for p, _ in kept), tuple(n for _, n in kept), progress)


def build_ui(engine: Engine, k: int = 5, answering: AnsweringProcesses | None = None) -> gr.Blocks:
    """The chat over ``engine``; its API: ``chat``, ``upload``, ``remove`` (per session), ``ask``, ``search``.

    ``answering``: worker processes that answer the questions over ``engine``'s own documents (a session's
    uploads are answered here).
    """
    shared_ask = answering.ask if answering else engine.ask

    def respond(message, chat, k, documents, sources, sections, uploads: Uploads):
        if not isinstance(message, str) or not message.strip():
            gr.Warning("Type a question first.")
            return chat, message
        if not sections:
            gr.Warning("Choose at least one section to search.")
            return chat, message
        current = uploads.over(engine)
        started = time.perf_counter()
        answer = _answer(
            current.ask if uploads.engine else shared_ask,
            message,
            k,
            history=earlier_turns(chat),
            documents=documents,
            sources=sources,
            sections=None if set(sections) >= set(SECTIONS) else sections,
        )
        reply = answer_html(answer, dates=_dates(current, answer), seconds=time.perf_counter() - started)
        turn = [{"role": "user", "content": escape(message)}, {"role": "assistant", "content": reply}]
        return list(chat or []) + turn, ""

    def open_passage(ref, uploads: Uploads):
        try:
            doc_id, start, end = parse_ref(ref)
            return gr.Sidebar(open=True), document_html(uploads.over(engine).document(doc_id), start, end)
        except (KeyError, ValueError) as exc:
            raise gr.Error(f"cannot open that passage: {exc}", print_exception=False) from None

    def add_files(files, chosen, find, uploads: Uploads, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        paths = [str(f) for f in files or []]
        if not paths:
            return _session_view(engine, uploads, chosen, find, "")
        if len(uploads.paths) + len(paths) > MAX_UPLOADS:
            return _session_view(engine, uploads, chosen, find, f"At most {MAX_UPLOADS} files: remove some first.")
        big = [Path(p).name for p in paths if Path(p).stat().st_size > MAX_UPLOAD_MB * 2**20]
        if big:
            note = f"Over {MAX_UPLOAD_MB} MB, not added: {escape_markdown(', '.join(big))}."
            return _session_view(engine, uploads, chosen, find, note)

        def report(event: Progress) -> None:
            progress(event.fraction, desc=f"{event.phase}: {event.done} of {event.total}")

        try:
            new = _uploaded(engine, *uploads.plus(engine, paths), report)
        except CorpusError as exc:
            return _session_view(engine, uploads, chosen, find, f"Not added: {escape_markdown(str(exc))}")
        skipped = new.engine.store.skipped if new.engine else {}
        if skipped:  # indexed again without them, so that they are not reported again
            new = new.without(engine, set(skipped), report)
        note = "; ".join(
            f"{escape_markdown(name)} could not be read: {escape_markdown(why)}" for name, why in skipped.items()
        )
        return _session_view(engine, new, chosen, find, note or f"Added {len(paths)} file(s).")

    def remove_files(doc_ids, chosen, find, uploads: Uploads):
        new = uploads.without(engine, set(doc_ids or []))
        return _session_view(engine, new, chosen, find, f"Removed {len(uploads.paths) - len(new.paths)} file(s).")

    def find_documents(find, chosen, uploads: Uploads):
        return _documents_view(uploads.over(engine), uploads.names, find, chosen)

    first_listed = _listed(engine)  # the page's first listing: the filter's choices and the documents panel
    with gr.Blocks(title="Ask the corpus", fill_height=True, analytics_enabled=False) as demo:
        uploads = gr.State(Uploads())
        gr.Markdown(f"## Ask the corpus\n{DESCRIPTION}")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = Chatbot(
                    elem_id="qa-chat",
                    label="Answers",
                    show_label=False,  # a floating label would cover the first message
                    buttons=[],  # no toolbar over the replies (nor "share", which would post to the Hub)
                    height="68vh",
                    autoscroll=False,  # a reply opens at its start (SHOW_REPLY_JS), not scrolled to its end
                    render_markdown=False,  # replies are HTML built from escaped text (`qa.render`)
                    sanitize_html=True,
                    layout="panel",
                    placeholder="Ask a question below: the reply quotes the documents and cites each passage.",
                )
                question = gr.Textbox(
                    placeholder=PLACEHOLDER,
                    label="Question",  # named in the API page; the box itself shows no label
                    show_label=False,
                    lines=1,
                    max_lines=4,
                    submit_btn="Ask",
                    elem_id="qa-question",
                )
                gr.Examples(EXAMPLES, inputs=question, label="Try")
            with gr.Column(scale=1, min_width=220):  # narrow: with a document open the chat keeps its width
                with gr.Accordion("Filters", open=True):
                    count = Slider(1, min(10, MAX_K), value=k, step=1, label="Passages per answer")
                    sections = CheckboxGroup(
                        [(SECTION_LABELS[s], s) for s in SECTIONS], value=list(SECTIONS), label="Sections"
                    )
                    sources = Dropdown(engine.sources, multiselect=True, value=[], label="Outlets (all when empty)")
                    documents = Dropdown(
                        _document_choices(engine, (), "", [], first_listed),
                        multiselect=True,
                        value=[],
                        label="Documents (all when empty; find more under Documents)",
                    )
                with gr.Accordion("Your files", open=False):
                    files = gr.File(
                        file_count="multiple", file_types=list(DOCUMENT_SUFFIXES), label="Add files", height=120
                    )
                    gr.Markdown(UPLOAD_NOTE)
                    mine = CheckboxGroup([], label="Your files", elem_id="qa-mine")
                    remove = gr.Button("Remove selected", size="sm")
                    files_note = gr.Markdown(label="What happened to the files", elem_id="qa-files-note")
                with gr.Accordion(f"Documents ({len(engine.documents):,})", open=False) as listing_box:
                    find = gr.Textbox(
                        value="",
                        placeholder="Find by file name or title words",
                        show_label=False,
                        submit_btn="Find",
                        max_length=MAX_FIND_CHARS,
                        elem_id="qa-find",
                    )
                    listing = gr.HTML(_documents_table(engine, listed=first_listed), label="Documents listed")
        with gr.Sidebar(open=False, position="right", width="30%", label="Document") as panel:
            document_view = gr.HTML(elem_id="qa-document")
        bridge = gr.HTML("", html_template="", js_on_load=BRIDGE_JS, head=CSS, elem_id="qa-bridge")

        question.submit(
            respond,
            [question, chatbot, count, documents, sources, sections, uploads],
            [chatbot, question],
            api_name="chat",
            api_description="The chat's own step (per browser session, uploads included): the conversation "
            "with the reply appended as HTML citation cards.",
        ).then(None, js=SHOW_REPLY_JS)
        bridge.click(open_passage, [bridge, uploads], [panel, document_view], api_visibility="private").then(
            None, js=SHOW_PASSAGE_JS
        )
        find.submit(find_documents, [find, documents, uploads], [documents, listing], api_visibility="private")
        session_outputs = [uploads, mine, documents, listing_box, listing, files_note]

        def one_change_at_a_time(event, other, fn, inputs, api_name: str, description: str, done: tuple):
            """``fn`` on ``event``, the ``other`` control of the session's files disabled until it is done."""
            event(_busy, None, other, queue=False, api_visibility="private").then(
                fn, inputs, session_outputs, api_name=api_name, api_description=description
            ).then(*done, api_visibility="private")

        one_change_at_a_time(
            files.upload, remove, add_files, [files, documents, find, uploads], "upload",
            "Add files to this session's documents; returns its files and what happened.",
            (_idle_upload, None, [files, remove]),
        )  # fmt: skip
        one_change_at_a_time(
            remove.click, files, remove_files, [mine, documents, find, uploads], "remove",
            "Remove this session's files by doc id.", (_idle, None, files),
        )  # fmt: skip
        gr.api(_endpoint(shared_ask, k, Answer.to_dict, dict, SEARCH_DOC), api_name="search")
        gr.api(_endpoint(shared_ask, k, Answer.to_markdown, str, ASK_DOC), api_name="ask")
    demo.queue(default_concurrency_limit=max(CONCURRENT_QUESTIONS, answering.processes if answering else 1))
    return demo


def earlier_turns(history: object) -> list[Turn]:
    """The visitor's earlier questions in a chat history, oldest first, each with the exact answer its reply showed
    (None: none): what `Engine.ask` reads follow-ups with.

    Gradio passes messages (``{"role": "user", "content": "..."}``, the
    content maybe a list of parts with ``"text"``, escaped as the chat shows
    it); anything else is skipped.
    """
    turns: list[Turn] = []
    for message in history if isinstance(history, list) else []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str) or not content.strip():
            continue
        if message.get("role") == "user":
            turns.append((html.unescape(content), None))
        elif message.get("role") == "assistant" and turns and (shown := shown_exact_answer(content)):
            turns[-1] = (turns[-1][0], shown)
    return turns


def _endpoint(
    ask: Callable[..., Answer], k: int, render: Callable[[Answer], object], returns: type, doc: str
) -> Callable:
    """An API endpoint over the shared documents taking `Engine.ask`'s arguments, returning ``render(answer)``.

    Its signature is spelled out with evaluated types (this module's hints
    are strings), so that Gradio's API page shows them.
    """

    def endpoint(
        question: str,
        k: int = k,
        history: list[str] | None = None,
        documents: list[str] | None = None,
        sources: list[str] | None = None,
        sections: list[str] | None = None,
    ):
        return render(_answer(ask, question, k, history, documents, sources, sections))

    endpoint.__doc__ = doc + API_ARGS
    endpoint.__signature__ = inspect.signature(endpoint, eval_str=True).replace(return_annotation=returns)
    return endpoint


def _answer(
    ask: Callable[..., Answer], question: object, k: object, history=None, documents=None, sources=None, sections=None
) -> Answer:
    """``ask`` (`Engine.ask`), its refusal of a bad argument shown to the visitor as it is (no traceback in the log)."""
    try:
        return ask(
            question,
            k=k,
            history=history,
            documents=documents or None,
            sources=sources or None,
            sections=sections or None,
        )
    except (TypeError, ValueError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except StoreUnavailableError as exc:
        log.warning("%s", exc)
        raise gr.Error("The document store is not answering just now; try again in a moment.") from None


def _dates(engine: Engine, answer: Answer) -> dict[str, str | None]:
    """The date each cited document states for itself."""
    return {p.doc_id: stated_date(engine.document(p.doc_id).text) for p in answer.passages}


def _uploaded(shared: Engine, paths: tuple[str, ...], names: tuple[str, ...], progress=None) -> Uploads:
    """The session's files indexed over the shared engine under their doc ids (`CorpusError` when none can be used)."""
    if not paths:
        return Uploads()
    extra = {"progress": progress} if progress else {}
    return Uploads(paths, names, shared.overlay(paths, names=names, **extra))


def _busy():
    return gr.update(interactive=False)


def _idle():
    return gr.update(interactive=True)


def _idle_upload():
    """After an upload: the file control emptied for the next one, and both controls usable again."""
    return gr.update(value=None, interactive=True), gr.update(interactive=True)


def _listed(engine: Engine, uploaded: Iterable[str] = (), find: str = "") -> list[str]:
    """The doc ids the page lists, `MAX_LISTED` at most (an archive's every document would be megabytes in each
    browser, and each one read to show its title): those ``find`` finds (`Engine.find_documents`), or without
    it the visitor's own files, then the corpus's first ones."""
    if find.strip():
        return engine.find_documents(find, MAX_LISTED)
    mine = [d for d in uploaded if engine.store.has_document(d)]
    taken = set(mine)
    others = (d for d in engine.store.doc_ids() if d not in taken)
    return [*mine, *itertools.islice(others, max(0, MAX_LISTED - len(mine)))]


def _documents_table(
    engine: Engine, uploaded: Iterable[str] = (), find: str = "", listed: list[str] | None = None
) -> str:
    """The documents panel's table of ``listed`` (default: `_listed`), with what it leaves out."""
    listed = _listed(engine, uploaded, find) if listed is None else listed
    if find.strip() and not listed:
        footnote = f"No document's name or title matches “{find.strip()}”."
    elif find.strip():
        footnote = f"The first {MAX_LISTED} found: add words to narrow the search." if len(listed) >= MAX_LISTED else ""
    else:
        more = len(engine.documents) - len(listed)
        footnote = f"… and {more:,} more documents: find them by name or title." if more > 0 else ""
    return documents_html((engine.document(d) for d in listed), uploaded=uploaded, footnote=footnote)


def _document_choices(
    engine: Engine, uploaded: Iterable[str], find: str, kept: list[str], listed: list[str] | None = None
) -> list[tuple[str, str]]:
    """The document filter's choices: those ``kept`` (chosen), then the documents listed (default: `_listed`)."""
    listed = _listed(engine, uploaded, find) if listed is None else listed
    chosen = set(kept)
    return [(f"{engine.document(d).title} ({d})", d) for d in [*kept, *(d for d in listed if d not in chosen)]]


def _documents_view(
    engine: Engine, uploaded: Iterable[str], find: str, chosen: list[str] | None
) -> tuple[gr.Dropdown, str]:
    """The document filter (its choices, and those chosen that are still there) and the documents table, from
    one listing: a search of an archive runs once."""
    listed = _listed(engine, uploaded, find)
    kept = [d for d in chosen or [] if engine.store.has_document(d)]
    choices = _document_choices(engine, uploaded, find, kept, listed)
    return gr.Dropdown(choices=choices, value=kept), _documents_table(engine, uploaded, find, listed)


def _session_view(shared: Engine, uploads: Uploads, chosen: list[str] | None, find: str, note: str):
    """What the page shows of a session's files: its state, their list, the document filter (its choices kept
    where the documents still are), the documents table, and a note."""
    current = uploads.over(shared)
    documents, table = _documents_view(current, uploads.names, find or "", chosen)
    return (
        uploads,
        gr.CheckboxGroup(choices=list(uploads.names), value=[]),
        documents,
        gr.Accordion(label=f"Documents ({len(current.documents):,})"),
        table,
        note,
    )


def main(argv: list[str] | None = None) -> None:
    """Load the default index (rebuilding it if stale), or the Milvus store ``--milvus URI`` (or
    ``$QA_MILVUS_URI``, for a Space) names, and serve; host and port from GRADIO_* variables."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # an unreadable upload is one line: refused, and why
    from qa.store import load

    ap = argparse.ArgumentParser(description="The chat over the index in embeddings/, or a Milvus store.")
    ap.add_argument("--milvus", metavar="URI", default=os.environ.get("QA_MILVUS_URI"), help="./qa.db or http://…")
    ap.add_argument("--collection", default=os.environ.get("QA_MILVUS_COLLECTION", "qa"))
    ap.add_argument(
        "--processes",
        type=int,
        default=os.environ.get("QA_PROCESSES", "1"),  # a string default goes through type=int: a clear error
        help="worker processes answering questions (default 1: in the chat's own process; one per core is best)",
    )
    args = ap.parse_args(argv)
    if args.processes < 1:
        ap.error(f"--processes must be at least 1, not {args.processes}")
    if args.milvus:
        from qa.stores.milvus import MilvusStore

        if args.processes > 1:
            ap.error("--processes answers from an index folder; over Milvus, run more chat processes instead")
        serve(load(store=MilvusStore(args.milvus, args.collection)))
        return
    engine = load(check="later")  # answers at once; a changed corpus is caught up with in the background
    answering = AnsweringProcesses(engine, args.processes, warm_up=EXAMPLES[0]) if args.processes > 1 else None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a stop closes the chat as Ctrl-C does
    try:
        serve(engine, answering=answering)
    finally:
        if answering:
            answering.close()


def serve(engine: Engine, answering: AnsweringProcesses | None = None, **launch: object) -> gr.Blocks:
    """Start the chat over ``engine``, its model warmed meanwhile so that the first answer is as quick as the rest.

    ``answering``: worker processes for the questions over ``engine``'s documents (`build_ui`).
    ``launch``: more arguments of Gradio's ``launch`` (``prevent_thread_lock=True`` returns at once).
    """
    threading.Thread(target=warm, args=(engine,), name="qa-warm-up", daemon=True).start()
    demo = build_ui(engine, answering=answering)
    demo.launch(max_file_size=f"{MAX_UPLOAD_MB}mb", **launch)
    return demo


def warm(engine: Engine) -> None:
    """Ask once, unseen: loads the model session, the tokenizer, the ranker's caches and the parser for names
    before a visitor asks."""
    engine.ask(EXAMPLES[0])
    try:
        parser()
    except ModelError as exc:  # the chat answers without names side by side (`Engine` says so once)
        log.warning("%s", exc)
