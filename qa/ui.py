"""The Gradio chat: a thin shell over `Engine.ask`, the same call a Python user makes."""

from __future__ import annotations

import os

import gradio as gr

from qa.engine import Engine

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
        if not message or not message.strip():
            return "Please type a question."
        return engine.ask(message, k=k).to_markdown()

    def search(question: str, k: int = k) -> dict:
        """The `Answer` for ``question`` as JSON: ``answered``, ``confidence`` and cited ``passages``."""
        try:
            return engine.ask(question, k=int(k)).to_dict()
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc

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
    return demo


def main() -> None:
    """Load the default index (rebuilding it if stale) and serve; host and port from GRADIO_* variables."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qa.store import load

    build_ui(load()).launch()
