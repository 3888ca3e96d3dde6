"""The gate of a matrix run, as real subprocesses on fake wheels: --write-expect then --expect,
a changed scenario, another exception type with the same verdict (and --expect-verdicts-only),
expired expectations, --fail-on, the config table, interrupted and resumed runs, bad expectation
files, and a failing gate through nox."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, write_scenario

PAIRINGS = ["--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0"]
#: A scenario whose verdict the test flips: it raises while its flag file exists.
FLIPS = '''
    """Flips"""
    from pathlib import Path
    FLAG = Path({flag!r})
    def run(workdir):
        if FLAG.exists():
            raise RuntimeError("flipped: " + FLAG.read_text())
        return None
'''
SCENARIOS = {
    "passes": '"""Passes"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n',
    "cross": '''
        """Cross"""
        import harness_fake
        def save(workdir):
            return {"v": 1.0}
        def load(workdir):
            return {"v": float(harness_fake.__version__.split(".")[0])}
    ''',
}


@pytest.fixture
def scenarios(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(folder, name, body)
    write_scenario(folder, "flips", FLIPS.format(flag=str(tmp_path / "flag")))
    return folder


def matrix(harness: Harness, scenarios: Path, out: Path, *args: str, code: int) -> subprocess.CompletedProcess[str]:
    return harness.run("matrix", "--scenarios", str(scenarios), *PAIRINGS, "--out", str(out), *args, check_code=code)


def last_lines(proc: subprocess.CompletedProcess[str], count: int) -> list[str]:
    return proc.stdout.rstrip("\n").splitlines()[-count:]


def flip(scenarios: Path, why: str = "boom") -> None:
    (scenarios.parent / "flag").write_text(why)


def test_write_expect_then_expect_on_the_same_run_exits_0(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    expect = tmp_path / "expect.toml"
    first = matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(expect), code=0)
    assert f"expect: wrote 8 expectations to {expect}." in first.stdout
    text = expect.read_text()
    assert '[pairings]\n"harness-fake-1.0" = { spec = "harness-fake==1.0", id = "harness-fake-1.0" }' in text
    assert '[expect.flips]\n"harness-fake-1.0" = "passed"\n"harness-fake-3.0" = "passed"\n' in text
    assert '"harness-fake-1.0 -> harness-fake-3.0" = "wrong_values"' in text
    # the same run, resumed (nothing left to run), is compared
    same = harness.run("matrix", "--resume", str(tmp_path / "a"), "--expect", str(expect), check_code=0)
    assert last_lines(same, 1) == [f"expect: 8 cells checked, all as {expect} expects."]
    assert "8 cells checked" in (tmp_path / "a" / "expect.md").read_text()
    # a second run matches, and writing its expectations gives the same bytes
    again = tmp_path / "again.toml"
    matrix(harness, scenarios, tmp_path / "b", "--expect", str(expect), "--write-expect", str(again), code=0)
    assert again.read_bytes() == expect.read_bytes()


def test_a_changed_scenario_makes_expect_exit_1_with_the_table(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    expect = tmp_path / "expect.toml"
    matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(expect), code=0)
    flip(scenarios)
    write_scenario(scenarios, "added", '"""Added"""\ndef run(workdir):\n    return None\n')
    changed = matrix(harness, scenarios, tmp_path / "b", "--expect", str(expect), code=1)
    table = last_lines(changed, 7)
    assert table[0] == f"expect: the cells that differ from {expect} (was -> now):"
    assert table[1].split() == ["change", "scenario", "cell", "was", "now", "reason"]
    assert [row.split()[:5] for row in table[2:6]] == [
        ["new", "added", "harness-fake-1.0", "—", "passed"], ["new", "added", "harness-fake-3.0", "—", "passed"],
        ["changed", "flips", "harness-fake-1.0", "passed", "error"], ["changed", "flips", "harness-fake-3.0", "passed", "error"]]
    assert table[4].endswith("RuntimeError: flipped: boom")
    assert table[6] == f"expect: 4 cells differ from {expect} (2 changed, 2 new)."
    report = (tmp_path / "b" / "expect.md").read_text()
    assert "| changed | flips | harness-fake-1.0 | passed | error (RuntimeError) | run raised RuntimeError: flipped: boom |" in report
    assert "expect.md" not in (tmp_path / "b" / "index.html").read_text()
    # resuming the run compares it again
    resumed = harness.run("matrix", "--resume", str(tmp_path / "b"), "--expect", str(expect), check_code=1)
    assert last_lines(resumed, 1) == [table[6]]


#: A scenario that raises the exception type its kind file names.
RAISES = '''
    """Raises"""
    import builtins
    from pathlib import Path
    KIND = Path({kind!r})
    def run(workdir):
        raise getattr(builtins, KIND.read_text())("Unrecognized keyword arguments: quantization_config")
'''


def test_another_exception_type_with_the_same_verdict_is_a_change_unless_verdicts_only(harness: Harness, tmp_path: Path) -> None:
    folder, kind, expect = tmp_path / "raising", tmp_path / "kind", tmp_path / "expect.toml"
    write_scenario(folder, "raises", RAISES.format(kind=str(kind)))
    one = ["--scenarios", str(folder), "--pairing", f"{FAKE}==1.0"]
    kind.write_text("TypeError")
    harness.run("matrix", *one, "--out", str(tmp_path / "a"), "--write-expect", str(expect), check_code=0)
    assert '[expect.raises]\n"harness-fake-1.0" = { verdict = "error", exception = "TypeError" }\n' in expect.read_text()
    kind.write_text("ValueError")
    changed = harness.run("matrix", *one, "--out", str(tmp_path / "b"), "--expect", str(expect), check_code=1)
    table = last_lines(changed, 4)
    assert table[0] == f"expect: the cells that differ from {expect} (was -> now):"
    assert table[2].split()[:7] == ["changed", "raises", "harness-fake-1.0", "error", "(TypeError)", "error", "(ValueError)"]
    assert table[2].endswith("run raised ValueError: Unrecognized keyword arguments: quantization_config")
    assert table[3] == f"expect: 1 cell differs from {expect} (1 changed)."
    assert "| changed | raises | harness-fake-1.0 | error (TypeError) | error (ValueError) |" in (tmp_path / "b" / "expect.md").read_text()
    # the looser check: the same run, judged by its verdicts only, from the command line and from the config table
    loose = harness.run("matrix", "--resume", str(tmp_path / "b"), "--expect", str(expect), "--expect-verdicts-only", check_code=0)
    assert last_lines(loose, 2) == ["expect: only the verdicts were compared (--expect-verdicts-only), not the exception types.",
                                    f"expect: 1 cell checked, all as {expect} expects."]
    (tmp_path / "keras-compat.toml").write_text(f'expect = "{expect}"\nexpect_verdicts_only = true\n')
    assert run_in(harness, tmp_path, "matrix", "--resume", str(tmp_path / "b")).returncode == 0


def test_a_pairing_left_out_shows_its_cells_as_gone(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    expect = tmp_path / "expect.toml"
    matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(expect), code=0)
    proc = harness.run("matrix", "--scenarios", str(scenarios), "--pairing", f"{FAKE}==1.0", "--out", str(tmp_path / "b"),
                       "--expect", str(expect), check_code=1)
    gone = [line.split()[:5] for line in proc.stdout.splitlines() if line.startswith("  gone ")]
    assert ["gone", "flips", "harness-fake-3.0", "passed", "—"] in gone and len(gone) == 5
    assert last_lines(proc, 1) == [f"expect: 5 cells differ from {expect} (5 gone)."]
    assert "expect: harness-fake-3.0 is in the file but not in this run: its 5 cells are gone.\n" in proc.stdout
    # narrowed on purpose (--only), the other scenarios' expectations are left out, not gone
    narrowed = harness.run("matrix", "--scenarios", str(scenarios), *PAIRINGS, "--only", "passes", "--out", str(tmp_path / "c"),
                           "--expect", str(expect), check_code=0)
    assert "expect: 6 expectations lie outside this run (--only, --tag or --shard) and were not compared." in narrowed.stdout


def test_an_expired_expectation_fails_until_it_is_renewed(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    expect = tmp_path / "expect.toml"
    matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(expect), code=0)
    text = expect.read_text()
    entry = '"harness-fake-1.0" = "passed"\n"harness-fake-3.0" = "passed"\n\n[expect.passes]'
    assert entry in text
    expired = '"harness-fake-1.0" = { verdict = "passed", reason = "known upstream, keras#20407", until = "2000-01-01" }\n'
    expect.write_text(text.replace('[expect.flips]\n"harness-fake-1.0" = "passed"\n', "[expect.flips]\n" + expired))
    proc = harness.run("matrix", "--resume", str(tmp_path / "a"), "--expect", str(expect), check_code=1)
    row = last_lines(proc, 2)[0]
    assert row.split()[:5] == ["expired", "flips", "harness-fake-1.0", "passed", "passed"]
    assert row.endswith("expected until 2000-01-01 (known upstream, keras#20407): renew the date or remove the entry")
    assert last_lines(proc, 1) == [f"expect: 1 cell differs from {expect} (1 expired)."]
    # renewed: it holds again, and writing the expectations again keeps its reason and date
    expect.write_text(expect.read_text().replace("2000-01-01", "2999-12-31"))
    harness.run("matrix", "--resume", str(tmp_path / "a"), "--expect", str(expect), "--write-expect", str(expect), check_code=0)
    assert 'reason = "known upstream, keras#20407", until = "2999-12-31" }' in expect.read_text()


def test_fail_on_exits_1_when_a_cell_has_one_of_its_verdicts(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    flip(scenarios)
    hit = matrix(harness, scenarios, tmp_path / "a", "--fail-on", "crashed,error", code=1)
    assert last_lines(hit, 5) == [
        "fail-on: the cells that are error or crashed:",
        "  scenario  cell              verdict  reason",
        "  flips     harness-fake-1.0  error    run raised RuntimeError: flipped: boom",
        "  flips     harness-fake-3.0  error    run raised RuntimeError: flipped: boom",
        "fail-on: 2 cells are error or crashed.",
    ]
    assert "fail-on: 2 cells are error or crashed." in (tmp_path / "a" / "expect.md").read_text()
    clean = harness.run("matrix", "--resume", str(tmp_path / "a"), "--fail-on", "crashed,timeout", check_code=0)
    assert last_lines(clean, 1) == ["fail-on: no cell is crashed or timeout."]
    no_gate = harness.run("matrix", "--resume", str(tmp_path / "a"), check_code=0)
    assert "fail-on" not in no_gate.stdout and not (tmp_path / "a" / "expect.md").exists()


def run_in(harness: Harness, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=harness.env, capture_output=True,
                          text=True, timeout=600, check=False)


def test_the_config_table_sets_expect_and_fail_on(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "ci").mkdir(parents=True)
    matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(project / "ci" / "expect.toml"), code=0)
    (project / "keras-compat.toml").write_text(
        f'pairings = ["{FAKE}==1.0", "{FAKE}==3.0"]\nscenarios = ["{scenarios}"]\nexpect = "ci/expect.toml"\n')
    assert run_in(harness, project, "matrix", "--out", "one").returncode == 0
    flip(scenarios)
    proc = run_in(harness, project, "matrix", "--out", "two")
    assert proc.returncode == 1 and last_lines(proc, 1) == [f"expect: 2 cells differ from {project / 'ci' / 'expect.toml'} (2 changed)."]
    assert run_in(harness, project, "matrix", "--resume", "two").returncode == 1  # a resumed run is judged by the table too
    proc = run_in(harness, project, "matrix", "--out", "three", "--expect", str(tmp_path / "none.toml"))
    assert proc.returncode == 2 and "none.toml" in proc.stderr  # the command line's --expect wins over the table's
    (project / "keras-compat.toml").write_text(f'pairings = ["{FAKE}==1.0"]\nscenarios = ["{scenarios}"]\nfail_on = ["error"]\n')
    proc = run_in(harness, project, "matrix", "--out", "four")
    assert proc.returncode == 1 and last_lines(proc, 1) == ["fail-on: 1 cell is error."]


@pytest.mark.parametrize("text, fragment", [
    ('fail_on = ["eror"]\n', "fail_on: 'eror' is not a verdict"),
    ('fail_on = "error"\n', "fail_on must be a list of verdicts"),
    ('expect = 5\n', "expect must be a string"),
    ('expect_verdicts_only = "yes"\n', "expect_verdicts_only must be true or false"),
    ('expect_verdicts_only = true\n', "--expect-verdicts-only loosens the comparison with an expectations file: give --expect"),
    ('expect = "missing.toml"\n', "missing.toml' does not exist"),
])
def test_bad_gate_keys_in_the_config_table_are_one_line(harness: Harness, scenarios: Path, tmp_path: Path, text: str,
                                                        fragment: str) -> None:
    (tmp_path / "keras-compat.toml").write_text(f'scenarios = ["{scenarios}"]\n' + text)
    proc = run_in(harness, tmp_path, "matrix", "--pairing", f"{FAKE}==1.0", "--envs-dir", "envs")
    assert proc.returncode == 2 and fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "envs").exists() and not (tmp_path / "reports").exists()


BOMB = "[" * 20000 + "]" * 20000


@pytest.mark.parametrize("text, fragment", [
    ("pairings = []\n", "pairings is an empty list"),
    ("scenarios = []\n", "scenarios is an empty list"),
    (f"pairings = {BOMB}\n", "nests arrays or tables deeper than the parser can follow"),
])
def test_empty_lists_and_a_toml_bomb_in_the_config_table_are_one_line(harness: Harness, tmp_path: Path, text: str,
                                                                      fragment: str) -> None:
    """An empty list would silently mean the defaults; a bomb would end the parser. Both are
    refused in one line naming the file (and the key), before anything starts."""
    (tmp_path / "keras-compat.toml").write_text(text)
    proc = run_in(harness, tmp_path, "matrix", "--envs-dir", "envs")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert fragment in proc.stderr and "keras-compat.toml" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, \
        proc.stderr[-2000:]
    assert not (tmp_path / "envs").exists() and not (tmp_path / "reports").exists()


def test_write_expect_inside_a_run_folder_is_refused(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    """Inside this run's folder it would overwrite the run's own results.json with TOML; inside
    another run's folder it would change that run. Refused in one line, before anything starts."""
    out = tmp_path / "run"
    out.mkdir()  # new or empty: a run folder may be given empty
    proc = matrix(harness, scenarios, out, "--write-expect", str(out / "results.json"), code=2)
    assert "is inside the run folder" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(out.iterdir()) == []
    earlier = tmp_path / "earlier"
    matrix(harness, scenarios, earlier, code=0)
    proc = matrix(harness, scenarios, tmp_path / "other", "--write-expect", str(earlier / "logs" / "expect.toml"), code=2)
    assert "is inside the run folder" in proc.stderr and str(earlier) in proc.stderr, proc.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("name, text, fragment", [
    ("missing.toml", None, "does not exist or is not a regular file"),
    ("notes.txt", "just some notes\n", "is not valid TOML"),
    ("types.toml", 'version = 1\n[expect.flips]\n"harness-fake-1.0" = 3\n', "must be a verdict or a table"),
    ("verdict.toml", 'version = 1\n[expect.flips]\n"harness-fake-1.0" = "pased"\n', "'pased' is not a verdict"),
    ("date.toml", 'version = 1\n[expect.flips]\n"harness-fake-1.0" = { verdict = "passed", until = "2027-02-30" }\n',
     "until must be a date such as \"2027-06-01\", not '2027-02-30'"),
    ("version.toml", '[expect.flips]\n"harness-fake-1.0" = "passed"\n', "version must be 1"),
    ("bomb.toml", f"version = 1\nx = {BOMB}\n", "nests arrays or tables deeper than the parser can follow"),
])
def test_bad_expectation_files_give_one_line_and_exit_2(harness: Harness, scenarios: Path, tmp_path: Path, name: str,
                                                        text: str | None, fragment: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    for option in ("--expect", "--write-expect"):
        if text is None and option == "--write-expect":
            continue  # a file to write need not exist
        proc = harness.run("matrix", "--scenarios", str(scenarios), *PAIRINGS, "--out", str(tmp_path / "out"),
                           "--envs-dir", str(tmp_path / "envs"), option, str(path))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and fragment in lines[0] and str(path) in lines[0] and "Traceback" not in proc.stderr, proc.stderr
        assert not (tmp_path / "out").exists() and not (tmp_path / "envs").exists()  # nothing was started


@pytest.mark.parametrize("args, fragment", [
    (["--fail-on", "crashed,pased"], "--fail-on: 'pased' is not a verdict; verdicts: reproduced, passed,"),
    (["--write-expect", "/nonexistent-folder/expect.toml"], "the folder '/nonexistent-folder' does not exist"),
    (["--write-expect", "."], "is not a regular file"),
    (["--expect-verdicts-only"], "--expect-verdicts-only loosens the comparison with an expectations file: give --expect FILE too."),
])
def test_bad_gate_options_give_one_line_and_exit_2(harness: Harness, scenarios: Path, tmp_path: Path, args: list[str],
                                                   fragment: str) -> None:
    proc = harness.run("matrix", "--scenarios", str(scenarios), *PAIRINGS, "--out", str(tmp_path / "out"), *args)
    assert proc.returncode == 2 and fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_exits_130_unjudged_and_its_resume_is_judged(harness: Harness, scenarios: Path, tmp_path: Path) -> None:
    expect = tmp_path / "expect.toml"
    matrix(harness, scenarios, tmp_path / "a", "--write-expect", str(expect), code=0)
    flip(scenarios)
    slow_flag = tmp_path / "slow"
    slow_flag.write_text("")
    write_scenario(scenarios, "slow", f'"""Slow while a flag is there"""\nimport os, time\ndef run(workdir):\n'
                                      f'    if os.path.exists({str(slow_flag)!r}):\n        time.sleep(60)\n')
    out, written = tmp_path / "b", tmp_path / "written.toml"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "matrix", "--scenarios", str(scenarios), *PAIRINGS, "--out", str(out),
                             "--expect", str(expect), "--write-expect", str(written)],
                            cwd=ROOT, env=harness.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if re.match(r"\[\s*3/", line):  # cross, flips and passes are done; slow is running
            break
    else:
        raise AssertionError("the run ended before its third cell")
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output  # though flips differs from the expectations
    assert "expect: the run did not complete, so it was not compared and no expectations were written" in output
    assert "expect: the cells that differ" not in output
    assert not written.exists() and not (out / "expect.md").exists()
    slow_flag.unlink()
    resumed = harness.run("matrix", "--resume", str(out), "--expect", str(expect), "--write-expect", str(written), check_code=1)
    assert last_lines(resumed, 1) == [f"expect: 4 cells differ from {expect} (2 changed, 2 new)."]
    assert '[expect.slow]\n"harness-fake-1.0" = "passed"' in written.read_text()


def test_through_nox_a_changed_verdict_fails_the_session_with_the_table_last(scenarios: Path, wheelhouse: Path,
                                                                             shared_envs: Path, tmp_path: Path) -> None:
    wheel = str(wheelhouse / "harness_fake-1.0-py3-none-any.whl")
    env = dict(os.environ, HARNESS_ENVS_DIR=str(shared_envs))
    env.pop("HARNESS_ERROR_FILE", None)
    expect = tmp_path / "expect.toml"

    def nox(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nox", "-s", "matrix", "--envdir", str(tmp_path / "nox"), "--",
                               "--scenarios", str(scenarios), "--only", "flips", "--pairing", wheel, *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)

    assert nox("--out", str(tmp_path / "a"), "--write-expect", str(expect)).returncode == 0
    flip(scenarios)
    proc = nox("--out", str(tmp_path / "b"), "--expect", str(expect))
    output = (proc.stdout + proc.stderr).rstrip("\n").splitlines()
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert output[-4].endswith(f"Session matrix aborted: expect: the cells that differ from {expect} (was -> now):"), output[-6:]
    assert output[-2].split()[:5] == ["changed", "flips", "harness-fake-1.0-wheel", "passed", "error"]
    # nox ends the line with its own full stop, after how long the session took (when it took a while)
    assert re.fullmatch(rf"expect: 1 cell differs from {re.escape(str(expect))} \(1 changed\)( \(took [^)]*\))?\.", output[-1]), output[-1]


def test_a_merge_is_judged_by_the_same_gate(harness: Harness, tmp_path: Path) -> None:
    """The merge of a run's shards is compared with the expectations of the whole run."""
    folder = tmp_path / "scenarios"
    for name in ("one", "two", "three"):
        write_scenario(folder, name, '"""Passes"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n')
    common = ["--scenarios", str(folder), "--pairing", f"{FAKE}==1.0"]
    expect = tmp_path / "expect.toml"
    harness.run("matrix", *common, "--out", str(tmp_path / "whole"), "--write-expect", str(expect), check_code=0)
    for k in (1, 2):
        harness.run("matrix", *common, "--shard", f"{k}/2", "--out", str(tmp_path / f"s{k}"), check_code=0)
    parts = [str(tmp_path / "s1"), str(tmp_path / "s2")]
    harness.run("report", "merge", *parts, "--out", str(tmp_path / "m1"), "--expect", str(expect), check_code=0)
    expect.write_text(expect.read_text().replace('"harness-fake-1.0" = "passed"', '"harness-fake-1.0" = "reproduced"', 1))
    proc = harness.run("report", "merge", *parts, "--out", str(tmp_path / "m2"), "--expect", str(expect))
    assert proc.returncode == 1 and "1 cell differs" in proc.stdout.strip().splitlines()[-1], proc.stdout[-2000:]
