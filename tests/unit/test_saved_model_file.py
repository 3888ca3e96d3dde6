"""``--file DIR``: a SavedModel folder's writer read from its own files (never run), and the
scenarios generated for it: one per route, or the routes as FORMATS, every value a literal."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness.errors import AnatomyError
from harness.evidence.anatomy import is_saved_model, read_saved_model
from harness.plan.model_helper import SAVED_MODEL_ROUTES
from harness.plan.models import HELPER, saved_model_scenarios


def saved_model(folder: Path, tensorflow: str | None = "2.15.1", keras: str | None = "2.15.0") -> Path:
    """A folder shaped like tf.keras 2's model.save(dir): saved_model.pb whose MetaInfoDef holds
    the TensorFlow version (field 5) and git version (field 6), and keras_metadata.pb's JSON."""
    (folder / "variables").mkdir(parents=True)
    meta = b"\x22\x05serve"
    if tensorflow:
        git = b"v" + tensorflow.encode() + b"-0-gabc"
        meta += b"\x2a" + bytes([len(tensorflow)]) + tensorflow.encode() + b"\x32" + bytes([len(git)]) + git
    (folder / "saved_model.pb").write_bytes(b"\x08\x01\x12\x40\x0a\x3e" + meta + b"\x00" * 16)
    if keras:
        (folder / "keras_metadata.pb").write_bytes(b"\n\x10" + json.dumps({"class_name": "Functional",
                                                                              "keras_version": keras}).encode())
    (folder / "variables" / "variables.index").write_bytes(b"index")
    return folder


def test_the_writers_versions_are_read_from_the_folder(tmp_path: Path) -> None:
    record = read_saved_model(saved_model(tmp_path / "tfk2"))
    assert (record.format, record.keras_version, record.tensorflow_version) == ("tensorflow SavedModel", "2.15.0", "2.15.1")
    export = read_saved_model(saved_model(tmp_path / "export", tensorflow="2.21.0", keras=None))
    assert (export.keras_version, export.tensorflow_version) == (None, "2.21.0")
    unknown = read_saved_model(saved_model(tmp_path / "bare", tensorflow=None, keras=None))
    assert (unknown.keras_version, unknown.tensorflow_version) == (None, None)


def test_what_is_not_a_saved_model_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert not is_saved_model(tmp_path / "empty")
    with pytest.raises(AnatomyError, match="not a SavedModel folder"):
        read_saved_model(tmp_path / "empty")
    folder = saved_model(tmp_path / "with_a_fifo")
    import os

    os.mkfifo(folder / "variables" / "pipe")
    with pytest.raises(AnatomyError, match="not a regular file"):
        read_saved_model(folder)
    (tmp_path / "link").symlink_to(saved_model(tmp_path / "real"))
    assert not is_saved_model(tmp_path / "link")


@pytest.mark.parametrize("name", ["plain_model", 'x""";import os;"""y', "with\\backslash", "dot.ted.dir"])
def test_the_routes_become_formats_or_run_scenarios_with_every_value_a_literal(tmp_path: Path, name: str) -> None:
    folder = saved_model(tmp_path / name)
    cross = saved_model_scenarios(folder, ("keras", "2.15.0"), "keras 2.15.0", None, None)
    [(file_name, text)] = [(n, t) for n, t in cross.items() if n != f"{HELPER}.py"]
    tree = ast.parse(text)
    values = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert values["FILE"] == str(folder) and values["FORMATS"] == SAVED_MODEL_ROUTES
    assert values["SAVE_REQUIRES"] == {"keras": "==2.15.0"} and values["BACKENDS"] == ("tensorflow",)
    with_reference = saved_model_scenarios(folder, None, None, None, tmp_path / "y.npy")
    routes = sorted(n for n in with_reference if n != f"{HELPER}.py")
    assert len(routes) == 3 and all(ast.parse(with_reference[n]) for n in routes)
