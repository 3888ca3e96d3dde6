"""Checking your own model, for real: the wheel installed into a fresh venv, run from a folder
outside the checkout, on two real Keras/TensorFlow pairings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.envs.install import find_uv
from support import ROOT

pytestmark = pytest.mark.real

OLD, NEW = "keras==3.5.0,tensorflow==2.16.1", "keras==3.15.1,tensorflow==2.21.0"
OLD_ID, NEW_ID = "keras-3.5.0+tensorflow-2.16.1", "keras-3.15.1+tensorflow-2.21.0"

MODEL = '''
import keras


@keras.saving.register_keras_serializable(package="mymodel")
class Scale(keras.layers.Layer):
    """A custom layer with a weight of its own, registered for loading."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

    def call(self, x):
        return x * self.w * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def build():
    inputs = keras.Input(shape=(4,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = Scale(3.0)(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))
'''


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``keras-compat`` from the wheel built of this checkout, in a fresh venv."""
    tmp = tmp_path_factory.mktemp("tool")
    uv = find_uv()  # the tests' own venv may have no pip (nox makes it with uv): uv builds the wheel
    subprocess.run([uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp / "dist"), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=900)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    [wheel] = list((tmp / "dist").glob("keras_compat_harness-*.whl"))
    subprocess.run([uv, "venv", "-q", str(tmp / "venv")], check=True, timeout=600)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(tmp / "venv" / "bin" / "python"), str(wheel)],
                   check=True, timeout=900)
    return tmp / "venv" / "bin" / "keras-compat"


def outside(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "HARNESS_ERROR_FILE")}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")  # the per-user cache, not this checkout's envs
    env.pop("HARNESS_ENVS_DIR", None)
    return env


def test_the_installed_tool_runs_a_model_of_your_own(tool: Path, tmp_path: Path) -> None:
    work = tmp_path / "myproject"
    work.mkdir()
    (work / "mymodel.py").write_text(MODEL)
    env = outside(tmp_path)
    version = subprocess.run([str(tool), "--version"], cwd=work, env=env, capture_output=True, text=True, check=True)
    from harness import __version__

    assert version.stdout.strip() == f"keras-compat {__version__}"
    listing = subprocess.run([str(tool), "list"], cwd=work, env=env, capture_output=True, text=True, check=True)
    assert "gru_weights_into_grucell" in listing.stdout and "site-packages" not in listing.stderr
    proc = subprocess.run([str(tool), "matrix", "--model", "mymodel.py:build", "--pairing", OLD, "--pairing", NEW],
                          cwd=work, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "own-model-grid.txt").write_text(proc.stdout)
    [run] = list((work / "reports" / "runs").iterdir())  # outside a checkout: under the current folder
    assert list((tmp_path / "cache" / "keras-compat" / "envs").glob("*/harness-env.json"))
    cells = {(c["scenario"], c["saved_with"], c["pairing"]): c for c in json.loads((run / "results.json").read_text())["cells"]}
    assert len(cells) == 16
    for saver in (OLD_ID, NEW_ID):
        for loader in (OLD_ID, NEW_ID):
            assert cells[("mymodel_formats[weights_h5]", saver, loader)]["verdict"] == "passed"  # weights load in every direction
            assert cells[("mymodel_formats[weights_h5]", saver, loader)]["compared_count"] > 8  # outputs and every weight
    for scenario in ("mymodel_formats[keras]", "mymodel_formats[legacy_h5]"):
        assert cells[(scenario, OLD_ID, NEW_ID)]["verdict"] == "passed"
        newer_into_older = cells[(scenario, NEW_ID, OLD_ID)]
        assert newer_into_older["verdict"] == "error" and "Unrecognized keyword arguments" in newer_into_older["message"]
    assert "mymodel_formats[keras]: saved with (rows) -> loaded with (columns)" in proc.stdout

    saved = run / "artifacts" / "mymodel_formats[keras]" / NEW_ID / "files" / "model.keras"
    proc = subprocess.run([str(tool), "matrix", "--file", str(saved), "--model", "mymodel.py", "--pairing", OLD,
                           "--pairing", NEW, "--out", "file-run"], cwd=work, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (ROOT / "test-artifacts" / "own-file-grid.txt").write_text(proc.stdout)
    assert "written by keras 3.15.1" in proc.stdout
    from harness.evidence.codec import read_results, to_dict

    loads = {c["pairing"]: c for c in to_dict(read_results(work / "file-run" / "results.json"))["cells"]
             if c["saved_with"] == NEW_ID}  # read back, each cell's files given back from the anatomy table
    assert loads[NEW_ID]["verdict"] == "passed" and loads[OLD_ID]["verdict"] == "error"
    assert loads[OLD_ID]["files"][0]["keras_version"] == "3.15.1"


SEEDED = '''
import keras

if {noop}:
    def _sets_nothing(self, *args, **kwargs):
        return None

    keras.Model.load_weights = _sets_nothing  # a weights load that sets nothing


def build():
    keras.utils.set_random_seed(0)  # its own seed: built again, the model holds the saved weights already
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(8, activation="relu")(inputs)))
'''


def _cells(run: Path) -> dict[tuple[str, str, str], dict]:
    from harness.evidence.codec import read_results, to_dict

    return {(c["scenario"], c["saved_with"], c["pairing"]): c for c in to_dict(read_results(run / "results.json"))["cells"]}


def test_a_weights_load_that_sets_nothing_is_wrong_values_even_when_build_sets_its_seed(tool: Path, tmp_path: Path) -> None:
    work = tmp_path / "myproject"
    work.mkdir()
    env = outside(tmp_path)
    for name, noop in (("seeded", False), ("noop_load", True)):
        (work / f"{name}.py").write_text(SEEDED.format(noop=noop))
        proc = subprocess.run([str(tool), "matrix", "--model", f"{name}.py:build", "--pairing", OLD, "--out", name],
                              cwd=work, env=env, capture_output=True, text=True, timeout=2400)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / f"own-model-{name}.txt").write_text(proc.stdout)
        cell = _cells(work / name)[(f"{name}_formats[weights_h5]", OLD_ID, OLD_ID)]
        assert "variables of the rebuilt model were given other values before the load" in cell["output_tail"]
        if noop:
            assert cell["verdict"] == "wrong_values", cell["reason"]
            assert _cells(work / name)[(f"{name}_formats[keras]", OLD_ID, OLD_ID)]["verdict"] == "passed"
        else:
            assert cell["verdict"] == "passed" and cell["compared_count"] > 8, cell["reason"]


LAMBDA_MODEL = '''
import keras


@keras.saving.register_keras_serializable(package="myproj")
class Shift(keras.layers.Layer):
    """A registered layer of the user's own."""

    def call(self, x):
        return x + 1.0


def build():
    inputs = keras.Input(shape=(4,))
    x = Shift()(keras.layers.Dense(3)(inputs))
    return keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(x))
'''


def test_safe_mode_refusals_are_named_and_unsafe_loads_shown_beside_them(tool: Path, tmp_path: Path) -> None:
    work = tmp_path / "myproject"
    work.mkdir()
    (work / "lambdamodel.py").write_text(LAMBDA_MODEL)
    env = outside(tmp_path)

    def matrix(*args: str) -> dict[tuple[str, str, str], dict]:
        out = f"run{len(list(work.glob('run*')))}"
        proc = subprocess.run([str(tool), "matrix", *args, "--unsafe-load", "--pairing", OLD, "--out", out], cwd=work, env=env,
                              capture_output=True, text=True, timeout=2400)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / f"own-model-safe-mode-{out}.txt").write_text(proc.stdout)
        return _cells(work / out)

    cells = matrix("--model", "lambdamodel.py:build")
    refused = cells[("lambdamodel_formats[keras]", OLD_ID, OLD_ID)]
    assert refused["verdict"] == "error" and refused["exception_type"] == "ValueError", refused["reason"]
    assert refused["reason"].startswith("load refused by safe_mode (Lambda): ValueError: ")
    assert cells[("lambdamodel_formats[keras_unsafe]", OLD_ID, OLD_ID)]["verdict"] == "passed"
    assert "hint:" not in refused["output_tail"] + refused["traceback"]

    saved = work / "run0" / "artifacts" / "lambdamodel_formats[keras_unsafe]" / OLD_ID / "files" / "model.keras"
    alone = matrix("--file", str(saved))  # the file of the class not given: the hint names it, Keras's exception stays
    unknown = alone[("file_model_keras_unsafe", OLD_ID, OLD_ID)]
    assert unknown["verdict"] == "error" and "Shift" in unknown["message"] and "hint:" not in unknown["message"]
    assert "hint: the file uses the class 'Shift'" in unknown["output_tail"]
    given = matrix("--file", str(saved), "--model", "lambdamodel.py")  # given: no hint, and it loads
    assert given[("file_model_keras_unsafe", OLD_ID, OLD_ID)]["verdict"] == "passed"
    assert "save refused by safe_mode (Lambda)" in given[("file_model_keras", OLD_ID, OLD_ID)]["reason"]
