"""GitHub Actions, run here: a workflow's jobs, each in a folder of its own standing in for its
machine, their ``run:`` steps executed as the runner would (bash -eo pipefail, or python), the
artifact steps copying folders to and from a shared store as upload-artifact and
download-artifact would, and a local composite action (``uses: ./``, its ``action.yml``) run step
by step with its inputs, its ``env:`` and its outputs. The steps that install tools are not run:
the machine has them already (``installs``: what each such step would have given). Also: a
workflow or action lints clean with actionlint and zizmor."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text())


def lookup(expression: str, context: dict[str, Any]) -> Any:
    """A dotted name (``matrix.pairing.spec``) in the context; anything else fails the test. A
    step output that was never written (or of a step that did not run) is empty, as on GitHub."""
    value: Any = context
    parts = expression.split(".")
    for n, part in enumerate(parts):
        if not isinstance(value, dict) or part not in value:
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs" and n >= 1:
                return ""
            raise AssertionError(f"the test's runner does not know the expression {expression!r}")
        value = value[part]
    return value


def substitute(text: str, context: dict[str, Any]) -> str:
    return EXPRESSION.sub(lambda m: str(lookup(m.group(1), context)), text)


def condition(text: str | None, context: dict[str, Any], failed: bool) -> bool:
    """An ``if:``: none means success(); terms joined by ``&&`` of ``!cancelled()`` (nothing is
    cancelled here), ``NAME == 'value'`` and ``NAME != 'value'``."""
    if text is None:
        return not failed
    inner = EXPRESSION.fullmatch(text.strip())
    terms = (inner.group(1) if inner else text).split("&&")
    for term in (t.strip() for t in terms):
        compared = re.fullmatch(r"([\w.-]+) (==|!=) '([^']*)'", term)
        if term == "!cancelled()":
            continue
        if compared is None:
            raise AssertionError(f"the test's runner does not know the condition {term!r}")
        if (str(lookup(compared.group(1), context)) == compared.group(3)) != (compared.group(2) == "=="):
            return False
    return True


@dataclass
class Job:
    """What a job left: its outputs, whether a step failed, its log, its job summary, each step's
    exit status (None: skipped; steps of a local action are named ``action/step``) and its machine."""

    machine: Path
    outputs: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    log: str = ""
    summary: str = ""
    statuses: list[tuple[str, int | None]] = field(default_factory=list)
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def workspace(self) -> Path:
        return self.machine / "workspace"

    @property
    def temp(self) -> Path:
        return self.machine / "temp"

    def envs(self) -> list[str]:
        """The envs this machine holds (folders of its envs folder)."""
        folder = self.workspace / ".harness" / "envs"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


class Runner:
    """Runs a workflow's jobs, each on a new machine under ``root``; artifacts live in ``root/artifacts``.

    ``installs`` maps the id of a step that installs tools to the start its script must have and
    the outputs it gives; such a step is checked, not run."""

    def __init__(self, root: Path, project: Path, env: dict[str, str], workflow: Path,
                 installs: dict[str, tuple[str, dict[str, str]]] | None = None):
        self.root = root
        self.project = project
        self.artifacts = root / "artifacts"
        self.artifacts.mkdir(parents=True)
        self.env = env
        self.workflow_path = workflow
        self.workflow = load_yaml(workflow)
        self.installs = installs or {}

    def rerun_without(self, root: Path, artifact: str) -> Runner:
        """Another run of the workflow on new machines, holding this run's stage artifacts but ``artifact``."""
        again = Runner(root, self.project, self.env, self.workflow_path, self.installs)
        for kept in self.artifacts.iterdir():
            if kept.name.startswith("stage") and kept.name != artifact:
                shutil.copytree(kept, again.artifacts / kept.name)
        return again

    def run(self, job_id: str, machine: str, context: dict[str, Any]) -> Job:
        spec = self.workflow["jobs"][job_id]
        job = Job(self.root / "machines" / machine)
        job.machine.mkdir(parents=True)
        job.temp.mkdir()
        context = {**context, "runner": {"temp": str(job.temp)}}
        env = {**self.env, **{k: substitute(str(v), context) for k, v in spec.get("env", {}).items()},
               "RUNNER_TEMP": str(job.temp), "GITHUB_WORKSPACE": str(job.workspace)}
        shell = self.workflow.get("defaults", {}).get("run", {}).get("shell", "bash")
        self._steps(spec["steps"], job, env, context, shell, prefix="")
        job.outputs = {k: substitute(v, {**context, "steps": job.step_outputs}) for k, v in spec.get("outputs", {}).items()}
        return job

    def _steps(self, steps: list[dict[str, Any]], job: Job, env: dict[str, str], context: dict[str, Any], shell: str,
               prefix: str) -> tuple[bool, dict[str, Any]]:
        """Run ``steps`` in order; whether one failed, and the ``steps`` context they left."""
        failed = False
        seen: dict[str, Any] = {}
        for step in steps:
            name = prefix + str(step.get("name") or step.get("uses") or step["run"].splitlines()[0])
            here = {**context, "steps": seen}
            if not condition(step.get("if"), here, job.failed or failed):
                job.statuses.append((name, None))
                continue
            ok, outputs = self._step(step, job, env, here, shell)
            job.statuses.append((name, 0 if ok else 1))
            failed = failed or not ok
            if "id" in step:
                seen[step["id"]] = {"outputs": outputs}
                if not prefix:
                    job.step_outputs[step["id"]] = {"outputs": outputs}
        job.failed = job.failed or failed
        return failed, seen

    def _step(self, step: dict[str, Any], job: Job, env: dict[str, str], context: dict[str, Any],
              shell: str) -> tuple[bool, dict[str, str]]:
        given = {k: substitute(str(v), context) for k, v in step.get("with", {}).items()}
        if step.get("uses", "").startswith("./"):
            return self._local_action(step["uses"], given, job, env)
        if "uses" in step:
            return self._action(step["uses"].split("@")[0], given, job), {}
        script = step["run"]
        assert "${{" not in script, f"an expression inside run: {script}"
        if step.get("id") in self.installs:  # the installs: this machine has them already
            start, outputs = self.installs[step["id"]]
            assert script.startswith(start), script
            return True, dict(outputs)
        output, summary = job.machine / "github_output", job.machine / "github_step_summary"
        output.write_text("")
        summary.touch()
        step_env = {**env, **{k: substitute(str(v), context) for k, v in step.get("env", {}).items()},
                    "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        shell = step.get("shell", shell)
        script_file = job.machine / ("step.py" if shell == "python" else "step.sh")
        script_file.write_text(script)
        command = [sys.executable, str(script_file)] if shell == "python" else \
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
        cwd = job.workspace / substitute(step["working-directory"], context) if "working-directory" in step else job.workspace
        proc = subprocess.run(command, cwd=cwd, env=step_env, capture_output=True, text=True, timeout=600, check=False)
        job.log += f"--- {step.get('name', script.splitlines()[0])} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
        job.summary = summary.read_text()
        return proc.returncode == 0, dict(line.split("=", 1) for line in output.read_text().splitlines() if line)

    def _local_action(self, uses: str, given: dict[str, str], job: Job, env: dict[str, str]) -> tuple[bool, dict[str, str]]:
        """A composite action of the checkout: its inputs (the defaults, then ``with:``; an
        unknown one fails), its steps in order with ``GITHUB_ACTION_PATH`` set, and its outputs.
        Its steps are named ``<uses>/<step>`` in :attr:`Job.statuses`."""
        folder = job.workspace / uses
        action = load_yaml(folder / "action.yml")
        assert action["runs"]["using"] == "composite", action["runs"]
        declared = action.get("inputs", {})
        unknown = set(given) - set(declared)
        assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
        inputs = {k: str(v.get("default", "")) for k, v in declared.items()}
        inputs.update(given)
        context = {"inputs": inputs, "runner": {"temp": str(job.temp)}}
        for step in action["runs"]["steps"]:
            assert "uses" in step or "shell" in step, f"a composite action's run: step needs a shell: {step}"
        failed, seen = self._steps(action["runs"]["steps"], job, {**env, "GITHUB_ACTION_PATH": str(folder)}, context,
                                   shell="bash", prefix=uses.rstrip("/") + "/")
        outputs = {k: substitute(str(v["value"]), {**context, "steps": seen}) for k, v in action.get("outputs", {}).items()}
        return not failed, outputs

    def _action(self, action: str, given: dict[str, str], job: Job) -> bool:
        if action == "actions/checkout":
            shutil.copytree(self.project, job.workspace)
        elif action == "actions/upload-artifact":
            return self._upload(given, job)
        elif action == "actions/download-artifact":
            for artifact in sorted(self.artifacts.iterdir()):
                if fnmatch.fnmatchcase(artifact.name, given["pattern"]):
                    shutil.copytree(artifact, job.workspace / given["path"] / artifact.name)
        elif action == "mikepenz/action-junit-report":
            report = job.workspace / given["report_paths"]
            if not report.is_file():
                return given.get("require_tests") != "true"
            ET.parse(report)
        elif action not in ("actions/setup-python", "astral-sh/setup-uv"):
            raise AssertionError(f"the test's runner does not know the action {action}")
        return True

    def _upload(self, given: dict[str, str], job: Job) -> bool:
        """upload-artifact: the paths below their common folder, under the artifact's name (which
        must be new: artifacts of a run are never replaced)."""
        paths = [job.workspace / line.strip() for line in given["path"].splitlines() if line.strip()]
        found = [p for p in paths if p.exists()]
        if not found:
            return given.get("if-no-files-found") != "error"
        common = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in paths]))
        target = self.artifacts / given["name"]
        assert not target.exists(), f"artifact {given['name']} uploaded twice"
        for path in found:
            destination = target / path.relative_to(common)
            if path.is_dir():
                shutil.copytree(path, destination)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
        return True


def linter(name: str) -> tuple[str, dict[str, str]]:
    """A linter installed with the tests' packages (TEST_PACKAGES in noxfile.py), and an
    environment whose PATH finds it and its helpers."""
    found = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"{name} is not installed: it is one of TEST_PACKAGES in noxfile.py (nox -s tests installs them)"
    return found, dict(os.environ, PATH=f"{Path(found).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def lint(name: str, paths: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """actionlint (with shellcheck on the bash steps and pyflakes on the python ones) or zizmor
    (offline) on ``paths``, relative to ``cwd``."""
    found, env = linter(name)
    if name == "actionlint":
        for helper in ("shellcheck", "pyflakes"):
            assert shutil.which(helper, path=env["PATH"]), f"{helper} (TEST_PACKAGES) is needed for actionlint to check the scripts"
        command = [found, *paths]
    else:
        command = [found, "--offline", "--no-progress", *paths]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
