"""Hostile records and trees, read without a run: text UTF-8 cannot carry, numbers that are not
finite, cells a run cannot have, trees of any depth, and a remapped copy that never writes its
source."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.errors import BadInput, ResultsError
from harness.evidence.anatomy import read_anatomy
from harness.evidence.codec import read_json_file, results_from_dict, to_dict, visible
from harness.evidence.mapping import line_up, wanted_from_layout
from harness.evidence.remap import write_remapped
from harness.paths import TreeTooDeep, copy_tree, remove_tree, walk_tree
from support import keras3_weights
from support.reportdata import sample_results


def test_text_utf8_cannot_carry_is_escaped_visibly(tmp_path: Path) -> None:
    assert visible("plain é ✓") == "plain é ✓"
    assert visible("a\udc80b\ud800") == "a\\udc80b\\ud800"
    path = tmp_path / "cell.json"
    path.write_text(json.dumps({"message": "x\udc80", "list": [["deep \ud83d"]], "key \udfff": 1, "pair": "\U0001f600"}))
    data = read_json_file(path)
    assert data == {"message": "x\\udc80", "list": [["deep \\ud83d"]], "key \\udfff": 1, "pair": "\U0001f600"}


def test_a_number_too_large_to_be_finite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"max_abs_diff": 1e999}')
    with pytest.raises(ResultsError, match="not a finite number"):
        read_json_file(path)


def _sample() -> dict:
    return to_dict(sample_results(hostile=False))


def test_cells_a_run_cannot_have_are_refused() -> None:
    results_from_dict(_sample(), "sample")
    data = _sample()
    data["cells"].append(dict(data["cells"][0]))
    with pytest.raises(ResultsError, match="appears more than once"):
        results_from_dict(data, "sample")
    for field, value, fragment in [("pairing", "gone", "pairing 'gone'"), ("scenario", "gone", "scenario 'gone'"),
                                   ("saved_with", "gone", "pairing 'gone'")]:
        data = _sample()
        data["cells"][0][field] = value
        with pytest.raises(ResultsError, match=fragment):
            results_from_dict(data, "sample")


def _deep(top: Path, levels: int) -> Path:
    """A chain of ``levels`` folders below ``top``, made through folder descriptors (no long paths)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("leaf.h5", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd), "wb") as handle:
            handle.write(b"x")
    finally:
        os.close(fd)
    return top


def test_trees_of_any_depth_are_walked_to_the_cap_and_removed(tmp_path: Path) -> None:
    top = _deep(tmp_path / "deep", 3000)
    with pytest.raises(TreeTooDeep, match="deeper than 64"):
        list(walk_tree(top))
    with pytest.raises(TreeTooDeep):
        copy_tree(top, tmp_path / "copy")
    shallow = _deep(tmp_path / "shallow", 5)
    os.symlink("/etc", shallow / "link")
    assert [(str(i.relative), i.kind) for i in walk_tree(shallow)][:2] == [("d", "dir"), ("d/d", "dir")]
    copy_tree(shallow, tmp_path / "shallow-copy")
    assert (tmp_path / "shallow-copy" / "link").is_symlink()
    assert sorted(str(i.relative) for i in walk_tree(tmp_path / "shallow-copy")) == sorted(
        str(i.relative) for i in walk_tree(shallow))
    (top / "d" / "d").chmod(0o000)
    remove_tree(top)
    remove_tree(shallow / "link")
    assert not top.exists() and Path("/etc").is_dir() and not os.path.lexists(shallow / "link")
    remove_tree(tmp_path / "missing")


def test_a_link_planted_at_the_old_temporary_name_does_not_make_the_source_change(tmp_path: Path) -> None:
    source = tmp_path / "source.weights.h5"
    keras3_weights(source, {"layers/dense/vars": [(5, 2), (2,)]})
    own = tmp_path / "own.weights.h5"
    with h5py.File(own, "w") as handle:
        for index, shape in enumerate([(5, 2), (2,)]):
            handle.create_dataset(f"layers/dense_cell/vars/{index}", data=np.full(shape, -7.0, "float32"))
    entries = line_up(wanted_from_layout(read_anatomy(own)), read_anatomy(source))
    out = tmp_path / "out" / "fixed.weights.h5"
    out.parent.mkdir()
    planted = out.parent / ".fixed.weights.h5.partial"
    planted.symlink_to(source)
    before = source.read_bytes()
    write_remapped(source, own, entries, out)
    assert source.read_bytes() == before
    assert planted.is_symlink() and not out.is_symlink()
    with h5py.File(out, "r") as handle:
        assert handle["layers/dense_cell/vars/1"][()].tolist() == [1.0, 1.0]
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".partial") and not p.is_symlink()] == []
    with pytest.raises(BadInput, match="never overwritten"):
        write_remapped(source, own, entries, out)
