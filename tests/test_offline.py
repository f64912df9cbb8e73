"""Nothing leaves the machine: the chat, started as a user starts it, reaches for nothing beyond loopback.

The chat runs as ``python app.py`` in a fresh process with no ``GRADIO_*`` variable set, under a
``sitecustomize`` that makes every name lookup and connection to anything but this machine fail and writes it
down; a question is asked through the chat's API, then the list must be empty.  It starts as a Space does, on a
fresh disk (an empty model cache), and its log holds Gradio's own lines and nothing else: no warning.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client

from tests.conftest import REPO_ROOT
from tests.ui_helpers import free_port

GUARD = '''
import os, socket

LOG = os.environ["QA_NETWORK_LOG"]
LOCAL = ("localhost", "127.", "::1", "0.0.0.0")


def _note(line):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(line + "\\n")


def _local(host):
    host = host.decode() if isinstance(host, bytes) else str(host or "localhost")
    return host.startswith(LOCAL)


def _guarded(real, what):
    def call(*args, **kwargs):
        target = args[1] if what == "connect" else args[0]
        host = target[0] if isinstance(target, tuple) else (target if what == "resolve" else "localhost")
        if not _local(host):
            _note(f"{what} {host}")
            raise OSError(f"{what} {host}: blocked by the test")
        return real(*args, **kwargs)
    return call


socket.getaddrinfo = _guarded(socket.getaddrinfo, "resolve")
socket.socket.connect = _guarded(socket.socket.connect, "connect")
socket.socket.connect_ex = _guarded(socket.socket.connect_ex, "connect")
_note("armed")
'''


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_chat_reaches_for_nothing_beyond_this_machine(tmp_path: Path):
    (tmp_path / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log, port = tmp_path / "network.log", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}  # a user's shell sets none
    env |= {
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "QA_NETWORK_LOG": str(log),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "QA_MODEL_CACHE": str(tmp_path / "models"),  # a Space's fresh disk: nothing exported yet
    }
    said = (tmp_path / "chat.log").open("w")
    chat = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=said, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not listening(port):
            assert chat.poll() is None, (tmp_path / "chat.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the chat did not start within 180 s"
            time.sleep(0.5)
        reply = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Who was Zahran Alloush?", api_name="/ask")
        assert "Alloush" in reply
        time.sleep(3)  # a usage report or version check runs on a thread of its own
    finally:
        chat.terminate()
        chat.wait(timeout=30)
        said.close()
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "armed" and lines[1:] == []
    said = (tmp_path / "chat.log").read_text().splitlines()
    gradios = ("* Running on local URL", "* To create a public link", "Keyboard interruption in main thread")
    assert [line for line in said if not line.startswith(gradios)] == [], said
