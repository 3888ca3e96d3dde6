"""Readiness with a baseline and a candidate built in the test: every change class, every exit status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support import FAKE, Harness, build_wheel, local_index_env, write_scenario

SCENARIOS = {
    "breaks_in_candidate": '''
        """Passes on 1.x, fails on 3.x"""
        import harness_fake
        SIGNATURE = "ValueError: expected 3 variables"
        def run(workdir):
            if harness_fake.__version__.startswith("3"):
                raise ValueError("expected 3 variables, but received 0")
            return {"expected": 1.0, "actual": 1.0}
    ''',
    "fixed_in_candidate": '''
        """Fails on 1.x, passes on 3.x"""
        import harness_fake
        SIGNATURE = "ValueError: expected 3 variables"
        def run(workdir):
            if harness_fake.__version__.startswith("1"):
                raise ValueError("expected 3 variables, but received 0")
    ''',
    "error_becomes_signature": '''
        """Another error on 1.x, the known failure on 3.x"""
        import harness_fake
        SIGNATURE = "ValueError: expected 3 variables"
        def run(workdir):
            if harness_fake.__version__.startswith("1"):
                raise KeyError("something else")
            raise ValueError("expected 3 variables, but received 0")
    ''',
    "steady": '''
        """Passes everywhere"""
        def run(workdir):
            return {"expected": [1.0, 2.0], "actual": [1.0, 2.0]}
    ''',
    "cross_format": '''
        """The candidate cannot read what the baseline wrote"""
        import harness_fake
        def save(workdir):
            with open(workdir + "/model.txt", "w") as handle:
                handle.write(harness_fake.__version__)
            return {"v": 1.0}
        def load(workdir):
            with open(workdir + "/model.txt") as handle:
                written = handle.read()
            if written[0] != harness_fake.__version__[0]:
                raise ValueError("Layer 'dense' expected 2 variables, but received 0 variables during loading.")
            return {"v": 1.0}
    ''',
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path, Path]:
    tmp = tmp_path_factory.mktemp("readiness")
    folder = tmp / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(folder, name, body)
    candidate_wheel = build_wheel(tmp / "dist", FAKE, "3.1.dev20261127", {"harness_fake/__init__.py": "__version__ = '3.1'\n"})
    return Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp), folder, candidate_wheel


def test_a_candidate_with_regressions_is_not_ready(setup: tuple[Harness, Path, Path], tmp_path: Path) -> None:
    harness, folder, wheel = setup
    out = tmp_path / "r"
    proc = harness.run("readiness", "--baseline", f"{FAKE}==1.0", "--candidate", str(wheel), "--scenarios", str(folder),
                       "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "readiness: NOT READY — 2 regressed, 1 changed, 1 fixed, 1 unchanged"
    data = json.loads((out / "readiness.json").read_text())
    assert data["candidate"] == f"{FAKE}-3.1.dev20261127-wheel"  # a pre-release recorded exactly
    assert data["scenarios"] == {"breaks_in_candidate": "regressed", "cross_format": "regressed",
                                 "error_becomes_signature": "changed", "fixed_in_candidate": "fixed", "steady": "unchanged"}
    forward = [c for c in data["comparisons"] if c["what"] == "baseline's save loaded by the candidate"]
    assert forward[0]["change"] == "regressed" and forward[0]["candidate"]["verdict"] == "error"
    assert "expected 2 variables" in forward[0]["candidate"]["message"]
    md = (out / "readiness.md").read_text()
    assert "**readiness: NOT READY" in md and "| `breaks_in_candidate` |" in md
    html = (out / "index.html").read_text()
    assert "NOT READY" in html and "expected 3 variables, but received 0" in html
    assert (out / "run" / "index.html").exists()


def test_ready_and_strict(setup: tuple[Harness, Path, Path], tmp_path: Path) -> None:
    harness, folder, wheel = setup
    common = ["--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==3.0", "--scenarios", str(folder)]
    proc = harness.run("readiness", *common, "--only", "steady", "--only", "fixed_in_candidate", "--out", str(tmp_path / "a"))
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "readiness: READY — 1 fixed, 1 unchanged"
    proc = harness.run("readiness", *common, "--only", "error_becomes_signature", "--out", str(tmp_path / "b"))
    assert proc.returncode == 0 and "READY — 1 changed" in proc.stdout
    proc = harness.run("readiness", *common, "--only", "error_becomes_signature", "--strict", "--out", str(tmp_path / "c"))
    assert proc.returncode == 1 and "NOT READY — 1 changed" in proc.stdout


def test_baseline_results_are_reused_with_new_and_gone(setup: tuple[Harness, Path, Path], tmp_path: Path) -> None:
    harness, folder, _ = setup
    old_scenarios = tmp_path / "old-scenarios"
    shutil.copytree(folder, old_scenarios)
    write_scenario(old_scenarios, "retired", '"""Only in the old run"""\ndef run(workdir):\n    return None\n')
    stored = tmp_path / "stored"
    harness.run("matrix", "--scenarios", str(old_scenarios), "--pairing", f"{FAKE}==1.0", "--out", str(stored),
                "--only", "steady", "--only", "retired", "--only", "cross_format", check_code=0)
    new_scenarios = tmp_path / "new-scenarios"
    new_scenarios.mkdir()
    for name in ("steady", "cross_format"):
        shutil.copy(folder / f"{name}.py", new_scenarios)
    write_scenario(new_scenarios, "brand_new", '"""Only in the candidate run"""\ndef run(workdir):\n    return None\n')
    out = tmp_path / "r"
    proc = harness.run("readiness", "--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==3.0",
                       "--baseline-results", str(stored / "results.json"), "--scenarios", str(new_scenarios), "--out", str(out))
    data = json.loads((out / "readiness.json").read_text())
    assert data["scenarios"] == {"brand_new": "new", "retired": "gone", "steady": "unchanged", "cross_format": "regressed"}
    assert proc.returncode == 1
    run = json.loads((out / "run" / "results.json").read_text())
    assert [p["id"] for p in run["pairings"] if p["source"] is None] == [f"{FAKE}-3.0"]  # the baseline did not run again


@pytest.mark.parametrize("args, fragment", [
    (["--baseline", "keras===", "--candidate", f"{FAKE}==3.0"], "is not a requirement"),
    (["--baseline", f"{FAKE}==1.0", "--candidate", "./nope/x-1.0-py3-none-any.whl"], "does not exist"),
    (["--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==3.0", "--baseline-results", "/nonexistent/results.json"],
     "not a regular file"),
])
def test_readiness_bad_input(setup: tuple[Harness, Path, Path], tmp_path: Path, args: list[str], fragment: str) -> None:
    harness, folder, _ = setup
    proc = harness.run("readiness", *args, "--scenarios", str(folder), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
