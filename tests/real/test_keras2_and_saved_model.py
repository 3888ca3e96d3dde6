"""Your own model or file with Keras 2 and SavedModel folders, for real: a Keras 2 pairing
(TensorFlow 2.15's bundled Keras) as writer and as reader beside a Keras 3 one, tf.keras files read
by Keras 3 (DepthwiseConv2D's ``groups``), SavedModel folders opened by every route, and a failure
of the harness's own helper told apart from the model's verdict on every backend installed here.

The files are written by plain ``uv run --with …`` scripts, never by the harness.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.envs.install import find_uv
from support import ROOT

pytestmark = pytest.mark.real

#: TensorFlow 2.15 has wheels up to Python 3.11: its pairing names that Python, whatever runs the tests.
KERAS2 = "tensorflow==2.15.1,python=3.11"
KERAS3 = "keras==3.5.0,tensorflow==2.16.1"
K2_ID, K3_ID = "tensorflow-2.15.1+py3.11", "keras-3.5.0+tensorflow-2.16.1"

SMALL = '''
import keras


def build():
    inputs = keras.Input(shape=(4,), name="x")
    hidden = keras.layers.Dense(5, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(hidden), name="small")
'''

WRITE_KERAS2 = '''
import numpy as np
from tensorflow import keras

keras.utils.set_random_seed(0)
inp = keras.Input((8, 8, 3))
x = keras.layers.Flatten()(keras.layers.DepthwiseConv2D(3, name="dw")(inp))
m = keras.Model(inp, keras.layers.Dense(2, name="head")(x))
m.save("dw.h5")
np.save("dw_x.npy", np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32"))
inp = keras.Input((4,))
d = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(5, activation="relu")(inp)))
d.save("tfk2_savedmodel")
'''

WRITE_EXPORT = '''
import keras

inp = keras.Input((4,), name="x")
keras.Model(inp, keras.layers.Dense(3)(inp)).export("k3_export")
'''


def plain_script(folder: Path, pins: list[str], code: str, python: str = "3.11") -> None:
    """Run ``code`` in a plain env of ``pins`` made by uv (no harness code in it), in ``folder``."""
    (folder / "write.py").write_text(textwrap.dedent(code))
    command = [find_uv(), "run", "--no-project", "--isolated", "--python", python]
    for pin in pins:
        command += ["--with", pin]
    subprocess.run([*command, "python", "write.py"], cwd=folder, check=True, capture_output=True, text=True, timeout=1800)


def harness(folder: Path, *args: str) -> tuple[dict, str]:
    out = folder / f"run-{len(list(folder.glob('run-*')))}"
    proc = subprocess.run([sys.executable, "-m", "harness", "matrix", "--out", str(out), *args], cwd=folder,
                          capture_output=True, text=True, timeout=3000, env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "results.json").read_text()), proc.stdout


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("HARNESS_ERROR_FILE",)}


def cells(data: dict) -> dict[tuple[str, str | None, str], dict]:
    return {(c["scenario"], c["saved_with"], c["pairing"]): c for c in data["cells"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("files")
    plain_script(folder, ["tensorflow==2.15.1"], WRITE_KERAS2)
    plain_script(folder, KERAS3.split(","), WRITE_EXPORT)
    return folder


def test_a_keras2_pairing_writes_and_reads_beside_keras3(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(SMALL)
    data, _ = harness(tmp_path, "--model", "small.py:build", "--pairing", KERAS2, "--pairing", KERAS3)
    found = cells(data)
    # Keras 3's files read by Keras 2: the reports users file (tensorflow#64685, #66381, #70866)
    h5 = found[("small_formats[legacy_h5]", K3_ID, K2_ID)]
    assert h5["verdict"] == "error" and "Unrecognized keyword arguments: ['batch_shape']" in h5["message"]
    keras_file = found[("small_formats[keras]", K3_ID, K2_ID)]
    assert keras_file["verdict"] == "error" and "Could not deserialize class 'Functional'" in keras_file["message"]
    # Keras 2's files read by Keras 3, and each version reading its own: no helper of the harness in the way
    assert found[("small_formats[legacy_h5]", K2_ID, K3_ID)]["verdict"] == "passed"
    for fmt in ("keras", "legacy_h5", "weights_h5"):
        assert found[(f"small_formats[{fmt}]", K2_ID, K2_ID)]["verdict"] == "passed"
    assert found[("small_formats[weights_h5]", K3_ID, K2_ID)]["verdict"] == "passed"
    assert not [c for c in data["cells"] if "helper failed" in (c["reason"] or "")]


def test_a_tf_keras_h5_with_depthwise_conv2d_in_keras3(files: Path) -> None:
    data, output = harness(files, "--file", "dw.h5", "--inputs", "dw_x.npy", "--pairing", KERAS2, "--pairing", KERAS3)
    assert "written by keras 2.15.0" in output and "the pairing with keras 2.15.0 loads it first" in output
    found = cells(data)
    assert found[("file_dw_h5", K2_ID, K2_ID)]["verdict"] == "passed"
    read = found[("file_dw_h5", K2_ID, K3_ID)]
    assert read["verdict"] == "error" and "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}" in read["message"]


def test_saved_model_folders_are_opened_by_every_route(files: Path) -> None:
    data, output = harness(files, "--file", "tfk2_savedmodel", "--pairing", KERAS2, "--pairing", KERAS3)
    assert "tensorflow SavedModel, written by keras 2.15.0, tensorflow 2.15.1" in output
    found = cells(data)
    route = {fmt: found[(f"file_tfk2_savedmodel[{fmt}]", K2_ID, K3_ID)] for fmt in ("load_model", "tfsmlayer", "saved_model")}
    assert route["load_model"]["verdict"] == "error" and "File format not supported" in route["load_model"]["message"]
    assert route["tfsmlayer"]["verdict"] == "passed" and route["saved_model"]["verdict"] == "passed"
    assert found[("file_tfk2_savedmodel[load_model]", K2_ID, K2_ID)]["verdict"] == "passed"
    routes = next(line for line in output.splitlines() if line.startswith("routes: "))
    assert "load_model fails on keras 3.5.0" in routes and "TFSMLayer loads it on keras 3.5.0, Δ 0" in routes
    export, output = harness(files, "--file", "k3_export", "--pairing", KERAS3)
    assert "tensorflow SavedModel, written by tensorflow 2.16.1" in output
    by_route = {c["scenario"]: c["verdict"] for c in export["cells"]}
    assert by_route == {"file_k3_export[load_model]": "error", "file_k3_export[tfsmlayer]": "passed",
                        "file_k3_export[saved_model]": "passed"}


BROKEN_HELPER = '''
import keras
import _keras_compat_model as helper


def _broken(value):
    raise RuntimeError("the conversion broke")


helper.to_numpy = _broken  # the harness's own step fails in this env


def build():
    inputs = keras.Input(shape=(4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))
'''


JAX = "keras==3.5.0,jax==0.4.30,jaxlib==0.4.30"  # keras 3.5's numpy backend imports jax too


@pytest.mark.parametrize("pairing", [KERAS2, KERAS3, f"{JAX},backend=jax", f"{JAX},backend=numpy"])
def test_a_failure_of_the_harnesss_helper_is_never_the_models_verdict(tmp_path: Path, pairing: str) -> None:
    (tmp_path / "mymodel.py").write_text(BROKEN_HELPER)
    data, _ = harness(tmp_path, "--model", "mymodel.py:build", "--pairing", pairing)
    ran = [c for c in data["cells"] if c["verdict"] != "skipped"]
    assert ran and {c["verdict"] for c in ran} == {"error"}
    assert all("the harness's helper failed in this env: converting the outputs to numpy: RuntimeError: the conversion broke"
               in c["reason"] for c in ran), [c["reason"] for c in ran]
