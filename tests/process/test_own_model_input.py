"""Checking your own model or file: the config table, and bad input refused in one line before
anything is installed (no framework needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import FAKE, GRU_FILE, Harness, keras3_weights, keras_zip, write_scenario

MODEL = "import keras\n\ndef build():\n    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"


def run_in(harness: Harness, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=harness.env, capture_output=True,
                          text=True, timeout=600, check=False)


def one_line_exit_2(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--model", "missing.py:build"], "does not exist"),
    (["--model", "mymodel.py:buidl"], "defines no 'buidl' at module level"),
    (["--model", "mymodel.py"], "names no function"),
    (["--model", "mymodel.txt:build"], "is not FILE.py:FUNCTION"),
    (["--model", "mymodel.py:build", "--scenarios", "scen"], "drop --scenarios"),
    (["--model", "mymodel.py:build", "--only", "x"], "Unknown scenario id"),
    (["--model", "mymodel.py:build", "--reference", "y.npy"], "go with --file"),
    (["--file", "garbage.keras"], "neither an HDF5 file nor a .keras zip"),
    (["--file", "missing.keras"], "is not a regular file"),
    (["--file", "weights.weights.h5"], "holds weights only"),
    (["--file", "weights.weights.h5", "--model", "mymodel.py:build", "--inputs", "none.npy"], "does not exist"),
    (["--file", "weights.weights.h5", "--model", "mymodel.py:build", "--inputs", "mymodel.py"], "is not a .npy array file"),
    (["--file", "weights.weights.h5", "--model", "mymodel.py:build", "--inputs", "objects.npy"], "holds Python objects"),
    (["--file", "weights.weights.h5", "--model", "mymodel.py:build", "--inputs", "x.npy", "--reference", "garbage.keras"],
     "--reference"),
    (["--file", "weights.weights.h5", "--model", "mymodel.py:build", "--signature", "("], "not a valid regular expression"),
    (["--scenarios", "scen", "--unsafe-load"], "--unsafe-load goes with --model or --file"),
])
def test_bad_input_is_one_line_before_any_install(harness: Harness, tmp_path: Path, args: list[str], fragment: str) -> None:
    (tmp_path / "mymodel.py").write_text(MODEL)
    (tmp_path / "mymodel.txt").write_text(MODEL)
    (tmp_path / "garbage.keras").write_bytes(b"not a model at all")
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    keras3_weights(tmp_path / "weights.weights.h5", GRU_FILE)
    write_scenario(tmp_path / "scen", "passes", '"""Passes"""\ndef run(workdir):\n    return None\n')
    # a pairing that does not exist: reaching the installer would say so instead
    one_line_exit_2(run_in(harness, tmp_path, "matrix", *args, "--pairing", "keras==0.0.0.dev0", "--envs-dir", "envs"), fragment)
    assert not (tmp_path / "envs").exists() and not (tmp_path / "reports").exists()


PASSES = '"""Passes"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n'


def test_the_config_table_sets_defaults_the_command_line_overrides(harness: Harness, tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_scenario(project / "checks", "passes", PASSES)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.keras-compat]\n'
        f'pairings = ["{FAKE}==1.0"]\nscenarios = ["checks"]\ntimeout = 7\njobs = 2\nout = "runs/one"\n')
    inner = project / "src" / "deeper"
    inner.mkdir(parents=True)
    proc = run_in(harness, inner, "matrix")  # found upward from a subfolder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((project / "runs" / "one" / "run.json").read_text())
    assert run["run"]["options"]["timeout"] == 7 and run["run"]["options"]["jobs"] == 2
    assert run["run"]["options"]["config"] == str(project / "pyproject.toml")
    assert [p["id"] for p in run["pairings"]] == [f"{FAKE}-1.0"]
    proc = run_in(harness, inner, "matrix", "--timeout", "9", "--out", "two", "--pairing", f"{FAKE}==3.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((inner / "two" / "run.json").read_text())
    assert run["run"]["options"]["timeout"] == 9 and [p["id"] for p in run["pairings"]] == [f"{FAKE}-3.0"]
    assert run["run"]["options"]["jobs"] == 2  # not given: still the file's


def test_a_keras_compat_toml_without_out_puts_runs_beside_it(harness: Harness, tmp_path: Path) -> None:
    write_scenario(tmp_path / "checks", "passes", PASSES)
    (tmp_path / "keras-compat.toml").write_text(f'pairings = ["{FAKE}==1.0"]\nscenarios = ["checks"]\n')
    (tmp_path / "sub").mkdir()
    assert run_in(harness, tmp_path / "sub", "matrix").returncode == 0
    [run] = list((tmp_path / "reports" / "runs").iterdir())
    assert json.loads((run / "results.json").read_text())["cells"][0]["verdict"] == "passed"


@pytest.mark.parametrize("text, fragment", [
    ('[tool.keras-compat]\ntimeot = 5\n', "unknown key 'timeot'"),
    ('[tool.keras-compat]\ntimeout = "five"\n', "timeout must be a positive number"),
    ('[tool.keras-compat]\njobs = 1.5\n', "jobs must be a positive whole number"),
    ('[tool.keras-compat]\npairings = "keras"\n', "pairings must be a list of strings"),
    ('[tool.keras-compat]\ncross = "some"\n', "cross must be one of all, same"),
    ('[tool.keras-compat]\nunsafe_load = "yes"\n', "unsafe_load must be true or false"),
    ('[tool.keras-compat\ntimeout = 5\n', "is not valid TOML"),
])
def test_a_bad_config_table_is_one_line_naming_the_key_and_the_file(harness: Harness, tmp_path: Path, text: str,
                                                                     fragment: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    proc = run_in(harness, tmp_path, "matrix", "--pairing", f"{FAKE}==1.0")
    one_line_exit_2(proc, fragment)
    assert "pyproject.toml" in proc.stderr


PLANT = "__import__('pathlib').Path('PLANTED').touch()"


@pytest.mark.parametrize("where", ["keras_version", "file_name"])
def test_a_hostile_saved_file_runs_no_code_in_any_env(harness: Harness, tmp_path: Path, where: str) -> None:
    """A .keras file whose metadata or name closes a docstring and plants code: the generated
    scenario is imported in the env (and fails there: the fake env has no Keras), and the planted
    code never runs."""
    hostile = f'3.5.0"""\n{PLANT}\nx = """'
    if where == "keras_version":
        saved = keras_zip(tmp_path / "model.keras", {"keras_version": hostile, "backend": "tensorflow"})
    else:
        saved = keras_zip(tmp_path / f'x""";{PLANT};"""y.keras', {"keras_version": "3.5.0"})
    proc = run_in(harness, tmp_path, "matrix", "--file", str(saved), "--pairing", f"{FAKE}==1.0", "--out", "run")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    [cell] = json.loads((tmp_path / "run" / "results.json").read_text())["cells"]
    assert cell["verdict"] == "error" and "SyntaxError" not in str(cell), cell  # imported, then failed on Keras
    assert not list(tmp_path.rglob("PLANTED")), "planted code ran"
    if where == "keras_version":
        assert "unknown writer" in proc.stdout and "PLANTED" not in proc.stdout


def test_unsafe_load_adds_the_loads_with_safe_mode_off_from_the_option_or_the_table(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "mymodel.py").write_text(MODEL)
    proc = run_in(harness, tmp_path, "matrix", "--model", "mymodel.py:build", "--unsafe-load", "--pairing", f"{FAKE}==1.0",
                  "--out", "option")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    scenarios = {c["scenario"] for c in json.loads((tmp_path / "option" / "results.json").read_text())["cells"]}
    assert scenarios == {f"mymodel_formats[{f}]" for f in ("keras", "keras_unsafe", "legacy_h5", "legacy_h5_unsafe", "weights_h5")
                         } | {"mymodel_saved_model"}
    first = proc.stdout.splitlines()
    assert first[0].startswith("config: none found") and first[1].startswith("inputs: made from the model's input specs"), first[:3]
    keras_zip(tmp_path / "model.keras", {"keras_version": "3.5.0"})
    write_scenario(tmp_path / "checks", "passes", PASSES)  # the table's scenarios: replaced by the generated ones
    (tmp_path / "keras-compat.toml").write_text(f'pairings = ["{FAKE}==1.0"]\nscenarios = ["checks"]\nunsafe_load = true\n')
    proc = run_in(harness, tmp_path, "matrix", "--file", "model.keras", "--out", "table")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == f"config: {tmp_path / 'keras-compat.toml'} (the whole file: pairings, scenarios, unsafe_load)"
    scenarios = {c["scenario"] for c in json.loads((tmp_path / "table" / "results.json").read_text())["cells"]}
    assert scenarios == {"file_model_keras", "file_model_keras_unsafe"}
