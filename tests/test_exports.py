"""The ONNX exports shipped without their word-piece table (qa.exports): the ones today's weights need, equal to a
fresh torch export once assembled, refused when made for another table."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest

import qa
from qa import exports, reader
from qa.models import ModelError
from qa.onnx_embedder import export_model, exported_model

FEED = {  # two texts, the second padded: what both models read
    "input_ids": np.asarray([[101, 2054, 102, 1037, 2460, 102], [101, 2054, 102, 1037, 102, 0]], dtype=np.int64),
    "attention_mask": np.asarray([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], dtype=np.int64),
    "token_type_ids": np.asarray([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]], dtype=np.int64),
}


def outputs(path: Path) -> list[np.ndarray]:
    import onnxruntime as ort

    from qa.onnx_embedder import onnx_session

    return onnx_session(ort, path, 1).run(None, FEED)


def test_the_package_ships_exactly_the_exports_todays_weights_need():
    names = exports.shipped_names()
    shipped = sorted(p.name for p in exports.SHIPPED.glob("*.onnx"))
    assert shipped == sorted(names.values()), "stale shipped exports: run python -m qa.exports"
    for name in shipped:
        assert (exports.SHIPPED / name).stat().st_size < 30_000_000  # the 47 MB table is left out


@pytest.mark.parametrize("which", [qa.DEFAULT_MODEL, "reader"])
def test_a_shipped_export_assembled_answers_as_a_fresh_torch_export(which, tmp_path, caplog):
    name = exports.shipped_names()[which]
    fresh = tmp_path / "fresh" / name
    fresh.parent.mkdir()
    with caplog.at_level(logging.DEBUG):
        if which == "reader":
            reader.export_reader(reader.READER_FILE, reader.read_record(reader.READER_RECORD), fresh, int8=True)
        else:
            export_model(qa.DEFAULT_MODEL, fresh, int8=True)
    assert not [r for r in caplog.records if "onnxruntime" in r.pathname]  # the quantiser's advice stays out of logs
    assembled = tmp_path / name
    assert exports.assemble(assembled)
    for got, want in zip(outputs(assembled), outputs(fresh), strict=True):
        assert np.array_equal(got, want)


def test_the_model_cache_is_filled_from_the_shipped_file_without_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path))

    def no_torch(*_):
        raise AssertionError("exported with torch though the package ships the export")

    monkeypatch.setattr(qa.onnx_embedder, "export_model", no_torch)
    path = exported_model(qa.DEFAULT_MODEL, qa.models.installed_version(qa.DEFAULT_MODEL), int8=True)
    assert path.parent == tmp_path and path.stat().st_size > 60_000_000  # with its table


def test_a_model_without_a_shipped_file_is_exported(tmp_path):
    from qa.onnx_embedder import cached_export

    made = []

    def export(target: Path) -> None:
        made.append(target)
        target.write_bytes(b"exported")

    path = cached_export(tmp_path / "all-MiniLM-L6-v2-000000000000.onnx", export)
    assert made == [path] and path.read_bytes() == b"exported"


def test_a_shipped_file_made_for_another_table_is_refused_with_its_name(tmp_path):
    name = exports.shipped_names()[qa.DEFAULT_MODEL]
    model = onnx.load(str(exports.SHIPPED / name))
    for prop in model.metadata_props:
        if prop.key == exports.TABLE_SHA256:
            prop.value = "0" * 64
    onnx.save(model, str(tmp_path / name))
    with pytest.raises(ModelError, match=name):
        exports.assemble(tmp_path / "cache" / name, shipped=tmp_path)


def test_strip_refuses_a_table_that_is_not_the_model_packages(tmp_path):
    from onnx import numpy_helper

    model = onnx.load(str(exports.SHIPPED / exports.shipped_names()[qa.DEFAULT_MODEL]))
    model.graph.initializer.append(numpy_helper.from_array(np.ones((3, 4), dtype=np.float32), "bert." + exports.TABLE))
    onnx.save(model, str(tmp_path / "changed.onnx"))
    with pytest.raises(ModelError, match="not all-MiniLM-L6-v2's"):
        exports.strip(tmp_path / "changed.onnx", tmp_path / "out.onnx", qa.DEFAULT_MODEL)
    assert not (tmp_path / "out.onnx").exists()
