"""The CI workflow, run here (:mod:`support.actions`): every job of .github/workflows/matrix.yml
in a folder of its own standing in for its machine (a fresh copy of the project with fake
scenarios), its run: steps executed as the runner would (bash -eo pipefail, or python), the
artifact steps copying folders to and from a shared store as upload-artifact and
download-artifact would, and nox itself, with no venv, running the harness against the fake
wheels. Also: the workflow lints clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, local_index_env, write_scenario
from support.actions import Job, Runner, condition, lint

WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
PAIRINGS = [f"{FAKE}==1.0", f"{FAKE}==2.0.dev1", f"{FAKE}==3.0"]
OLD = f"{FAKE}-1.0"

SCENARIOS = {
    "a_run": '"""Runs clean"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n',
    "b_signature": '"""Raises the signature"""\nSIGNATURE = "ValueError: boom"\ndef run(workdir):\n    raise ValueError("boom")\n',
    "c_values": '''
        """Each version computes its own value"""
        import harness_fake
        def save(workdir):
            with open(workdir + "/saved.txt", "w") as handle:
                handle.write(harness_fake.__version__)
            return {"v": float(harness_fake.__version__[0])}
        def load(workdir):
            with open(workdir + "/saved.txt") as handle:
                assert handle.read()
            return {"v": float(harness_fake.__version__[0])}
    ''',
    "d_old_writes": '''
        """Written by the old generation only, read by the new ones only"""
        SAVE_REQUIRES = {"harness-fake": "<2"}
        REQUIRES = {"harness-fake": ">=2"}
        def save(workdir):
            return {"v": 1.0}
        def load(workdir):
            return {"v": 1.0}
    ''',
    "e_save_fails": '''
        """The save fails on 1.0"""
        import harness_fake
        def save(workdir):
            if harness_fake.__version__ == "1.0":
                raise RuntimeError("cannot save here")
            return {"v": 1.0}
        def load(workdir):
            return {"v": 1.0}
    ''',
}

@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("staged") / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(folder, name, body)
    return folder


@pytest.fixture(scope="module")
def project(scenarios: Path) -> Path:
    """What actions/checkout gives each machine: this project, its scenarios the fake ones."""
    copy = scenarios.parent / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "harness", copy / "harness", ignore=ignore)
    shutil.copytree(ROOT / "reports" / "templates", copy / "reports" / "templates")
    shutil.copytree(ROOT / ".github", copy / ".github")
    shutil.copytree(scenarios, copy / "scenarios")
    for name in ("noxfile.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def machine_env(wheelhouse: Path, shared_envs: Path, scenarios: Path) -> dict[str, str]:
    """A runner's environment: the fake wheels as the only index, each checkout's own envs folder,
    and ``nox`` (no venv, no installs) and ``python`` being this interpreter."""
    bin_dir = scenarios.parent / "bin"
    bin_dir.mkdir()
    (bin_dir / "nox").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nox --no-venv --no-install "$@"\n')
    (bin_dir / "nox").chmod(0o755)
    # A wrapper, never a symlink: a venv interpreter reached through a link outside the venv's bin/
    # finds no pyvenv.cfg and runs as the base interpreter, without the packages of this session.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = local_index_env(wheelhouse, shared_envs)
    for name in ("HARNESS_ENVS_DIR", "PYTHONPATH"):
        env.pop(name)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory, project: Path, machine_env: dict[str, str]) -> tuple[Runner, dict, list[Job]]:
    """The plan, then both stages for every pairing, each job on its own machine, then the merge."""
    runner = Runner(tmp_path_factory.mktemp("actions"), project, machine_env, WORKFLOW,
                    installs={"tools": ("python -m pip install nox", {})})
    plan = runner.run("plan", "plan", {"inputs": {"pairings": " ".join(PAIRINGS)}})
    assert not plan.failed, plan.log
    needs = {"plan": {"outputs": plan.outputs, "result": "success"}}
    jobs = [plan]
    for stage in ("stage1", "stage2"):
        assert condition(runner.workflow["jobs"][stage].get("if"), {"needs": needs}, failed=False)
        for pairing in json.loads(plan.outputs["pairings"]):
            job = runner.run(stage, f"{stage}-{pairing['label']}", {"matrix": {"pairing": pairing}, "needs": needs})
            assert not job.failed, job.log
            jobs.append(job)
    assert condition(runner.workflow["jobs"]["merge"].get("if"), {"needs": needs}, failed=False)
    merge = runner.run("merge", "merge", {"needs": needs})
    jobs.append(merge)
    return runner, needs, jobs


@pytest.fixture(scope="module")
def unsharded(scenarios: Path, wheelhouse: Path, shared_envs: Path) -> dict:
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=scenarios.parent)
    out = scenarios.parent / "unsharded"
    args = [arg for spec in PAIRINGS for arg in ("--pairing", spec)]
    harness.run("matrix", "--scenarios", str(scenarios), *args, "--out", str(out), check_code=0)
    return harness.results(out)


def cells(data: dict) -> dict[tuple[str, str | None, str], tuple[str, str]]:
    return {(c["scenario"], c["saved_with"], c["pairing"]): (c["verdict"], c["reason"]) for c in data["cells"]}


def test_every_step_python_is_this_sessions_interpreter(machine_env: dict[str, str], tmp_path: Path) -> None:
    """A step's ``python`` (and nox's) must be the interpreter running the tests, with its packages:
    the prefix it reports is this session's, and the harness's host packages import there."""
    probe = "import sys, h5py, jinja2, pypi_simple; print(sys.prefix)"
    for words in (["python", "-c", probe], ["bash", "--noprofile", "--norc", "-c", f'python -c "{probe}"']):
        proc = subprocess.run(words, cwd=tmp_path, env=machine_env, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == sys.prefix, (proc.stdout, sys.prefix)
    nox = subprocess.run(["nox", "--version"], cwd=tmp_path, env=machine_env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert nox.returncode == 0, nox.stderr


def test_the_plan_makes_a_job_per_pairing_and_asks_for_stage_two(staged: tuple) -> None:
    _, needs, _ = staged
    planned = json.loads(needs["plan"]["outputs"]["pairings"])
    assert [p["spec"] for p in planned] == PAIRINGS
    assert len({p["label"] for p in planned}) == 3 and needs["plan"]["outputs"]["labels"].split() == [p["label"] for p in planned]
    assert needs["plan"]["outputs"]["stage2"] == "true"


def test_each_job_creates_exactly_one_env(staged: tuple) -> None:
    _, _, jobs = staged
    plan, *stages, merge = jobs
    assert plan.envs() == [] and merge.envs() == []
    assert len(stages) == 6
    for job in stages:
        assert len(job.envs()) == 1, (job.machine.name, job.envs())
    by_pairing = {job.machine.name.split("-", 1)[1]: job.envs() for job in stages if job.machine.name.startswith("stage1-")}
    for job in stages:  # stage 2 installs the same pairing as stage 1, on its own machine
        assert job.envs() == by_pairing[job.machine.name.split("-", 1)[1]]


def test_the_merged_run_is_the_unsharded_run_cell_for_cell(staged: tuple, unsharded: dict) -> None:
    _, _, jobs = staged
    merge = jobs[-1]
    assert not merge.failed, merge.log
    merged = json.loads((merge.workspace / "merged" / "results.json").read_text())
    assert merged["run"]["options"]["cross"] == "all" and merged["run"]["complete"] is True
    assert [p["source"] for p in merged["pairings"]] == [None, None, None]
    assert cells(merged) == cells(unsharded)
    assert len(merged["cells"]) == 2 * 3 + 3 * 9
    assert "0 missing, 0 in conflict" in merge.log
    # what the merge job publishes
    assert merge.summary == (merge.workspace / "merged" / "summary.md").read_text() and merge.summary
    testcases = ET.parse(merge.workspace / "merged" / "junit.xml").getroot().iter("testcase")
    assert len(list(testcases)) == len(merged["cells"])
    assert (staged[0].artifacts / "matrix-report" / "results.json").is_file()


def test_a_lost_stage_one_run_fails_the_merge_naming_its_cells(staged: tuple, tmp_path: Path) -> None:
    runner, needs, _ = staged
    first = json.loads(needs["plan"]["outputs"]["pairings"])[0]
    assert first["spec"] == PAIRINGS[0]
    merge = runner.rerun_without(tmp_path, f"stage1-{first['label']}").run("merge", "merge", {"needs": needs})
    assert merge.failed
    assert f"::error::stage 1 of pairing {first['label']} left no run folder" in merge.log
    missing = sorted(line for line in merge.log.splitlines() if line.startswith("missing: "))
    assert missing == sorted([f"missing: a_run @ {OLD}", f"missing: b_signature @ {OLD}", f"missing: c_values @ {OLD} -> {OLD}",
                              f"missing: d_old_writes @ {OLD} -> {OLD}", f"missing: e_save_fails @ {OLD} -> {OLD}"])
    assert "merge: 5 planned cells are missing" in merge.log
    assert (merge.workspace / "merged" / "index.html").is_file() and merge.summary  # still reported


def test_a_saver_that_cannot_be_installed_gives_the_stages_the_unsharded_cells(
        scenarios: Path, wheelhouse: Path, shared_envs: Path, tmp_path: Path) -> None:
    """A pairing whose env cannot be installed leaves no save; the loads of its saves are still
    cells of the stage-2 runs (install_failed, as in one run), not missing ones."""
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp_path)
    specs, only = [f"{FAKE}==9.9", f"{FAKE}==1.0"], ["--only", "a_run", "--only", "c_values", "--only", "e_save_fails"]
    scenario_args = ["--scenarios", str(scenarios), *only]
    for n, spec in enumerate(specs):
        harness.run("matrix", *scenario_args, "--pairing", spec, "--cross", "same", "--out", str(tmp_path / f"s1-{n}"), check_code=0)
    for n, spec in enumerate(specs):
        other = tmp_path / f"s1-{1 - n}"
        harness.run("matrix", *scenario_args, "--pairing", spec, "--cross", "imported", "--load-artifacts", str(other),
                    "--out", str(tmp_path / f"s2-{n}"), check_code=0)
    merged = harness.run("report", "merge", *[str(tmp_path / f"s{s}-{n}") for s in (1, 2) for n in (0, 1)],
                         "--out", str(tmp_path / "merged"), check_code=0)
    assert "0 missing" in merged.stdout
    whole = tmp_path / "whole"
    harness.run("matrix", *scenario_args, "--pairing", specs[0], "--pairing", specs[1], "--out", str(whole), check_code=0)
    assert cells(harness.results(tmp_path / "merged")) == cells(harness.results(whole))
    assert cells(harness.results(whole))[("c_values", f"{FAKE}-9.9", OLD)][0] == "install_failed"


@pytest.mark.parametrize("linter", ["actionlint", "zizmor"])
def test_the_workflow_lints_clean(linter: str) -> None:
    """actionlint (with shellcheck on the bash steps and pyflakes on the python one) and zizmor:
    installed with the tests' packages (TEST_PACKAGES in noxfile.py)."""
    proc = lint(linter, [str(WORKFLOW.relative_to(ROOT))], ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
