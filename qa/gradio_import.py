"""Import Gradio in half the time: skip the type stubs its components rewrite on every import.

Each Gradio component class, as it is defined, re-parses its own module's
source and rewrites the ``.pyi`` stub beside it in site-packages
(``gradio.component_meta.create_or_modify_pyi``), a help for Gradio's own
developers that the running app never reads.  On 2 cores that is about half
of ``import gradio`` (5.7 s → 2.9 s, measured), and most of the chat's cold
start.  `skip_stub_writing` makes that function do nothing for this process,
before Gradio is imported; with a Gradio that no longer has it, nothing changes.
The chat (`qa.ui`) calls it; ``import qa`` alone never touches Gradio.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

STUB_MODULE = "gradio.component_meta"


class _StubSkipper(importlib.abc.MetaPathFinder):
    """Finds `STUB_MODULE` once, and has its loader blank the stub writer right after running the module."""

    def find_spec(self, name, path, target=None):
        if name != STUB_MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module) -> None:
            run(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = _no_stub

        spec.loader.exec_module = exec_module
        return spec


def _no_stub(*_args, **_kwargs) -> None:
    """What the stub writer does in this process: nothing."""


def skip_stub_writing() -> bool:
    """Whether Gradio, imported after this, will skip its stubs (False: it was imported already, too late)."""
    if STUB_MODULE in sys.modules:
        return getattr(sys.modules[STUB_MODULE], "create_or_modify_pyi", None) is _no_stub
    if not any(isinstance(f, _StubSkipper) for f in sys.meta_path):
        sys.meta_path.insert(0, _StubSkipper())
    return True
