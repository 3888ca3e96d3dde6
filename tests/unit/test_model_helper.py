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
from harness.plan.model_helper import (
    arrays,
    different,
    dtype_name,
    input_arrays,
    is_keras_class,
    registration_hint,
    scramble_weights,
    to_numpy,
    unknown_class,
    weights,
)
from harness.plan.models import HELPER, ModelFile, file_scenarios, helper_source, model_scenarios

#: What the helper may import at its top level: it runs inside the tested envs, without the harness.
_ALLOWED_TOP = {"__future__", "importlib", "os", "random", "shutil", "sys", "typing", "numpy", "re", "inspect", "contextlib"}


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
    assert proc.stdout.strip() == "1.5 ['keras', 'keras_unsafe', 'legacy_h5', 'legacy_h5_unsafe', 'weights_h5']"


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


K3_UNKNOWN = ("Could not locate class 'Scale'. Make sure custom classes are decorated with "
              "`@keras.saving.register_keras_serializable()`. Full object config: {'module': None, 'class_name': 'Scale', "
              "'config': {'name': 'scale'}, 'registered_name': 'myproj>Scale'}")
K3_NO_MODULE = ("<class 'keras.src.models.functional.Functional'> could not be deserialized properly. Please ensure that "
                "components that are Python object instances (layers, models, etc.) returned by `get_config()` are explicitly "
                "deserialized.\n\nException encountered: Could not deserialize class 'Scale' because its parent module custom "
                "cannot be imported. Full object config: {'module': 'custom', 'class_name': 'Scale', 'config': {}}")
K2_FILE_IN_K3 = ("Could not deserialize class 'Functional' because its parent module keras.src.engine.functional cannot be "
                 "imported. Full object config: {'module': 'keras.src.engine.functional', 'class_name': 'Functional', 'config': {}}")
K2_UNKNOWN = ("Unknown layer: 'myproj>Scale'. Please ensure you are using a `keras.utils.custom_object_scope` and that "
              "this object is included in the scope.")
NOT_EQUAL = ("Could not locate class 'NotEqual'. Make sure custom classes are decorated with "
             "`@keras.saving.register_keras_serializable()`. Full object config: {'module': 'keras.src.ops.numpy', "
             "'class_name': 'NotEqual', 'config': {'name': 'not_equal'}, 'registered_name': 'NotEqual'}")


def _knows_nothing(name: str) -> bool:
    return False


@pytest.mark.parametrize("message", [K3_UNKNOWN, K3_NO_MODULE, K2_UNKNOWN])
def test_a_class_no_file_given_defines_gets_the_hint_naming_it(message: str) -> None:
    hint = registration_hint(message, set(), _knows_nothing)
    assert hint is not None and "--model FILE.py" in hint
    assert ("'myproj>Scale'" if message is K2_UNKNOWN else "'Scale'") in hint


@pytest.mark.parametrize("message", [K3_UNKNOWN, K3_NO_MODULE, K2_UNKNOWN])
def test_a_class_the_user_file_defines_gets_no_hint(message: str) -> None:
    assert registration_hint(message, {"Scale", "build"}, _knows_nothing) is None
    assert registration_hint(message, {"myproj>Scale"}, _knows_nothing) is None


def test_a_class_of_keras_own_gets_no_hint() -> None:
    assert registration_hint(NOT_EQUAL, set(), lambda name: name == "NotEqual") is None
    assert registration_hint(NOT_EQUAL, set(), _knows_nothing) is None  # a newer Keras's class: its config says so
    assert registration_hint(K3_UNKNOWN, set(), lambda name: name == "Scale") is None
    assert registration_hint(K2_FILE_IN_K3, set(), _knows_nothing) is None


@pytest.mark.parametrize("message", ["Unrecognized keyword arguments passed to Dense: {'quantization_config': None}",
                                     "'str' object is not callable", ""])
def test_another_failure_gets_no_hint(message: str) -> None:
    assert unknown_class(message) is None and registration_hint(message, set(), _knows_nothing) is None


def test_the_class_is_read_from_each_keras_wording() -> None:
    assert unknown_class(K3_UNKNOWN) == "Scale" and unknown_class(K2_UNKNOWN) == "myproj>Scale"
    assert unknown_class("Unknown layer: Scale. Please ensure") == "Scale"
    assert unknown_class(NOT_EQUAL) == "NotEqual"


def test_keras_classes_are_found_in_the_loaded_keras_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    fake = types.ModuleType("keras.src.ops.fake_numpy")
    fake.NotEqual = type("NotEqual", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keras.src.ops.fake_numpy", fake)
    mine = types.ModuleType("mykeras_layers")
    mine.Scale = type("Scale", (), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mykeras_layers", mine)
    assert is_keras_class("NotEqual") and not is_keras_class("Scale")


@pytest.mark.parametrize("value", [
    np.array([0.0, 1.5, -2.0, 3e38, np.inf, -np.inf, np.nan, 2.0**30], dtype=np.float32),
    np.array([0.0, 1e300, -1e-300], dtype=np.float64), np.array([1.0, 65504.0], dtype=np.float16),
    np.array([0, -1, np.iinfo(np.int64).max], dtype=np.int64), np.array([0, 255], dtype=np.uint8),
    np.array([True, False]), np.array(7, dtype=np.int32), np.zeros((2, 3), dtype=np.float32) + 1j,
])
def test_a_different_value_differs_everywhere_with_the_same_shape_and_dtype(value: np.ndarray) -> None:
    changed = different(value)
    assert changed.shape == value.shape and changed.dtype == value.dtype
    assert not np.any(changed == value)


def test_no_different_value_is_made_for_text() -> None:
    with pytest.raises(ValueError, match="no other value"):
        different(np.array(["a"]))


class _Variable(np.ndarray):
    """A variable as the helper sees one: its value as an array, and assign()."""

    def assign(self, value: np.ndarray) -> None:
        if self.dtype.kind == "U":
            raise TypeError("text cannot be assigned here")
        self[...] = value


class _SeededModel:
    """A model whose build sets its own seed: built again, it holds the saved weights already."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.weights = [np.array(a).view(_Variable) for a in arrays]

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(w) for w in self.weights]

    def load_weights(self, path: str) -> None:  # a load that sets nothing
        return None


def test_a_load_that_sets_nothing_leaves_weights_other_than_the_saved(capsys: pytest.CaptureFixture[str]) -> None:
    saved = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(3, dtype=np.float32), np.array(3, dtype=np.int64),
             np.array([True])]
    rebuilt = _SeededModel(saved)
    scramble_weights(rebuilt)
    rebuilt.load_weights("model.weights.h5")
    for loaded, before in zip(weights(rebuilt), saved):
        assert loaded.dtype == before.dtype and not np.any(loaded == before)
    assert "4 variables of the rebuilt model were given other values" in capsys.readouterr().out


def test_a_variable_that_cannot_change_is_named_never_skipped_silently(capsys: pytest.CaptureFixture[str]) -> None:
    rebuilt = _SeededModel([np.ones(2, dtype=np.float32), np.array(["vocabulary"])])
    scramble_weights(rebuilt)
    out = capsys.readouterr().out
    assert "keeps the value it was built with" in out and "1 variables of the rebuilt model" in out


def test_a_failure_of_the_helpers_own_step_is_named_as_the_harnesss() -> None:
    with pytest.raises(model_helper.HelperFailed, match=r"^the harness's helper failed in this env: converting: ValueError: x$"):
        with model_helper.harness_step("converting"):
            raise ValueError("x")


def test_integer_inputs_span_the_range_the_model_gives() -> None:
    [tokens, flags] = model_helper.input_arrays([((4, 50), "int32"), ((3,), "int64")], highs=[1000, None])
    assert tokens.max() > 1 and tokens.max() < 1000 and tokens.min() >= 0
    assert set(np.unique(flags)) <= {0, 1}
