"""`benchmarks/unseen.py` runs end to end on one SQuAD train article and the written documents, and prints shares."""

from __future__ import annotations

import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from tests.test_benchmark_smoke import load_script, tables

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "unseen.py"


def test_unseen_corpora_print_a_row_each_with_shares(tmp_path: Path):
    if not (SCRIPT.parent.parent.parent / "shared" / "eval" / "squad").is_dir():
        pytest.skip("the shared evaluation data is not on this machine")
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert load_script(SCRIPT).main(["--articles", "1", "--questions", "4", "--cache", str(tmp_path)]) == 0
    (rows,) = tables(buffer.getvalue()).values()
    assert [r["corpus"] for r in rows] == ["documents written for this", "SQuAD train, 1 unseen articles"]
    written, squad = rows
    assert written["answerable refused"].endswith("(33)") and squad["off-topic caught"].endswith("(4)")
    for row in rows:
        share = re.match(r"([\d.]+) \(", row["answerable refused"])
        assert share and 0.0 <= float(share.group(1)) <= 1.0
    assert int(written["bold answers"].split(" of ")[0]) > 10  # most of the written questions get a bold answer
