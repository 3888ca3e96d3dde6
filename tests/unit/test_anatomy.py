"""Anatomy of saved files built in the test, and the mapping of what a model wanted onto them."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.errors import AnatomyError
from harness.evidence.anatomy import group_shapes, read_anatomy
from harness.evidence.mapping import AMBIGUOUS, MATCHED, MISSING, Wanted, line_up, mapping_text, wanted_from_layout
from support import GRU_FILE, keras3_weights


def test_nested_groups_of_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "model.weights.h5"
    keras3_weights(path, {**GRU_FILE, "layers/deep/er/still/vars": [(7,)]}, names={"layers/gru/cell/vars": "gru_cell"})
    anatomy = read_anatomy(path)
    assert anatomy.format == "keras 3 weights (.weights.h5)" and anatomy.error is None
    groups = {g.path: g for g in anatomy.groups}
    assert group_shapes(groups["layers/gru/cell/vars"]) == [(3, 15), (5, 15), (2, 15)]
    assert groups["layers/gru/cell/vars"].span == "layers/gru/cell/vars/0..2"
    assert groups["layers/gru/cell/vars"].name == "gru_cell"
    assert group_shapes(groups["layers/deep/er/still/vars"]) == [(7,)]
    assert {a.dtype for a in anatomy.arrays} == {"float32"}


def test_numbered_arrays_keep_their_numeric_order(tmp_path: Path) -> None:
    path = tmp_path / "many.weights.h5"
    keras3_weights(path, {"layers/big/vars": [(i + 1,) for i in range(12)]})
    [group] = read_anatomy(path).groups
    assert [a.path.rsplit("/", 1)[-1] for a in group.arrays] == [str(i) for i in range(12)]


def test_a_keras_zip_with_its_metadata(tmp_path: Path) -> None:
    inner = io.BytesIO()
    keras3_weights(inner, GRU_FILE)
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0", "date_saved": "2026-11-28@10:00:00"}))
        archive.writestr("config.json", json.dumps({"class_name": "Functional"}))
        archive.writestr("model.weights.h5", inner.getvalue())
    anatomy = read_anatomy(path)
    assert anatomy.format == ".keras zip" and anatomy.keras_version == "3.5.0"
    assert anatomy.date_saved == "2026-11-28@10:00:00"
    assert [g.path for g in anatomy.groups] == sorted(GRU_FILE)


def test_a_legacy_h5_with_version_and_backend(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["backend"] = "tensorflow"
        weights = handle.create_group("model_weights")
        weights.attrs["layer_names"] = [b"gru"]
        layer = weights.create_group("gru")
        names = [b"gru/gru_cell/kernel:0", b"gru/gru_cell/recurrent_kernel:0", b"gru/gru_cell/bias:0"]
        layer.attrs["weight_names"] = names
        for name, shape in zip(names, [(3, 15), (5, 15), (2, 15)]):
            layer.create_dataset(name.decode(), data=np.zeros(shape, "float32"))
    anatomy = read_anatomy(path)
    assert anatomy.format == "legacy h5 (whole model)"
    assert (anatomy.keras_version, anatomy.backend) == ("2.15.0", "tensorflow")
    [group] = anatomy.groups
    assert group_shapes(group) == [(3, 15), (5, 15), (2, 15)]  # the order Keras wrote, not alphabetical


@pytest.mark.parametrize("content, fragment", [
    (b"not a model at all", "neither an HDF5 file nor a .keras zip"),
    (b"\x89HDF\r\n\x1a\n" + b"\0" * 40, "damaged or truncated HDF5"),
    (b"PK\x03\x04garbage", "cannot be opened"),
])
def test_unreadable_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.weights.h5"
    path.write_bytes(content)
    with pytest.raises(AnatomyError, match=fragment):
        read_anatomy(path)


def test_a_truncated_real_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.weights.h5"
    keras3_weights(path, GRU_FILE)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AnatomyError, match="damaged or truncated"):
        read_anatomy(path)


def test_a_file_far_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.weights.h5"
    with open(path, "wb") as handle:  # sparse: 4 GiB that take no disk and would take long to read
        handle.truncate(4 * 2**30)
    with pytest.raises(AnatomyError, match="over the 512.0 MiB cap; it was not read"):
        read_anatomy(path)


def test_mapping_matched_ambiguous_missing(tmp_path: Path) -> None:
    path = tmp_path / "source.weights.h5"
    keras3_weights(path, {**GRU_FILE, "layers/twin/vars": [(5, 2), (2,)]})
    source = read_anatomy(path)
    wanted = [
        Wanted("gru_cell", [("kernel", (3, 15)), ("recurrent_kernel", (5, 15)), ("bias", (2, 15))], "layers/gru_cell/vars/0..2"),
        Wanted("dense_x", [("kernel", (5, 2)), ("bias", (2,))]),
        Wanted("conv", [("kernel", (3, 3, 1, 8))]),
    ]
    entries = line_up(wanted, source)
    assert [e.status for e in entries] == [MATCHED, AMBIGUOUS, MISSING]
    assert entries[1].candidates == ["layers/dense/vars/0..1", "layers/twin/vars/0..1"]
    text = mapping_text(entries).splitlines()
    assert text[0] == "gru_cell (kernel (3, 15), recurrent_kernel (5, 15), bias (2, 15))  <-  layers/gru/cell/vars/0..2"
    assert "ambiguous: 2 groups fit" in text[1] and "missing" in text[2]


def test_layout_labels(tmp_path: Path) -> None:
    path = tmp_path / "own.weights.h5"
    keras3_weights(path, {"layers/gru_cell/vars": [(3, 15)], "layers/gru/cell/vars": [(1,)]})
    labels = [w.layer for w in wanted_from_layout(read_anatomy(path))]
    assert labels == ["gru/cell", "gru_cell"]
