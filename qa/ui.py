"""The Gradio chat: a thin shell over `Engine.ask`, the same call a Python user makes."""

from __future__ import annotations

import os

import gradio as gr

from qa.engine import Engine

# Questions answered at once, one per core; more wait in Gradio's queue. `ask` holds no per-question
# state, so visitors need not queue behind each other, but on 2 cores 8 asks at once got through
# fewer questions a second than 2 (`benchmarks/latency.py`).
CONCURRENT_QUESTIONS = len(os.sched_getaffinity(0))

EXAMPLES = [
    "How many people were killed in the Tartus bombing?",
    "What did the State Department say about joint air strikes with Russia?",
    "How many fighters does ISIS still have in Syria?",
    "Who was Zahran Alloush?",
    "How long should I boil an egg?",
]

DESCRIPTION = (
    "Answers are **verbatim passages** from {n} documents, each followed by its citation "
    "(title · outlet · article, reader comment or page furniture · place in the document). "
    "Nothing is generated or paraphrased; when the documents do not answer, the reply says so."
)


def build_ui(engine: Engine, k: int = 5) -> gr.Blocks:
    """A chat (API name ``ask``, Markdown reply) and a JSON endpoint (API name ``search``)."""

    def ask(message: str, history: list) -> str:
        if not isinstance(message, str) or not message.strip():
            return "Please type a question."
        return _answer(engine, message, k, earlier_questions(history)).to_markdown()

    def search(question: str, k: int = k) -> dict:
        """The `Answer` for ``question`` (1 to 2,000 characters) as JSON: ``answered``, ``confidence`` and cited
        ``passages``, at most ``k`` (1 to 50)."""
        return _answer(engine, question, k).to_dict()

    with gr.Blocks(title="Ask the corpus", fill_height=True) as demo:
        gr.ChatInterface(
            fn=ask,
            api_name="ask",
            examples=EXAMPLES,
            title="Ask the corpus",
            description=DESCRIPTION.format(n=len(engine.documents)),
            chatbot=gr.Chatbot(scale=1, sanitize_html=True, render_markdown=True, label="Answers"),
        )
        gr.api(search, api_name="search")
    demo.queue(default_concurrency_limit=CONCURRENT_QUESTIONS)
    return demo


def earlier_questions(history: object) -> list[str]:
    """The visitor's earlier questions in a chat history, oldest first (what `Engine.ask` reads follow-ups with).

    Gradio passes messages (``{"role": "user", "content": "..."}``, the
    content maybe a list of parts with ``"text"``); anything else is skipped.
    """
    questions = []
    for message in history if isinstance(history, list) else []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str) and content.strip():
            questions.append(content)
    return questions


def _answer(engine: Engine, question: object, k: object, history: list[str] | None = None):
    """`Engine.ask`, its refusal of a bad argument shown to the visitor as it is (no traceback in the log)."""
    try:
        return engine.ask(question, k=k, history=history)
    except (TypeError, ValueError) as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def main() -> None:
    """Load the default index (rebuilding it if stale) and serve; host and port from GRADIO_* variables."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qa.store import load

    build_ui(load()).launch()
