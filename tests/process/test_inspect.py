"""The inspect command's errors and output, as a user runs it (no real framework needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import GRU_FILE, Harness, keras3_weights


@pytest.mark.parametrize("content, args, fragment", [
    (b"junk", [], "neither an HDF5 file"),
    (None, [], "is not a regular file"),
    ("gru", ["--write-remapped", "out.weights.h5"], "needs --against"),
    ("gru", ["--against", "no_colon_here"], "is not MODULE:FUNCTION"),
    ("gru", ["--against", "missing.py:build", "--write-remapped", "x.h5"], "does not exist"),
])
def test_inspect_bad_input(harness: Harness, tmp_path: Path, content: object, args: list[str], fragment: str) -> None:
    path = tmp_path / "file.weights.h5"
    if content == "gru":
        keras3_weights(path, GRU_FILE)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    proc = harness.run("inspect", str(path), *[str(tmp_path / a) if a.endswith(".h5") else a for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_inspect_names_a_function_the_module_lacks_before_installing(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "file.weights.h5"
    keras3_weights(path, GRU_FILE)
    module = tmp_path / "build.py"
    module.write_text("import keras\n\ndef build_model():\n    return None\n\ndef check(model):\n    return None\n")
    # --pairing names a version that does not exist: the check must refuse before any install
    for args, fragment in [
        (["--against", f"{module}:build_modle"], "defines no 'build_modle' at module level (it defines: build_model, check, keras)"),
        (["--against", f"{module}:build_model", "--check", f"{module}:check_model"], "defines no 'check_model'"),
    ]:
        proc = harness.run("inspect", str(path), *args, "--pairing", "keras==0.0.0.dev0")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    module.write_text("def broken(:\n")
    proc = harness.run("inspect", str(path), "--against", f"{module}:broken")
    assert proc.returncode == 2 and "is not valid Python" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_inspect_prints_the_anatomy(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "file.weights.h5"
    keras3_weights(path, GRU_FILE)
    before = path.read_bytes()
    proc = harness.run("inspect", str(path), check_code=0)
    assert "layers/gru/cell/vars" in proc.stdout and "(3, 15)" in proc.stdout
    assert path.read_bytes() == before
    proc = harness.run("inspect", str(path), "--max-bytes", "100")
    assert proc.returncode == 2 and "it was not read" in proc.stderr
