"""End to end with real Keras and TensorFlow installed by uv from the package index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

pytestmark = pytest.mark.real


def test_seed_case_on_keras_3_5_0(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_NO_INDEX", "UV_FIND_LINKS", "HARNESS_ERROR"))}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "matrix", "--pairing", "keras==3.5.0,tensorflow==2.16.1", "--out", str(out),
         "--only", "gru_weights_into_grucell", "--only", "gru_get_set_weights_into_grucell",
         "--only", "gru_legacy_h5_into_grucell", "--only", "gru_cross_version[keras]"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((out / "results.json").read_text())
    [pairing] = data["pairings"]
    assert pairing["packages"]["keras"] == "3.5.0" and pairing["packages"]["tensorflow"] == "2.16.1"
    cells = {c["scenario"]: c for c in data["cells"]}
    seed = cells["gru_weights_into_grucell"]
    assert seed["verdict"] == "reproduced", seed
    assert "Layer 'gru_cell' expected 3 variables, but received 0 variables during loading" in seed["message"]
    for workaround in ("gru_get_set_weights_into_grucell", "gru_legacy_h5_into_grucell", "gru_cross_version[keras]"):
        cell = cells[workaround]
        assert cell["verdict"] == "passed", cell
        assert cell["compared"] and cell["compared_count"] > 0
        assert cell["max_abs_diff"] is not None and cell["max_abs_diff"] < 1e-5
    assert cells["gru_cross_version[keras]"]["saved_with"] == pairing["id"]


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seed") / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_NO_INDEX", "UV_FIND_LINKS", "HARNESS_ERROR"))}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "matrix", "--pairing", "keras==3.5.0,tensorflow==2.16.1", "--out", str(out),
         "--only", "gru_weights_into_grucell", "--only", "gru_weights_remapped_into_grucell"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_a_failed_load_shows_where_the_variables_went(seed_run: Path) -> None:
    from harness.evidence.codec import read_results, to_dict

    data = to_dict(read_results(seed_run / "results.json"))  # each cell's files given back from the anatomy table
    cells = {c["scenario"]: c for c in data["cells"]}
    seed = cells["gru_weights_into_grucell"]
    [weights] = [f for f in seed["files"] if f["path"].endswith("gru.weights.h5")]
    assert {g["path"] for g in weights["groups"]} >= {"layers/gru/cell/vars", "layers/gru_1/cell/vars", "layers/dense/vars"}
    assert [layer["name"] for layer in seed["probe"]["layers"]] == ["gru_cell", "gru_cell_1"]
    lines = seed["mapping_text"].splitlines()[1:]
    assert lines == [
        "gru_cell (kernel (3, 15), recurrent_kernel (5, 15), bias (2, 15))  <-  layers/gru/cell/vars/0..2",
        "gru_cell_1 (kernel (5, 15), recurrent_kernel (5, 15), bias (2, 15))  <-  layers/gru_1/cell/vars/0..2",
    ]
    assert [m["looked_under"] for m in seed["mapping"]] == ["layers/gru_cell/vars/0..2", "layers/gru_cell_1/vars/0..2"]
    remapped = cells["gru_weights_remapped_into_grucell"]
    assert remapped["verdict"] == "passed" and remapped["compared"] and remapped["max_abs_diff"] < 1e-5
    html = (seed_run / "index.html").read_text()
    assert "layers/gru/cell/vars/0..2" in html and "mapping-picture" in html


def test_inspect_against_writes_a_remapped_copy_that_loads(seed_run: Path, tmp_path: Path) -> None:
    [source] = list((seed_run / "work").glob("gru_weights_into_grucell-*/gru.weights.h5"))
    before = source.read_bytes()
    check = tmp_path / "check_gru.py"
    check.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'scenarios')!r})\n"
        "from _gru import build_sequence_model, run_steps, sample_input\n"
        "def check(model):\n"
        "    sequence = build_sequence_model()\n"
        f"    sequence.load_weights({str(source)!r})\n"
        "    x = sample_input()\n"
        "    return {'expected': sequence.predict(x, verbose=0), 'actual': run_steps(model, x)}\n"
    )
    out = tmp_path / "remapped.weights.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "inspect", str(source), "--against", "scenarios/_gru.py:build_step_model",
         "--pairing", "keras==3.5.0,tensorflow==2.16.1", "--write-remapped", str(out), "--check", f"{check}:check"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gru_cell (0 (3, 15), 1 (5, 15), 2 (2, 15))  <-  layers/gru/cell/vars/0..2" in proc.stdout
    assert "3 matched, 0 ambiguous, 0 missing" in proc.stdout
    assert "verified: loads into scenarios/_gru.py:build_step_model; 16 values compared" in proc.stdout
    assert out.exists() and source.read_bytes() == before


@pytest.mark.browser
def test_the_default_matrix_through_nox(tmp_path: Path) -> None:
    """The front door on the three default pairings and every shipped scenario, and a screenshot."""
    out = tmp_path / "default"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_NO_INDEX", "UV_FIND_LINKS", "HARNESS_ERROR"))}
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "matrix", "--envdir", str(tmp_path / "nox"), "--", "--out", str(out),
         "--jobs", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((out / "results.json").read_text())
    labels = {p["id"]: p["versions"]["keras"] for p in data["pairings"]}
    assert {"3.5.0", "3.6.0"} <= set(labels.values()) and len(labels) == 3
    seed = [c for c in data["cells"] if c["scenario"] == "gru_weights_into_grucell"]
    assert [c["verdict"] for c in seed] == ["reproduced"] * 3
    for scenario in ("gru_get_set_weights_into_grucell", "gru_legacy_h5_into_grucell", "gru_weights_remapped_into_grucell"):
        cells = [c for c in data["cells"] if c["scenario"] == scenario]
        assert [c["verdict"] for c in cells] == ["passed"] * 3, scenario
        assert all(c["compared"] and c["max_abs_diff"] is not None for c in cells)
    assert all(c["verdict"] != "interrupted" for c in data["cells"])
    from support.browser import chromium, screenshot

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto((out / "index.html").as_uri())
        assert page.locator("#matrix td.cell").count() == 3 * len(data["scenarios"])
        screenshot(page, "report-default-matrix.png")
        page.locator('#matrix td.cell[data-verdict="reproduced"] a').first.click()
        screenshot(page, "report-default-matrix-evidence.png")
        page.close()


def test_a_real_rerun_takes_every_cell_from_the_cache(tmp_path: Path) -> None:
    """Real TensorFlow: a run measured afresh, then the same run again reuses every cell and the
    save, starts no worker (no framework import), and gives the same verdicts with the same evidence."""
    from harness.evidence.codec import read_results, to_dict

    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_NO_INDEX", "UV_FIND_LINKS", "HARNESS_ERROR"))}
    env["HARNESS_CACHE"] = "on"
    args = [sys.executable, "-m", "harness", "matrix", "--pairing", "keras==3.5.0,tensorflow==2.16.1",
            "--only", "gru_weights_into_grucell", "--only", "gru_cross_version[keras]"]
    runs = []
    for n, extra in enumerate((["--fresh"], [])):
        out = tmp_path / f"run{n}"
        proc = subprocess.run([*args, *extra, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=1800, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append((out, to_dict(read_results(out / "results.json")), proc.stdout))
    (_, first, _), (second_dir, second, output) = runs
    assert all(c["reused_from"] is None for c in first["cells"])
    before = {c["scenario"]: c for c in first["cells"]}
    for cell in second["cells"]:
        assert cell["reused_from"].startswith(f"run {first['run']['id']} ")
        assert cell["verdict"] == before[cell["scenario"]]["verdict"]
        assert cell["message"] == before[cell["scenario"]]["message"] and cell["files"] == before[cell["scenario"]]["files"]
    assert before["gru_weights_into_grucell"]["verdict"] == "reproduced" and before["gru_weights_into_grucell"]["files"]
    assert "imported keras" not in output and not list((second_dir / "logs").glob("worker-*.log"))
    saved = list((second_dir / "artifacts").glob("*/*/files/*"))
    assert saved, "the cached save is put back into the run folder"
