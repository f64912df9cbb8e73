"""`benchmarks/visitors.py` starts the chat as a user does and sends concurrent clients to each endpoint."""

from __future__ import annotations

import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from tests.test_benchmark_smoke import load_script, tables

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "visitors.py"


def test_three_clients_at_once_are_all_answered_on_each_endpoint():
    if not (SCRIPT.parent.parent.parent / "shared" / "eval" / "seed_dev.jsonl").is_file():
        pytest.skip("the shared evaluation data is not on this machine")
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert load_script(SCRIPT).main(["--clients", "3", "--requests", "2"]) == 0
    rows = next(iter(tables(buffer.getvalue()).values()))
    assert [r["endpoint"] for r in rows] == ["`/search`", "`/ask`"]
    for row in rows:
        assert row["requests"] == "6" and row["errors"] == "0", row
        assert float(row["p95 ms"]) >= float(row["p50 ms"]) > 0 and re.fullmatch(r"\d+\.\d", row["answered / s"])
