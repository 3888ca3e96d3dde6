"""Runs that survive: SIGKILL then resume, Ctrl-C, shards merged, hostile inputs, the CI workflow."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, local_index_env, write_scenario

SCENARIOS = {
    "a_fast": '"""Fast"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n',
    "b_slow": '"""Slow"""\nimport time\ndef run(workdir):\n    time.sleep(1.5)\n    return None\n',
    "c_signature": '"""Raises"""\nSIGNATURE = "ValueError: boom"\ndef run(workdir):\n    raise ValueError("boom")\n',
    "d_slow": '"""Slow"""\nimport time\ndef run(workdir):\n    time.sleep(1.5)\n    return {"expected": [1.0], "actual": [2.0]}\n',
    "e_cross": '''
        """Cross"""
        import harness_fake
        def save(workdir):
            return {"v": float(harness_fake.__version__.split(".")[0])}
        def load(workdir):
            return {"v": float(harness_fake.__version__.split(".")[0])}
    ''',
}
PAIRINGS = ["--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("durable") / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(path, name, body)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, folder: Path, wheelhouse: Path, shared_envs: Path) -> dict:
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=folder.parent)
    out = folder.parent / "clean"
    harness.run("matrix", "--scenarios", str(folder), *PAIRINGS, "--out", str(out), check_code=0)
    return harness.results(out)


def verdicts(data: dict) -> dict[tuple, str]:
    return {(c["scenario"], c["saved_with"], c["pairing"]): c["verdict"] for c in data["cells"]}


def start(harness: Harness, *args: str, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    """The harness started in the background; ``sigint_ignored``: as a shell's background job or a
    CI runner may start it, with SIGINT ignored (which a child inherits)."""
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=harness.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ignore)


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 120) -> list[str]:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"never saw {prefix!r}: {seen}")


def processes_inside(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder`` (cells run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(os.readlink(entry / "cwd")).startswith(str(folder)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_keeps_finished_cells_and_resume_completes(harness: Harness, folder: Path, clean: dict, tmp_path: Path,
                                                           jobs: str) -> None:
    out = tmp_path / "killed"
    proc = start(harness, "matrix", "--scenarios", str(folder), *PAIRINGS, "--out", str(out), "--jobs", jobs)
    wait_for_line(proc, "[ 3/")
    proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    finished = list((out / "cells").glob("*.json"))
    assert len(finished) >= 3
    assert not (out / "results.json").exists()
    deadline = time.monotonic() + 15
    while processes_inside(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_inside(out) == []  # the workers noticed and killed their running cell
    # whatever finished can be rendered
    rebuilt = harness.run("report", str(out), check_code=0)
    assert "report:" in rebuilt.stdout
    partial = harness.results(out)
    assert len(partial["cells"]) == len(finished) and partial["run"]["complete"] is False
    # resume runs only what is missing and ends with the clean run's cells and verdicts
    resumed = harness.run("matrix", "--resume", str(out), check_code=0)
    assert f"{len(finished)} of {len(clean['cells'])} cells already done" in resumed.stdout
    data = harness.results(out)
    assert verdicts(data) == verdicts(clean)
    assert data["run"]["complete"] is True and len(data["run"]["resumed"]) == 1


@pytest.mark.parametrize("jobs, sigint_ignored", [("1", False), ("2", False), ("1", True)])
def test_ctrl_c_marks_running_cells_interrupted_and_renders(harness: Harness, folder: Path, clean: dict, tmp_path: Path,
                                                            jobs: str, sigint_ignored: bool) -> None:
    """Ctrl-C stops the run, also when whatever started it ignored SIGINT (Python keeps an
    inherited SIG_IGN unless the harness sets its own handler)."""
    out = tmp_path / "interrupted"
    proc = start(harness, "matrix", "--scenarios", str(folder), *PAIRINGS, "--out", str(out), "--jobs", jobs,
                 sigint_ignored=sigint_ignored)
    wait_for_line(proc, "[ 1/")  # a_fast done; b_slow is running now (and with --jobs 2, the cell beside it)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    data = harness.results(out)
    assert data["run"]["complete"] is False
    interrupted = [c["scenario"] for c in data["cells"] if c["verdict"] == "interrupted"]
    if jobs == "1":
        assert interrupted == ["b_slow"]
    else:  # b_slow and at most one cell beside it; every cell not running is kept or not started
        assert "b_slow" in interrupted and len(interrupted) <= 2, interrupted
    assert (out / "index.html").exists() and "did not complete" in (out / "index.html").read_text()
    harness.run("matrix", "--resume", str(out), check_code=0)
    assert verdicts(harness.results(out)) == verdicts(clean)


def test_three_shards_merge_into_the_unsharded_run(harness: Harness, folder: Path, clean: dict, tmp_path: Path) -> None:
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        harness.run("matrix", "--scenarios", str(folder), *PAIRINGS, "--out", str(out), "--shard", f"{k}/3", check_code=0)
        data = harness.results(out)
        assert data["run"]["shard"] == f"{k}/3"
        shards.append((out, data))
    sizes = [len(d["cells"]) for _, d in shards]
    assert sum(sizes) == len(clean["cells"]) and max(sizes) - min(sizes) <= 1
    keys = [set(verdicts(d)) for _, d in shards]
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2]) and not (keys[0] & keys[2])
    merged = tmp_path / "merged"
    proc = harness.run("report", "merge", *[str(o) for o, _ in shards], "--out", str(merged), check_code=0)
    assert "0 missing" in proc.stdout
    data = harness.results(merged)
    assert verdicts(data) == verdicts(clean)
    assert all(p["packages"] for p in data["pairings"])
    assert (merged / "index.html").exists() and (merged / "summary.md").exists()
    # two shards of three: the merge names what is missing and fails, unless that is allowed
    partial = harness.run("report", "merge", str(shards[0][0]), str(shards[1][0]), "--out", str(tmp_path / "partial"),
                          check_code=1)
    named = [line for line in partial.stdout.splitlines() if line.startswith("missing: ")]
    assert f"{sizes[2]} missing" in partial.stdout and len(named) == sizes[2]
    assert partial.stdout.strip().splitlines()[-1] == (f"merge: {sizes[2]} planned cells are missing: no part holds them, "
                                                        "so the merged run is incomplete")
    assert (tmp_path / "partial" / "index.html").exists()  # reported all the same
    allowed = harness.run("report", "merge", str(shards[0][0]), str(shards[1][0]), "--out", str(tmp_path / "allowed"),
                          "--allow-missing", check_code=0)
    assert allowed.stdout.strip().endswith("(allowed by --allow-missing)")


def test_merge_refuses_parts_that_do_not_belong_together(harness: Harness, folder: Path, clean: dict, tmp_path: Path) -> None:
    other = tmp_path / "other-scenarios"
    shutil.copytree(folder, other)
    (other / "a_fast.py").write_text((other / "a_fast.py").read_text() + "\n# changed\n")
    out = tmp_path / "other"
    harness.run("matrix", "--scenarios", str(other), *PAIRINGS, "--out", str(out), "--only", "a_fast", check_code=0)
    same_ids = tmp_path / "same-ids"
    harness.run("matrix", "--scenarios", str(folder), *PAIRINGS, "--out", str(same_ids), "--only", "a_fast", check_code=0)
    proc = harness.run("report", "merge", str(same_ids), str(out), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "different scenario sets" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def _copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


@pytest.mark.parametrize(
    "damage, fragment",
    [
        ("truncate", "not valid JSON"),
        ("schema", "schema version 7 is not supported"),
        ("type", "must be"),
        ("symlink-cells", "symbolic link"),
        ("symlink-cell-file", "not a regular file"),
        ("dotdot-scenarios", "not a plain absolute path"),
    ],
)
def test_hostile_run_folders_are_refused(harness: Harness, folder: Path, clean: dict, tmp_path: Path,
                                         damage: str, fragment: str) -> None:
    source = folder.parent / "clean"
    run = _copy_run(source, tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep")
    cell_file = sorted((run / "cells").glob("*.json"))[0]
    if damage == "truncate":
        cell_file.write_text(cell_file.read_text()[:40])
    elif damage == "schema":
        data = json.loads((run / "results.json").read_text())
        data["schema"] = 7
        (run / "results.json").write_text(json.dumps(data))
        shutil.rmtree(run / "cells")
        (run / "run.json").unlink()
    elif damage == "type":
        data = json.loads(cell_file.read_text())
        data["duration_s"] = "slow"
        cell_file.write_text(json.dumps(data))
    elif damage == "symlink-cells":
        shutil.rmtree(run / "cells")
        os.symlink(outside, run / "cells")
    elif damage == "symlink-cell-file":
        cell_file.unlink()
        os.symlink(outside / "precious.txt", cell_file)
    elif damage == "dotdot-scenarios":
        meta = json.loads((run / "run.json").read_text())
        meta["run"]["options"]["scenario_dirs"] = [str(folder) + "/../../.."]
        (run / "run.json").write_text(json.dumps(meta))
    command = ["matrix", "--resume", str(run)] if damage == "dotdot-scenarios" else ["report", str(run)]
    proc = harness.run(*command)
    if damage in ("truncate", "type", "symlink-cell-file"):  # a bad cell file is left out and named; the rest reads
        assert proc.returncode == 0 and cell_file.name in proc.stderr, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert (outside / "precious.txt").read_text() == "keep" and sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    if damage not in ("schema", "dotdot-scenarios"):  # merge never uses the recorded scenario folders
        merged = harness.run("report", "merge", str(run), str(source), "--out", str(tmp_path / "m"))
        assert merged.returncode == 2 and not (tmp_path / "m").exists()


def test_resume_refuses_a_changed_scenario(harness: Harness, folder: Path, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    shutil.copytree(folder, scenarios)
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(scenarios), "--pairing", f"{FAKE}==1.0", "--only", "a_fast",
                "--out", str(out), check_code=0)
    (scenarios / "a_fast.py").write_text((scenarios / "a_fast.py").read_text() + "\n# edited\n")
    proc = harness.run("matrix", "--resume", str(out))
    assert proc.returncode == 2 and "changed or disappeared" in proc.stderr
    proc = harness.run("matrix", "--resume", str(out), "--pairing", f"{FAKE}==3.0")
    assert proc.returncode == 2 and "drop --pairing" in proc.stderr


WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
#: What the shell variables of the workflow's scripts hold (as shell words), for parsing their commands.
SHELL_WORDS = {"$SPEC": "keras==3.5.0,tensorflow==2.16.1", "${loads[@]}": "--load-artifacts stage1/stage1-2-keras"}


def test_the_ci_workflow_is_well_formed_and_runs_real_commands(tmp_path: Path) -> None:
    import yaml

    from harness.cli import build_parser
    from harness.plan.pairings import DEFAULT_PAIRINGS

    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert set(jobs) == {"plan", "stage1", "stage2", "merge"}
    assert (jobs["stage1"]["needs"], jobs["stage2"]["needs"], jobs["merge"]["needs"]) == (
        "plan", ["plan", "stage1"], ["plan", "stage1", "stage2"])
    for stage in ("stage1", "stage2"):
        assert jobs[stage]["strategy"] == {"fail-fast": False, "matrix": {"pairing": "${{ fromJSON(needs.plan.outputs.pairings) }}"}}
        [uv] = [step for step in jobs[stage]["steps"] if step.get("uses", "").startswith("astral-sh/setup-uv@")]
        assert uv["with"]["enable-cache"] is True and uv["with"]["cache-suffix"] == "${{ matrix.pairing.cache }}"
    assert jobs["stage2"]["if"] == "${{ !cancelled() && needs.plan.outputs.stage2 == 'true' }}"
    assert jobs["merge"]["if"].startswith("${{ !cancelled()") and "always()" not in WORKFLOW.read_text()
    steps = [step for job in jobs.values() for step in job["steps"]]
    for step in steps:  # actions pinned to full commit hashes; inputs reach scripts through env: only
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
        else:
            assert "${{" not in step["run"], step["run"]
    assert any(step.get("uses", "").startswith("mikepenz/action-junit-report@") and step["with"]["report_paths"] == "merged/junit.xml"
               for step in jobs["merge"]["steps"])
    sessions = {s["name"] for s in json.loads(subprocess.run(
        [sys.executable, "-m", "nox", "-l", "--json", "-k", ""], cwd=ROOT, capture_output=True, text=True, check=True).stdout)}
    parser = build_parser()
    ran: list[str] = []
    for step in steps:
        if "run" not in step or step.get("shell") == "python":
            continue
        for line in (line.strip() for line in step["run"].splitlines()):
            for variable, value in SHELL_WORDS.items():
                line = line.replace(f'"{variable}"', value).replace(variable, value)
            words = shlex.split(line.split(" > ")[0]) if line.startswith(("nox ", "python -m harness")) else []
            if words[:2] == ["nox", "-s"]:
                assert words[2] in sessions, line
                parser.parse_args([words[2], *words[words.index("--") + 1:]])  # raises on an unknown option
            elif words[:2] == ["nox", "-l"] or words[:3] == ["python", "-m", "harness"]:
                command = [sys.executable, *words[1:]] if words[0] == "python" else [sys.executable, "-m", *words]
                proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
                (tmp_path / line.split(" > ")[1]).write_text(proc.stdout)
            else:
                continue
            ran.append(" ".join(words[:3]))
    # the merge runs with --expect when the repository holds ci/expect.toml, else without
    assert sorted(ran) == ["nox -l --json", "nox -s matrix", "nox -s matrix", "nox -s report", "nox -s report", "python -m harness"]
    # the per-pairing sessions: tagged, their spec the call spec, names -k can select by version
    listed = json.loads((tmp_path / "sessions.json").read_text())
    assert [s["call_spec"]["spec"] for s in listed] == list(DEFAULT_PAIRINGS)
    assert all("pairing" in s["tags"] and "." not in s["name"] for s in listed)
    by_version = json.loads(subprocess.run([sys.executable, "-m", "nox", "-l", "--json", "-k", "keras_3_5_0"], cwd=ROOT,
                                           capture_output=True, text=True, check=True).stdout)
    assert [s["call_spec"] for s in by_version] == [{"spec": "keras==3.5.0,tensorflow==2.16.1"}]
    # the plan, from those listings: a job per default pairing, and stage 2 for the cross-version scenarios
    [plan] = [step for step in jobs["plan"]["steps"] if step.get("id") == "plan"]
    (tmp_path / "plan.py").write_text(plan["run"])
    output = tmp_path / "github_output"
    subprocess.run([sys.executable, "plan.py"], cwd=tmp_path, check=True, capture_output=True,
                   env=dict(os.environ, PAIRINGS="", GITHUB_OUTPUT=str(output)))
    planned = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert [p["spec"] for p in json.loads(planned["pairings"])] == list(DEFAULT_PAIRINGS)
    assert all("," not in p["cache"] for p in json.loads(planned["pairings"])) and planned["stage2"] == "true"
