"""``--jobs N`` counts phases in flight: several cells of one pairing run at once in its one
worker (one framework import), each in its own child, and a fault of one never becomes its
sibling's verdict. Real runs on fake-wheel envs; the cells meet through files in a shared folder,
so "at the same time" is shown by what the cells saw, never by a clock."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import harness.run.client as client
from harness.envs.install import ensure_env, resolve_pairing
from harness.errors import WorkerError
from harness.evidence.phase import PhaseOutcome
from harness.plan.pairings import parse_pairing
from harness.run.client import Worker
from harness.run.verdict import decide_verdict
from support import FAKE, Harness, build_wheel, local_index_env, write_scenario

COUNTED = "harness-counted"

#: Waits (at most ``limit`` s) until its partner has said it is alive, having said so itself; then ``then``.
MEETS = '''
    """Meets {partner} while both run"""
    import os
    import time
    {imports}
    def _meet(folder, me, partner, limit):
        open(os.path.join(folder, me + ".alive"), "w").close()
        end = time.time() + limit
        while not os.path.exists(os.path.join(folder, partner + ".alive")):
            if time.time() > end:
                raise RuntimeError("%s never ran while %s ran" % (partner, me))
            time.sleep(0.05)
    def run(workdir):
        _meet({folder!r}, {me!r}, {partner!r}, {limit})
        {then}
        return {{"expected": 1.0, "actual": 1.0}}
'''


def meets(folder: Path, me: str, partner: str, then: str = "pass", imports: str = "", limit: int = 120) -> str:
    return MEETS.format(folder=str(folder), me=me, partner=partner, then=then, imports=imports, limit=limit)


def _cells(harness: Harness, out: Path) -> dict[str, dict]:
    return {c["scenario"]: c for c in json.loads((out / "results.json").read_text())["cells"]}


@pytest.fixture
def counted(tmp_path: Path, wheelhouse: Path, harness: Harness) -> tuple[Harness, Path]:
    """The harness against a wheelhouse that also holds ``harness-counted``: a package that writes
    a line to ``$HARNESS_TEST_IMPORTS`` each time it is imported."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, COUNTED, "1.0", {"harness_counted/__init__.py": (
        "import os\nwith open(os.environ['HARNESS_TEST_IMPORTS'], 'a') as handle:\n    handle.write('imported\\n')\n")})
    for wheel in wheelhouse.iterdir():
        (wheels / wheel.name).write_bytes(wheel.read_bytes())
    imports = tmp_path / "imports.txt"
    env = dict(harness.env, UV_FIND_LINKS=str(wheels), HARNESS_TEST_IMPORTS=str(imports))
    return Harness(env=env, tmp=tmp_path), imports


@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_two_cells_of_one_pairing_run_at_once_sharing_one_import(counted: tuple[Harness, Path], tmp_path: Path,
                                                                 isolation: str) -> None:
    """Each cell passes only if the other is alive while it runs; the worker imported the
    framework (the counted package) once in fork isolation, once per cell in spawn isolation."""
    harness, imports = counted
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    for me, partner in (("left", "right"), ("right", "left")):
        write_scenario(folder, me, meets(meeting, me, partner, imports="import harness_counted"))
    out = tmp_path / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{COUNTED}==1.0", "--out", str(out),
                       "--jobs", "2", "--timeout", "300", "--isolation", isolation, check_code=0)
    cells = _cells(harness, out)
    assert {name: c["verdict"] for name, c in cells.items()} == {"left": "passed", "right": "passed"}, \
        [c["reason"] for c in cells.values()]
    count = imports.read_text().count("imported")
    if isolation == "fork":
        assert count == 1, proc.stdout
        assert proc.stdout.count("worker harness-counted-1.0: imported harness_counted") == 1, proc.stdout
    else:
        assert count == 2, proc.stdout


KILLS_ITS_WORKER = "import signal; os.kill(os.getppid(), signal.SIGKILL); time.sleep(60)"


ONE_OF_EIGHT = '''
    """{kind}"""
    import os
    import signal
    import time
    FOLDER = {folder!r}
    def alive(me):
        open(os.path.join(FOLDER, me + ".alive"), "w").close()
    def run(workdir):
        {body}
        return {{"expected": 1.0, "actual": 1.0}}
'''

BODIES = {
    # every other cell is in flight: then the worker goes
    "killer": ("Kills its worker", "alive('killer')\n"
                                   "        while len([n for n in os.listdir(FOLDER) if n.endswith('.alive')]) < 8:\n"
                                   "            time.sleep(0.05)\n"
                                   "        os.kill(os.getppid(), signal.SIGKILL); time.sleep(60)"),
    "hang": ("Hangs", "alive('hang'); time.sleep(600)"),
    "segfault": ("Segfaults", "alive('segfault'); os.kill(os.getpid(), signal.SIGSEGV)"),
}
#: An innocent cell: its first attempt leaves a mark, says it is alive and waits in flight (the
#: worker's death ends it); run again, it passes.
INNOCENT = ("Passes", "marker = os.path.join(FOLDER, {me!r} + '.first')\n"
                      "        if not os.path.exists(marker):\n"
                      "            open(marker, 'w').close()\n"
                      "            alive({me!r})\n"
                      "            time.sleep(600)")


def test_a_worker_death_with_two_cells_in_flight_blames_only_the_one_that_ends_its_worker_alone(
        harness: Harness, tmp_path: Path) -> None:
    """Both phases are in flight when the worker dies; each runs again alone, and only the one
    that kills its worker alone is ``crashed`` (never ``timeout``)."""
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    write_scenario(folder, "killer", meets(meeting, "killer", "bystander", then=KILLS_ITS_WORKER))
    write_scenario(folder, "bystander", ONE_OF_EIGHT.format(kind="Passes", folder=str(meeting), me="bystander",
                                                            body=INNOCENT[1].format(me="bystander")))
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), "--jobs", "2",
                "--timeout", "300", check_code=0)
    cells = _cells(harness, out)
    assert cells["killer"]["verdict"] == "crashed", cells["killer"]
    assert "the worker process died" in cells["killer"]["reason"], cells["killer"]["reason"]
    assert cells["bystander"]["verdict"] == "passed", cells["bystander"]["reason"]
    assert (meeting / "bystander.first").exists()  # its first attempt was in flight when the worker died


def test_innocent_neighbours_of_a_dying_worker_keep_their_own_verdicts(harness: Harness, tmp_path: Path) -> None:
    """8 cells in flight in one worker: 5 that pass, a worker killer, a hang and a segfault. The
    worker dies with all of them in flight; each runs again alone, and each gets its own verdict."""
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    innocents = [f"innocent{i}" for i in range(5)]
    for name in [*innocents, *BODIES]:
        title, body = BODIES.get(name, INNOCENT)
        write_scenario(folder, name, ONE_OF_EIGHT.format(kind=title, folder=str(meeting), me=name,
                                                         body=body.format(me=name)))
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), "--jobs", "1000",
                "--timeout", "20", check_code=0)
    cells = _cells(harness, out)
    verdicts = {name: c["verdict"] for name, c in cells.items()}
    assert verdicts == {**{name: "passed" for name in innocents}, "killer": "crashed", "hang": "timeout",
                        "segfault": "crashed"}, {name: c["reason"] for name, c in cells.items()}
    assert all((meeting / f"{name}.first").exists() for name in innocents)  # each was in flight at the death
    assert "the worker process died" in cells["killer"]["reason"]
    assert "SIGSEGV" in cells["segfault"]["reason"]
    assert cells["hang"]["reason"] == "run did not finish within the time limit (20 s)", cells["hang"]["reason"]


STRAY_REPLY = '''
    """Writes a forged reply on the worker's reply channel once its partner runs"""
    import os
    import time
    def run(workdir):
        open(os.path.join({folder!r}, "stray.alive"), "w").close()
        while not os.path.exists(os.path.join({folder!r}, "control.alive")):
            time.sleep(0.05)
        words = open("/proc/%d/cmdline" % os.getppid(), "rb").read().split(b"\\0")
        fd = int(words[words.index(b"--reply-fd") + 1])
        with open("/proc/%d/fd/%d" % (os.getppid(), fd), "w") as channel:
            channel.write('{{"status": "done", "duration_s": 0.1}}\\n')
        return {{"expected": 1.0, "actual": 1.0}}
'''


def test_a_stray_reply_with_two_in_flight_costs_only_its_own_cell(harness: Harness, tmp_path: Path) -> None:
    """The worker is lost with both phases in flight; each runs again alone, and only the one
    that writes stray replies is crashed."""
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    write_scenario(folder, "stray", STRAY_REPLY.format(folder=str(meeting)))
    write_scenario(folder, "control", meets(meeting, "control", "stray", then="time.sleep(1)"))
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), "--jobs", "2",
                "--timeout", "300", check_code=0)
    cells = _cells(harness, out)
    assert cells["stray"]["verdict"] == "crashed" and "did not answer this request" in cells["stray"]["reason"], cells["stray"]
    assert not cells["stray"]["compared"]
    assert cells["control"]["verdict"] == "passed", cells["control"]["reason"]


def test_a_timeout_of_one_cell_in_flight_leaves_its_sibling_s_verdict(harness: Harness, tmp_path: Path) -> None:
    """The worker kills the hanging child at its limit and replies for it alone; the sibling,
    running meanwhile, keeps its own verdict."""
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    write_scenario(folder, "hangs", meets(meeting, "hangs", "sibling", then="time.sleep(600)"))
    write_scenario(folder, "sibling", meets(meeting, "sibling", "hangs", then="time.sleep(1)"))
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), "--jobs", "2",
                "--timeout", "20", check_code=0)
    cells = _cells(harness, out)
    assert cells["hangs"]["verdict"] == "timeout", cells["hangs"]
    assert cells["sibling"]["verdict"] == "passed", cells["sibling"]["reason"]


STOPS_ITS_WORKER = "import signal; os.kill(os.getppid(), signal.SIGSTOP); time.sleep(600)"


def test_a_silent_worker_times_out_its_phase_and_runs_the_sibling_again(
        wheelhouse: Path, shared_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that stops answering (here: stopped by a scenario) is killed when a phase's reply
    is past its deadline: that phase is ``timed_out``, and the phase in flight beside it is run
    again in a new worker, to its own verdict."""
    for key, value in local_index_env(wheelhouse, shared_envs).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(client, "REPLY_GRACE_S", 1.0)
    env = ensure_env(resolve_pairing(parse_pairing(f"{FAKE}==1.0")), shared_envs)
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    stopper = write_scenario(folder, "stopper", meets(meeting, "stopper", "sibling", then=STOPS_ITS_WORKER))
    sibling = write_scenario(folder, "sibling", meets(meeting, "sibling", "stopper", then="time.sleep(1)"))
    ended = phases_in_flight(env, tmp_path, [(stopper, 5.0), (sibling, 120.0)], wait_s=200)
    stopped, other = ended["stopper"], ended["sibling"]
    assert isinstance(stopped, PhaseOutcome) and isinstance(other, PhaseOutcome), ended
    assert stopped.status == "timed_out", stopped
    assert decide_verdict(None, outcome=other).verdict == "passed", other


STOPPER = '''
    """Stops its worker (SIGSTOP) once its neighbour runs"""
    import os
    import signal
    import time
    def run(workdir):
        open(os.path.join({folder!r}, "stopper.alive"), "w").close()
        while not os.path.exists(os.path.join({folder!r}, "neighbour.alive")):
            time.sleep(0.05)
        os.kill(os.getppid(), signal.SIGSTOP)
        open(os.path.join({folder!r}, "stopped"), "w").close()
        time.sleep(600)
'''
NEIGHBOUR = '''
    """Returns once its worker has been stopped (its reply cannot come then)"""
    import os
    import time
    def run(workdir):
        open(os.path.join({folder!r}, "neighbour.alive"), "w").close()
        while not os.path.exists(os.path.join({folder!r}, "stopped")):
            time.sleep(0.05)
        return {{"expected": 1.0, "actual": 1.0}}
'''


def test_a_cell_that_stops_its_worker_never_makes_its_neighbour_time_out(
        wheelhouse: Path, shared_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The neighbour's deadline comes first (its limit is the shorter), but any phase in flight
    may have stopped the worker: each runs again alone, so only the stopper times out, and its
    reason states its own limit, not the time it took."""
    for key, value in local_index_env(wheelhouse, shared_envs).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(client, "REPLY_GRACE_S", 1.0)
    env = ensure_env(resolve_pairing(parse_pairing(f"{FAKE}==1.0")), shared_envs)
    folder, meeting = tmp_path / "scenarios", tmp_path / "meeting"
    meeting.mkdir()
    stopper = write_scenario(folder, "stopper", STOPPER.format(folder=str(meeting)))
    neighbour = write_scenario(folder, "neighbour", NEIGHBOUR.format(folder=str(meeting)))
    ended = phases_in_flight(env, tmp_path, [(stopper, 10.0), (neighbour, 5.0)], wait_s=300)
    stopped, other = ended["stopper"], ended["neighbour"]
    assert isinstance(stopped, PhaseOutcome) and isinstance(other, PhaseOutcome), ended
    assert decide_verdict(None, outcome=other).verdict == "passed", other
    decision = decide_verdict(None, outcome=stopped)
    assert decision.verdict == "timeout" and decision.reason == "run did not finish within the time limit (10 s)", decision


def test_a_worker_script_of_another_protocol_does_not_start(
        wheelhouse: Path, shared_envs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in local_index_env(wheelhouse, shared_envs).items():
        monkeypatch.setenv(key, value)
    env = ensure_env(resolve_pairing(parse_pairing(f"{FAKE}==1.0")), shared_envs)
    older = tmp_path / "worker.py"
    source = client.WORKER_SCRIPT.read_text()
    older.write_text(source.replace(f"PROTOCOL_VERSION = {client.PROTOCOL_VERSION}\n", "PROTOCOL_VERSION = 1\n", 1))
    assert older.read_text() != source
    monkeypatch.setattr(client, "WORKER_SCRIPT", older)
    worker = Worker(env, "tensorflow", [], tmp_path / "worker.log", "fork")
    with pytest.raises(WorkerError):
        worker.start()
    assert worker.start_error is not None and "speaks protocol 1" in worker.start_error, worker.start_error
    work = tmp_path / "phase"
    request = {"op": "run", "scenario": str(tmp_path / "none.py"), "scenario_id": "none", "workdir": str(work),
               "result": str(work / "result.json"), "output": str(tmp_path / "output.log"), "rtol": 1e-5, "atol": 1e-5}
    outcome = worker.run_phase(request, 30)
    assert outcome.status == "worker_lost" and "speaks protocol 1" in outcome.detail
    worker.close()


def phases_in_flight(env: Any, tmp_path: Path, phases: list[tuple[Path, float]], wait_s: float) -> dict[str, Any]:
    """Run each scenario's ``run`` phase (with its time limit) at once in one forking worker of
    ``env``; what each ended with, by scenario: its outcome, or the exception the client raised."""
    worker = Worker(env, "tensorflow", [], tmp_path / "worker.log", "fork")
    worker.start()
    ended: dict[str, Any] = {}

    def phase(path: Path, timeout: float) -> None:
        work = tmp_path / path.stem
        work.mkdir()
        request = {"op": "run", "scenario": str(path), "scenario_id": path.stem, "workdir": str(work),
                   "result": str(work / "result.json"), "output": str(work / "output.log"), "rtol": 1e-5, "atol": 1e-5}
        try:
            ended[path.stem] = worker.run_phase(request, timeout)
        except BaseException as exc:  # what the tests assert never happens
            ended[path.stem] = exc

    threads = [threading.Thread(target=phase, args=item) for item in phases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(wait_s)
    worker.close()
    return ended
