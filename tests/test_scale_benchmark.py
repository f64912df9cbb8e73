"""`benchmarks/scale.py` runs every phase end to end on a small corpus and prints a number in every column.

About 300 passages indexed with `qa.HashEmbedder` into a temporary cache, five questions (about 45 s on 2 cores).
"""

from __future__ import annotations

import re
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from tests.test_benchmark_smoke import load_script, tables

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "scale.py"
NUMBER = r"\d[\d,]*(\.\d+)?"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """The printed output, the cache and the --out file of one small run of every phase."""
    if not (SCRIPT.parent.parent.parent / "shared" / "eval" / "wikipedia").is_dir():
        pytest.skip("the shared evaluation data is not on this machine")
    cache, out = tmp_path_factory.mktemp("scale"), tmp_path_factory.mktemp("out") / "scale.md"
    args = ["--passages", "300", "--questions", "5", "--cache", str(cache), "--out", str(out)]
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert load_script(SCRIPT).main(args) == 0
    return buffer.getvalue(), cache, out


def test_every_column_holds_numbers(run: tuple[str, Path, Path]):
    scale = next(rows for title, rows in tables(run[0]).items() if title.startswith("Scale"))
    assert len(scale) == 1 and scale[0].pop("store") == "local"
    for column, value in scale[0].items():
        assert re.fullmatch(rf"{NUMBER}( / {NUMBER})*", value), (column, value)
    assert int(scale[0]["chunks"]) >= int(scale[0]["documents"]) > 200


def test_the_milvus_store_is_measured_beside_the_local_one(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("milvus_lite")
    if not (SCRIPT.parent.parent.parent / "shared" / "eval" / "wikipedia").is_dir():
        pytest.skip("the shared evaluation data is not on this machine")
    cache = tmp_path_factory.mktemp("scale-milvus")
    args = ["--passages", "150", "--questions", "3", "--cache", str(cache), "--stores", "local,milvus",
            "--phases", "build,load,ask,add,remove"]  # fmt: skip
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert load_script(SCRIPT).main(args) == 0
    found = tables(buffer.getvalue())
    rows = next(rows for title, rows in found.items() if title.startswith("Scale"))
    assert [r["store"] for r in rows] == ["local", "Milvus Lite"] and rows[0]["chunks"] == rows[1]["chunks"]
    assert re.fullmatch(rf"{NUMBER} / {NUMBER}", rows[1]["ask p50 / p95 ms"])
    beside = found["Milvus Lite beside the local store"]
    assert [r["measure"] for r in beside][:3] == ["build s", "build peak GB", "load s (strict)"] and len(beside) == 8


def test_every_limit_is_judged(run: tuple[str, Path, Path]):
    limits = tables(run[0])["Limits of the issue"]
    assert len(limits) == 13
    for row in limits:
        assert row["within"] in ("✓", "✗") and re.match(NUMBER, row["measured"]), row


def test_the_out_file_holds_the_printed_tables(run: tuple[str, Path, Path]):
    output, _, out = run
    assert out.read_text(encoding="utf-8").strip() in output


def test_the_corpus_is_written_once(run: tuple[str, Path, Path]):
    scale = load_script(SCRIPT)
    corpus = run[1] / "corpus-300"
    files, written = scale.write_corpus(corpus, 300)
    assert written == 0 and files == len(list(corpus.rglob("*.txt")))
    assert not (run[1] / "resume-300").exists()  # the resume phase's index is removed
