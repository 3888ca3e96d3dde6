"""Bad input: one line on stderr, exit status 2, no traceback; directly and through nox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, write_scenario


@pytest.fixture
def one_scenario(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "ok", '"""Fine"""\ndef run(workdir):\n    return None\n')
    return folder


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["matrix", "--bogus"], "unrecognized arguments: --bogus"),
        (["matrix", "--jobs", "0"], "--jobs: expected a positive whole number, not '0'"),
        (["matrix", "--jobs", "two"], "not 'two'"),
        (["matrix", "--timeout", "-5"], "--timeout: expected a positive number of seconds, not '-5'"),
        (["matrix", "--timeout", "nan"], "not 'nan'"),
        (["matrix", "--pairing", "keras==3.5.0,backend=cntk"], "backend 'cntk'"),
        (["matrix", "--pairing", "keras==="], "'keras===' is not a requirement"),
        (["matrix", "--only", "no_such_scenario"], "Unknown scenario id 'no_such_scenario'"),
        (["matrix", "--tag", "nope"], "Unknown tag 'nope'"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(harness: Harness, one_scenario: Path, args: list[str], fragment: str) -> None:
    if args and args[0] == "matrix":
        args = [*args, "--scenarios", str(one_scenario), "--out", str(harness.tmp / "out")]
    proc = harness.run(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert not (harness.tmp / "out").exists()  # nothing was started


@pytest.mark.parametrize("option", ["--timeout", "--jobs", "--only"])
def test_a_huge_value_in_a_message_is_clipped(harness: Harness, one_scenario: Path, option: str) -> None:
    """A 100,000-character value is named by its head and tail, with how much was cut: the
    line stays short."""
    proc = harness.run("matrix", option, "x" * 100_000, "--scenarios", str(one_scenario), "--out", str(harness.tmp / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-500:]
    [line] = proc.stderr.strip().splitlines()
    assert len(line) < 2000 and "characters cut]" in line, line[:500]
    assert not (harness.tmp / "out").exists()


def test_missing_folder_and_broken_module(harness: Harness, tmp_path: Path) -> None:
    proc = harness.run("matrix", "--scenarios", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and str(tmp_path / "nowhere") in proc.stderr
    broken = tmp_path / "broken"
    write_scenario(broken, "no_functions", '"""Only a title"""\nSIGNATURE = "x"\n')
    proc = harness.run("matrix", "--scenarios", str(broken), "--pairing", f"{FAKE}==1.0")
    assert proc.returncode == 2
    assert str(broken / "no_functions.py") in proc.stderr and "defines neither run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_out_folder_that_holds_something_is_refused(harness: Harness, one_scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = harness.run("matrix", "--scenarios", str(one_scenario), "--pairing", f"{FAKE}==1.0", "--out", str(out))
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_through_nox_the_message_is_the_last_line(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("HARNESS_ERROR_FILE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "matrix", "--envdir", str(tmp_path / "nox"), "--", "--jobs", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    output = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "expected a positive whole number, not '0'" in output[-1], output[-3:]


def test_list_shows_scenarios_and_default_pairings(harness: Harness) -> None:
    proc = harness.run("list", "--json", check_code=0)
    import json

    data = json.loads(proc.stdout)
    assert any(s["id"] == "gru_weights_into_grucell" for s in data["scenarios"])
    assert [p["spec"] for p in data["pairings"]][0] == "keras==3.5.0,tensorflow==2.16.1"


def test_missing_host_packages_are_one_line_not_a_traceback(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("HARNESS_ERROR_FILE", None)
    for args in (["matrix", "--only", "gru_weights_into_grucell"], ["list"]):
        proc = subprocess.run([str(bare / "bin" / "python"), "-m", "harness", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: The harness needs jinja2, packaging, h5py, numpy, pypi_simple, requests on this machine")
        assert len(proc.stderr.strip().splitlines()) == 1


def test_bench_prints_its_figures_and_keeps_its_runs_with_out(harness: Harness, one_scenario: Path, tmp_path: Path) -> None:
    """The bench's own plumbing on a fake package (the real figures come from `nox -s bench`)."""
    out = tmp_path / "bench"
    proc = harness.run("bench", "--no-cold", "--scenarios", str(one_scenario), "--pairing", f"{FAKE}==1.0",
                       "--out", str(out), "--spawn", check_code=0)
    for figure in ("warm (uv cache, new env)", "reused (existing env)", "ratio wall / floor",
                   "render time (html, md, junit)", "index.html", "bench took"):
        assert figure in proc.stdout, proc.stdout
    assert "cold (empty uv cache" not in proc.stdout
    for isolation in ("fork", "spawn"):
        [cell] = harness.results(out / isolation)["cells"]
        assert cell["verdict"] == "passed"


def test_bench_cache_figures_reuse_every_cell_but_the_added_scenario(wheelhouse: Path, one_scenario: Path,
                                                                     tmp_path: Path) -> None:
    """`bench --cache` on a fake package: the warm run takes every cell from the cache, the
    --fresh run none, and the run with the added scenario runs only that scenario's cells."""
    from support import local_index_env

    harness = Harness(env=local_index_env(wheelhouse, tmp_path / "envs", cache="on"), tmp=tmp_path)
    out = tmp_path / "bench"
    proc = harness.run("bench", "--cache", "--scenarios", str(one_scenario), "--pairing", f"{FAKE}==1.0",
                       "--out", str(out), check_code=0)
    for figure in ("ratio warm / fresh", "ratio extra / (cells + imports)", "bench took"):
        assert figure in proc.stdout, proc.stdout
    reused = {run: [c["reused_from"] is not None for c in harness.results(out / run)["cells"]]
              for run in ("cache-warm", "cache-fresh")}
    assert reused == {"cache-warm": [True], "cache-fresh": [False]}
    added = {c["scenario"]: c["reused_from"] is not None for c in harness.results(out / "added-one")["cells"]}
    assert added == {"ok": True, "bench_added_scenario": False}
