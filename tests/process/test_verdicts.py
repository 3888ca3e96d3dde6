"""Every verdict, produced by fake scenarios run through real worker subprocesses in a real uv env."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import FAKE, Harness, write_scenario

SCENARIOS = {
    "passes": '''
        """Returns equal values"""
        def run(workdir):
            return {"expected": {"a": [1.0, 2.0], "b": 3}, "actual": {"a": [1.0, 2.0000001], "b": 3}}
    ''',
    "nothing_to_compare": '''
        """Returns None"""
        def run(workdir):
            return None
    ''',
    "matches_signature": '''
        """Raises the known failure"""
        SIGNATURE = r"ValueError: Layer 'gru_cell' expected 3 variables, but received 0"
        LINKS = ["https://github.com/keras-team/keras/issues/20407"]
        def run(workdir):
            raise ValueError("Layer 'gru_cell' expected 3 variables, but received 0 variables during loading.")
    ''',
    "other_error": '''
        """Raises something else"""
        SIGNATURE = r"ValueError: expected 3 variables"
        def run(workdir):
            raise KeyError("no such layer")
    ''',
    "wrong_values": '''
        """Loads silently wrong values"""
        def run(workdir):
            return {"expected": [1.0, 2.0, 3.0], "actual": [1.0, 2.5, 3.0]}
    ''',
    "kills_itself": '''
        """The process dies by a signal"""
        import os, signal
        def run(workdir):
            print("about to die", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    ''',
    "exits": '''
        """The process exits with a status"""
        import os
        def run(workdir):
            os._exit(3)
    ''',
    "hangs": '''
        """Never finishes"""
        import time
        def run(workdir):
            time.sleep(600)
    ''',
    "bad_return": '''
        """Breaks the contract at run time"""
        def run(workdir):
            return {"expected": 1.0}
    ''',
    "needs_newer": '''
        """Outside REQUIRES"""
        REQUIRES = {"harness-fake": ">=2"}
        def run(workdir):
            return None
    ''',
    "private_workdir": '''
        """The work folder is empty and private"""
        import os
        def run(workdir):
            assert os.listdir(workdir) == [], os.listdir(workdir)
            with open(os.path.join(workdir, "mine.txt"), "w") as handle:
                handle.write("x")
            import harness_fake
            return {"expected": 1.0, "actual": float(harness_fake.__version__ == "1.0")}
    ''',
}


@pytest.fixture(scope="module", params=[1, 2], ids=["jobs1", "jobs2"])
def verdict_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path,
                shared_envs: Path) -> dict:
    """Every scenario on the fake pairing, with ``--jobs 1`` and with ``--jobs 2`` (two cells in
    flight in the one worker): the same verdicts and evidence either way."""
    from support import local_index_env

    tmp = tmp_path_factory.mktemp("verdicts")
    folder = tmp / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(folder, name, body)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    out = tmp / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0",
                       "--out", str(out), "--timeout", "4", "--jobs", str(request.param), check_code=0)
    data = harness.results(out)
    data["_stdout"] = proc.stdout
    data["_out"] = str(out)
    return data


def _cell(data: dict, scenario: str) -> dict:
    [cell] = [c for c in data["cells"] if c["scenario"] == scenario]
    return cell


@pytest.mark.parametrize(
    "scenario, verdict",
    [
        ("passes", "passed"),
        ("nothing_to_compare", "passed"),
        ("matches_signature", "reproduced"),
        ("other_error", "error"),
        ("wrong_values", "wrong_values"),
        ("kills_itself", "crashed"),
        ("exits", "crashed"),
        ("hangs", "timeout"),
        ("bad_return", "error"),
        ("needs_newer", "skipped"),
        ("private_workdir", "passed"),
    ],
)
def test_each_scenario_gets_its_verdict(verdict_run: dict, scenario: str, verdict: str) -> None:
    cell = _cell(verdict_run, scenario)
    assert cell["verdict"] == verdict, cell


def test_evidence_is_kept(verdict_run: dict) -> None:
    passed = _cell(verdict_run, "passes")
    assert passed["compared"] is True and passed["compared_count"] == 3
    assert 0 < passed["max_abs_diff"] < 1e-6
    none = _cell(verdict_run, "nothing_to_compare")
    assert none["compared"] is False and none["max_abs_diff"] is None
    assert "nothing to compare" in none["reason"]
    reproduced = _cell(verdict_run, "matches_signature")
    assert reproduced["exception_type"] == "ValueError"
    assert "expected 3 variables" in reproduced["message"]
    assert "Traceback" in reproduced["traceback"]
    other = _cell(verdict_run, "other_error")
    assert other["exception_type"] == "KeyError" and "no such layer" in other["message"]
    wrong = _cell(verdict_run, "wrong_values")
    assert wrong["max_abs_diff"] == pytest.approx(0.5)
    assert "differ" in wrong["reason"]
    killed = _cell(verdict_run, "kills_itself")
    assert killed["signal"] == 9 and "about to die" in killed["output_tail"]
    exited = _cell(verdict_run, "exits")
    assert exited["exit_status"] == 3 and exited["signal"] is None
    hung = _cell(verdict_run, "hangs")
    assert 3.5 < hung["duration_s"] < 30
    contract = _cell(verdict_run, "bad_return")
    assert "contract" in contract["reason"]
    skipped = _cell(verdict_run, "needs_newer")
    assert "harness-fake>=2" in skipped["reason"] and "1.0" in skipped["reason"]


def test_results_have_the_stable_shape(verdict_run: dict) -> None:
    assert verdict_run["schema"] == 2
    [pairing] = verdict_run["pairings"]
    assert pairing["id"] == "harness-fake-1.0"
    assert pairing["packages"]["harness-fake"] == "1.0"
    assert pairing["python"].count(".") == 2
    assert pairing["install_error"] is None and pairing["backend"] == "tensorflow"
    ids = {s["id"] for s in verdict_run["scenarios"]}
    assert ids == set(SCENARIOS)
    for cell in verdict_run["cells"]:
        assert cell["pairing"] == pairing["id"] and cell["saved_with"] is None
        for key in ("verdict", "exception_type", "message", "max_abs_diff", "duration_s"):
            assert key in cell
    from harness.evidence.codec import read_results, to_dict

    stored = read_results(Path(verdict_run["_out"]) / "results.json")  # the harness's own strict reader accepts it
    assert to_dict(stored)["cells"] == verdict_run["cells"]


def test_progress_lines_count_and_estimate(verdict_run: dict) -> None:
    lines = [line for line in verdict_run["_stdout"].splitlines() if line.startswith("[")]
    assert len(lines) == len(SCENARIOS)
    assert lines[0].startswith(f"[ 1/{len(SCENARIOS)}]")
    assert "left" in lines[0] and lines[-1].endswith("done")


def test_a_crash_or_hang_does_not_stop_the_others(verdict_run: dict) -> None:
    # cells are run in id order: 'hangs' and 'kills_itself' come before 'wrong_values' etc.
    order = sorted(SCENARIOS)
    assert order.index("hangs") < order.index("wrong_values")
    assert _cell(verdict_run, "wrong_values")["verdict"] == "wrong_values"
    assert _cell(verdict_run, "private_workdir")["verdict"] == "passed"


def test_spawn_isolation_gives_the_same_verdicts(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    for name in ("passes", "matches_signature", "kills_itself", "hangs", "wrong_values"):
        write_scenario(folder, name, SCENARIOS[name])
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out),
                "--timeout", "3", "--isolation", "spawn", check_code=0)
    verdicts = {c["scenario"]: c["verdict"] for c in harness.results(out)["cells"]}
    assert verdicts == {"passes": "passed", "matches_signature": "reproduced", "kills_itself": "crashed",
                        "hangs": "timeout", "wrong_values": "wrong_values"}


def test_a_run_ends_with_its_reports(verdict_run: dict, tmp_path: Path, harness: Harness) -> None:
    out = Path(verdict_run["_out"])
    for name in ("results.json", "index.html", "summary.md", "junit.xml"):
        assert (out / name).stat().st_size > 0, name
    assert "| scenario |" in (out / "summary.md").read_text()
    # the report command renders again from stored results alone
    (out / "index.html").unlink()
    env_count = len(list(Path(harness.env["HARNESS_ENVS_DIR"]).iterdir()))
    proc = harness.run("report", str(out / "results.json"), check_code=0)
    assert (out / "index.html").exists() and "report:" in proc.stdout
    assert len(list(Path(harness.env["HARNESS_ENVS_DIR"]).iterdir())) == env_count


def test_values_that_are_all_nan_compare_nothing_and_do_not_pass(harness: Harness, tmp_path: Path) -> None:
    """NaN equals NaN for the comparison, but a model whose outputs are all NaN measured nothing:
    the cell says so and does not pass. A NaN among measured values is named on a passing cell."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "all_nan", '''
        """Every output is NaN"""
        def run(workdir):
            nan = float("nan")
            return {"expected": [nan, nan, nan], "actual": [nan, nan, nan]}
    ''')
    write_scenario(folder, "some_nan", '''
        """One output of three is NaN"""
        def run(workdir):
            nan = float("nan")
            return {"expected": [1.0, nan, 3.0], "actual": [1.0, nan, 3.0]}
    ''')
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    cells = {c["scenario"]: c for c in harness.results(out)["cells"]}
    assert cells["all_nan"]["verdict"] == "error", cells["all_nan"]
    assert "are NaN on both sides: nothing was compared" in cells["all_nan"]["reason"]
    assert cells["some_nan"]["verdict"] == "passed", cells["some_nan"]
    assert "(1 NaN on both sides, not compared)" in cells["some_nan"]["reason"]
