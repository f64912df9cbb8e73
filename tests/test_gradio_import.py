"""The chat imports Gradio without rewriting its type stubs (`qa.gradio_import`), and Gradio still works."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

CHECK = """
import sys
import qa
assert "gradio" not in sys.modules  # the Python API never imports Gradio
import qa.ui
import gradio.component_meta as meta
from qa.gradio_import import _no_stub, skip_stub_writing
assert meta.create_or_modify_pyi is _no_stub
assert skip_stub_writing()  # says so again once Gradio is in
import gradio as gr
with gr.Blocks() as demo:
    gr.Textbox()
print("ok")
"""

LATE = """
import gradio
from qa.gradio_import import skip_stub_writing
print(skip_stub_writing())
"""


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_chat_skips_gradio_stub_writing_and_gradio_still_builds_a_page():
    assert run(CHECK) == "ok"


def test_too_late_once_gradio_is_imported_and_it_says_so():
    assert run(LATE) == "False"
