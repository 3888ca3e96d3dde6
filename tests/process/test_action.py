"""The GitHub Action (action.yml), run here the way the tests run the matrix workflow
(:mod:`support.actions`): a user's repository in a temporary folder (this project's files, as
``uses: ./`` finds them, a model file, its expectations and a workflow calling the action), its
job run step by step against stand-ins for keras and tensorflow (:mod:`support.fakekeras`); then
the model changed so that verdicts change. Also: the action and the workflow lint clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, local_index_env
from support.actions import Job, Runner, lint, load_yaml
from support.fakekeras import PAIRINGS, model_source

ACTION = ROOT / "action.yml"
WORKFLOW = f"""name: keras-compat

on:
  push:
  pull_request:

permissions:
  contents: read

jobs:
  compat:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - name: the matrix of my model
        id: compat
        # the action of this checkout, as the project's tests call it (a user writes <owner>/<repo>@v1)
        uses: ./ # zizmor: ignore[self-repository]
        with:
          model: mymodel.py:build
          pairings: |
            {PAIRINGS[0]}
            {PAIRINGS[1]}
          expect: ci/keras-compat.toml
      - name: what it found
        if: ${{{{ !cancelled() }}}}
        env:
          COUNTS: ${{{{ steps.compat.outputs.counts }}}}
          CHANGED: ${{{{ steps.compat.outputs.changed }}}}
        run: echo "counts $COUNTS, changed $CHANGED"
"""
INSTALL_START = 'venv="$RUNNER_TEMP/keras-compat-venv"'
GATE_STEP = "./exit with the gate's status"


@pytest.fixture(scope="module")
def machine_env(tmp_path_factory: pytest.TempPathFactory, framework_wheels: Path, shared_envs: Path) -> dict[str, str]:
    """A runner's environment: the stand-in wheels as the only index, and no PYTHONPATH (what the
    action installs finds its own checkout)."""
    env = local_index_env(framework_wheels, shared_envs)
    env.pop("PYTHONPATH")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the action's install step gives: its python and keras-compat, here this interpreter
    running the action's own checkout."""
    bin_dir = tmp_path_factory.mktemp("installed")
    for name, tail in (("python", '"$@"'), ("keras-compat", '-m harness "$@"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nPYTHONPATH="$GITHUB_ACTION_PATH" exec "{sys.executable}" {tail}\n')
        (bin_dir / name).chmod(0o755)
    return {"python": str(bin_dir / "python"), "keras-compat": str(bin_dir / "keras-compat")}


def make_repo(folder: Path, activation: str) -> Path:
    """A user's repository: this project's files (the action's checkout, as uses: ./ finds it),
    a model file and a workflow calling the action."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "harness", folder / "harness", ignore=ignore)
    shutil.copytree(ROOT / "reports" / "templates", folder / "reports" / "templates")
    shutil.copytree(ROOT / "scenarios", folder / "scenarios", ignore=ignore)
    for name in ("noxfile.py", "pyproject.toml", "action.yml"):
        shutil.copy2(ROOT / name, folder / name)
    (folder / "mymodel.py").write_text(model_source(activation))
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "keras-compat.yml").write_text(WORKFLOW)
    (folder / "ci").mkdir()
    return folder


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, machine_env: dict[str, str]) -> Path:
    """The repository with its expectations written once, as its owner would:
    ``keras-compat matrix --model mymodel.py:build ... --write-expect ci/keras-compat.toml``."""
    folder = make_repo(tmp_path_factory.mktemp("user") / "repo", "relu")
    args = [arg for spec in PAIRINGS for arg in ("--pairing", spec)]
    proc = subprocess.run([sys.executable, "-m", "harness", "matrix", "--model", "mymodel.py:build", *args,
                           "--write-expect", "ci/keras-compat.toml", "--out", str(folder.parent / "first")],
                          cwd=folder, env=dict(machine_env, PYTHONPATH=str(folder)), capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder


def run_job(root: Path, repo: Path, env: dict[str, str], installed: dict[str, str]) -> tuple[Runner, Job]:
    runner = Runner(root, repo, env, repo / ".github" / "workflows" / "keras-compat.yml",
                    installs={"install": (INSTALL_START, installed)})
    return runner, runner.run("compat", "compat", {})


@pytest.fixture(scope="module")
def unchanged(tmp_path_factory: pytest.TempPathFactory, repo: Path, machine_env: dict[str, str],
              installed: dict[str, str]) -> tuple[Runner, Job]:
    return run_job(tmp_path_factory.mktemp("actions"), repo, machine_env, installed)


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory, repo: Path, machine_env: dict[str, str],
            installed: dict[str, str]) -> tuple[Runner, Job]:
    """The same repository, its model now using an activation keras 1.0 does not know."""
    other = tmp_path_factory.mktemp("user-changed") / "repo"
    shutil.copytree(repo, other)
    (other / "mymodel.py").write_text(model_source("gelu"))
    return run_job(tmp_path_factory.mktemp("actions-changed"), other, machine_env, installed)


def status(job: Job, step: str) -> int | None:
    return dict(job.statuses)[step]


def test_an_unchanged_model_passes_the_gate_with_a_summary_and_an_artifact(unchanged: tuple[Runner, Job]) -> None:
    runner, job = unchanged
    print(job.summary)
    assert not job.failed, job.log
    assert status(job, GATE_STEP) == 0 and status(job, "the matrix of my model") == 0
    # the job summary: summary.md, then the gate's verdict
    assert "## mymodel.py:build across versions" in job.summary
    assert "saved with keras 3.0 → loaded with keras 1.0: ! error: TypeError: Unrecognized keyword arguments" in job.summary
    assert "expect: 16 cells checked, all as ci/keras-compat.toml expects." in job.summary
    # the artifact: the whole run folder
    artifact = runner.artifacts / "keras-compat"
    for name in ("results.json", "index.html", "summary.md", "junit.xml", "expect.md"):
        assert (artifact / name).is_file(), name
    # the outputs
    outputs = job.step_outputs["compat"]["outputs"]
    assert outputs["run-folder"] == str(job.temp / "keras-compat-run")
    assert (outputs["cells"], outputs["passed"], outputs["failed"]) == ("16", "13", "3")
    assert json.loads(outputs["counts"]) == {"passed": 13, "error": 3}
    assert (outputs["changed"], outputs["changes"], outputs["status"]) == ("false", "0", "0")
    assert 'counts {"error": 3, "passed": 13}, changed false' in job.log


def test_a_changed_model_fails_the_gate_and_the_summary_says_what_changed(changed: tuple[Runner, Job]) -> None:
    runner, job = changed
    print(job.summary)
    assert job.failed
    assert status(job, GATE_STEP) == 1
    assert status(job, "the matrix of my model") == 1 and status(job, "what it found") == 0
    assert "expect: 9 cells differ from ci/keras-compat.toml (9 changed)." in job.summary
    assert ("| changed | mymodel_formats[weights_h5] | keras-3.0_tensorflow-3.0 -> keras-1.0_tensorflow-1.0 | passed | "
            "error (ValueError) | load raised ValueError: Unknown activation function: 'gelu' |") in job.summary
    assert (runner.artifacts / "keras-compat" / "expect.md").is_file()
    outputs = job.step_outputs["compat"]["outputs"]
    assert (outputs["changed"], outputs["changes"], outputs["status"]) == ("true", "9", "1")


def test_inputs_reach_the_scripts_through_env_only() -> None:
    action = load_yaml(ACTION)
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert "${{ inputs." not in str(step.get("working-directory", "")), step
            assert "${{" not in step["run"], step["run"]
        else:
            assert len(step["uses"].split("@")[1]) == 40, step["uses"]  # pinned to a commit


def test_the_action_needs_no_write_permission() -> None:
    """The workflow calling it grants contents: read only, and junit.xml is published as
    annotations (a check run would need checks: write)."""
    action = load_yaml(ACTION)
    junit = next(step for step in action["runs"]["steps"] if step.get("uses", "").startswith("mikepenz/"))
    assert junit["with"]["annotate_only"] is True


@pytest.mark.parametrize("linter", ["actionlint", "zizmor"])
def test_the_action_and_a_workflow_calling_it_lint_clean(linter: str, tmp_path: Path) -> None:
    """actionlint checks the workflow and its call of the local action (inputs it declares);
    zizmor both files. The action's bash steps go through shellcheck too (actionlint does not
    read action.yml's scripts)."""
    folder = make_repo(tmp_path / "repo", "relu")
    subprocess.run(["git", "init", "-q", str(folder)], check=True, timeout=60)
    paths = [".github/workflows/keras-compat.yml"] if linter == "actionlint" else ["action.yml", ".github/workflows/keras-compat.yml"]
    proc = lint(linter, paths, folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    from support.actions import linter

    shellcheck, env = linter("shellcheck")
    action = load_yaml(ACTION)
    scripts = []
    for n, step in enumerate(step for step in action["runs"]["steps"] if "run" in step):
        assert step["shell"] == "bash"
        script = tmp_path / f"step{n}.sh"
        script.write_text("#!/bin/bash\nset -eo pipefail\n" + step["run"])
        scripts.append(str(script))
    proc = subprocess.run([shellcheck, "--severity=style", *scripts], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
