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
        assert (
            load_script(SCRIPT).main(["--articles", "1", "--questions", "4", "--features", "--cache", str(tmp_path)])
            == 0
        )
    printed = tables(buffer.getvalue())
    rows, means = printed["Confidence on corpora it never saw"], printed["Feature means per kind of question"]
    assert [r["corpus"] for r in rows] == ["documents written for this", "SQuAD train, 1 unseen articles"]
    written, squad = rows
    assert written["answerable refused"].endswith("(33)") and squad["off-topic caught"].endswith("(4)")
    for row in rows:
        share = re.match(r"([\d.]+) \(", row["answerable refused"])
        assert share and 0.0 <= float(share.group(1)) <= 1.0
    assert int(written["bold answers"].split(" of ")[0]) > 10  # most of the written questions get a bold answer
    # --features: each corpus's kinds with their counts; the answerable questions are closer in meaning than the
    # off-topic ones and the reader finds answers in them (the calibrator's own rows come first when cached)
    asked = {(r["corpus"], r["questions"]): r for r in means if r["corpus"] != "fitted on"}
    assert set(asked) == {("documents written for this", k) for k in ("answerable", "unanswerable", "off-topic")} | {
        ("SQuAD train, 1 unseen articles", k) for k in ("answerable", "off-topic")
    }
    assert asked["documents written for this", "answerable"]["n"] == "33"
    answerable, off_topic = (
        asked["documents written for this", "answerable"],
        asked["documents written for this", "off-topic"],
    )
    assert float(answerable["dense"]) > float(off_topic["dense"]) + 0.2
    assert float(answerable["reader_margin"]) > 0 > float(off_topic["reader_margin"])
