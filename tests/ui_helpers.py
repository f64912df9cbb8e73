"""Start the Gradio UI of an engine in-process, on a free local port."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from qa.engine import Engine  # noqa: E402
from qa.ui import serve  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(engine: Engine, **options: object) -> Iterator[str]:
    """The URL of the chat over ``engine`` (``options``: more of `serve`'s arguments), closed on exit."""
    demo = serve(
        engine, prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **options
    )
    try:
        yield demo.local_url
    finally:
        demo.close()


MARKUP_DOC = (
    "Markup test page\n\n"
    "The harbour bridge at Zanzibar was closed on Monday. "
    "Engineers wrote <script>alert(1)</script> and **not bold** and [a link](http://example.com) on the sign.\n"
)
