"""The helper module of the generated scenarios: a real module of the package, copied into each
run; importable on the host without Keras, Python 3.8 syntax, and its pure parts."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.plan import model_helper
from harness.plan.model_helper import arrays, dtype_name, input_arrays, to_numpy
from harness.plan.models import HELPER, ModelFile, file_scenarios, helper_source, model_scenarios

#: What the helper may import at its top level: it runs inside the tested envs, without the harness.
_ALLOWED_TOP = {"__future__", "importlib", "os", "random", "shutil", "sys", "typing", "numpy", "re", "inspect"}


def test_the_generated_run_copies_the_helper_module_as_it_is(tmp_path: Path) -> None:
    text = Path(model_helper.__file__).read_text(encoding="utf-8")
    assert helper_source() == text
    model = ModelFile(tmp_path / "m.py", "build")
    assert model_scenarios(model)[f"{HELPER}.py"] == text
    assert file_scenarios(tmp_path / "m.keras", None, None, None, None, None)[f"{HELPER}.py"] == text


def test_the_helper_imports_nothing_from_the_harness_and_parses_as_python_3_8() -> None:
    tree = ast.parse(helper_source(), feature_version=(3, 8))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            top.add((node.module or "").split(".")[0])
    assert top <= _ALLOWED_TOP, top - _ALLOWED_TOP
    inner = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             for alias in node.names} | {(node.module or "").split(".")[0] for node in ast.walk(tree)
                                         if isinstance(node, ast.ImportFrom)}
    assert "harness" not in inner


def test_the_helper_imports_and_converts_numpy_without_keras(tmp_path: Path) -> None:
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); sys.modules['keras'] = None; sys.modules['tensorflow'] = None\n"
            f"import {HELPER} as h, numpy as np\n"
            "x = h.input_arrays([((None, 3), 'float32')])\n"
            "print(h.arrays({'a': (np.ones(2), 1.5)})['a'][1], sorted(h.FORMATS))\n")
    (tmp_path / f"{HELPER}.py").write_text(helper_source(), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1.5 ['keras', 'legacy_h5', 'weights_h5']"


def test_inputs_from_specs_are_deterministic() -> None:
    first = input_arrays([((None, 3), "float32"), ((2, None, 4), "int32"), ((1,), "bool")])
    again = input_arrays([((None, 3), "float32"), ((2, None, 4), "int32"), ((1,), "bool")])
    assert [a.shape for a in first] == [(2, 3), (2, 2, 4), (1,)]
    assert [a.dtype for a in first] == [np.float32, np.int32, np.bool_]
    assert set(np.unique(first[1])) <= {0, 1}
    for one, other in zip(first, again):
        np.testing.assert_array_equal(one, other)
    assert not np.array_equal(first[0], input_arrays([((None, 3), "float32")], seed=1)[0])


class _TfLikeDtype:
    name = "float16"

    def __str__(self) -> str:
        return "<dtype: 'float16'>"


@pytest.mark.parametrize("dtype, name", [("float32", "float32"), (np.dtype("int64"), "int64"), (_TfLikeDtype(), "float16")])
def test_a_dtype_is_named_whatever_keras_gives(dtype: object, name: str) -> None:
    assert dtype_name(dtype) == name


def test_numpy_values_convert_as_they_are_with_their_nesting() -> None:
    value = {"a": (np.arange(3), [np.float32(2.0)]), 1: np.ones((2, 2))}
    converted = arrays(value)
    assert set(converted) == {"a", "1"} and isinstance(converted["a"], list)
    np.testing.assert_array_equal(converted["a"][0], np.arange(3))
    assert converted["a"][1][0].dtype == np.float32 and converted["1"].shape == (2, 2)
    assert to_numpy(3).shape == () and to_numpy(np.ones(2)).dtype == np.float64
