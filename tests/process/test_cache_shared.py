"""Runs, the cell cache and scenarios share no bytes that a load can damage, and runs that share
one cache never end each other: a load writing into a save restored from the cache leaves the run
that made it and the cache intact; a load that puts the times back after writing is caught; runs
started together on one cache (pruning it at their end) all complete, with no false alarms.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, local_index_env, write_scenario

PAIRING = f"{FAKE}==1.0"

WRITES_BACK = '''
"""Its load writes into the save and puts its times back"""
import os
def save(workdir):
    with open(os.path.join(workdir, "model.bin"), "wb") as handle:
        handle.write(b"1.0 saved")
    return {"v": 1.0}
def load(workdir):
    path = os.path.join(workdir, "model.bin")
    before = os.stat(path)
    with open(path, "rb") as handle:
        value = float(handle.read().split()[0])
    with open(path, "r+b") as handle:
        handle.write(b"4")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return {"v": value}
'''

MANY_FILES = '''
"""Saves many small files"""
import os
def save(workdir):
    for i in range({count}):
        with open(os.path.join(workdir, "f%05d.txt" % i), "w") as handle:
            handle.write(str(i % 7))
    return {{"v": 1.0}}
def load(workdir):
    assert len(os.listdir(workdir)) == {count}
    return {{"v": 1.0}}
'''


def test_a_load_writing_into_a_restored_save_damages_neither_the_cache_nor_the_run_that_made_it(
        wheelhouse: Path, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios"
    write_scenario(scenarios, "writes_back", WRITES_BACK)
    harness = Harness(env=local_index_env(wheelhouse, tmp_path / "envs", cache="on"), tmp=tmp_path)
    first = tmp_path / "run1"
    harness.run("matrix", "--scenarios", str(scenarios), "--pairing", PAIRING, "--out", str(first), check_code=0)
    [cell] = harness.results(first)["cells"]
    assert cell["verdict"] == "error" and "wrote into the shared save (model.bin: it was written to" in cell["reason"], cell["reason"]
    assert "writes_back" in cell["reason"]
    artifact = first / cell["save"]["artifact"] / "model.bin"
    assert artifact.read_bytes() == b"4.0 saved"  # that run's own save took the write: its load linked it
    # a second run: the save comes back from the cache as a copy of the run's own; its load writes into that copy
    second = tmp_path / "run2"
    harness.run("matrix", "--scenarios", str(scenarios), "--pairing", PAIRING, "--out", str(second), "--fresh", "writes_back",
                check_code=0)
    third = tmp_path / "run3"
    harness.run("matrix", "--scenarios", str(scenarios), "--pairing", PAIRING, "--out", str(third), check_code=0)
    [again] = harness.results(third)["cells"]
    saved_second = second / harness.results(second)["cells"][0]["save"]["artifact"] / "model.bin"
    cached = list((tmp_path / "envs" / "cell-cache" / "v1" / "saves").glob("*/*/files/model.bin"))
    assert cached and all(path.read_bytes() == b"1.0 saved" for path in cached)  # the cache's copy is untouched
    assert saved_second.read_bytes() == b"4.0 saved"
    assert os.stat(saved_second).st_ino not in {os.stat(path).st_ino for path in cached}
    assert again["verdict"] == "error" and "wrote into the shared save" in again["reason"]


def test_runs_sharing_one_cache_all_complete(wheelhouse: Path, tmp_path: Path) -> None:
    """Four runs at once on one cache, each storing a save of many files and pruning the cache
    (bounded to nearly nothing) at its end: every run completes, with its results, and no entry is
    reported as tampered with."""
    scenarios = tmp_path / "scenarios"
    write_scenario(scenarios, "many_files", MANY_FILES.format(count=1500))
    env = local_index_env(wheelhouse, tmp_path / "envs", cache="on")
    env["HARNESS_CACHE_MAX"] = "1K"
    Harness(env=env, tmp=tmp_path).run("matrix", "--scenarios", str(scenarios), "--pairing", PAIRING,
                                       "--out", str(tmp_path / "warm"), check_code=0)  # the env, made once
    for round_ in range(2):
        procs = [subprocess.Popen([sys.executable, "-m", "harness", "matrix", "--scenarios", str(scenarios), "--pairing", PAIRING,
                                   "--fresh", "--out", str(tmp_path / f"run{round_}-{i}")], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for i in range(4)]
        outputs = [proc.communicate(timeout=600)[0] for proc in procs]
        for i, (proc, output) in enumerate(zip(procs, outputs)):
            assert proc.returncode == 0, output
            assert " ignored:" not in output and "error:" not in output, output
            results = Harness(env=env, tmp=tmp_path).results(tmp_path / f"run{round_}-{i}")
            assert [c["verdict"] for c in results["cells"]] == ["passed"]
    # and a lookup racing nothing: a plain rerun reuses what the last store left, or runs it again, never alarms
    proc = subprocess.run([sys.executable, "-m", "harness", "matrix", "--scenarios", str(scenarios), "--pairing", PAIRING,
                           "--out", str(tmp_path / "after")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and " ignored:" not in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("verb", ["info", "clear"])
def test_cache_info_and_clear_survive_each_other(wheelhouse: Path, tmp_path: Path, verb: str) -> None:
    scenarios = tmp_path / "scenarios"
    write_scenario(scenarios, "many_files", MANY_FILES.format(count=300))
    env = local_index_env(wheelhouse, tmp_path / "envs", cache="on")
    harness = Harness(env=env, tmp=tmp_path)
    harness.run("matrix", "--scenarios", str(scenarios), "--pairing", PAIRING, "--out", str(tmp_path / "one"), check_code=0)
    words = [sys.executable, "-m", "harness", "cache"]
    where = ["--envs-dir", str(tmp_path / "envs")]
    procs = [subprocess.Popen([*words, "clear", *where], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True),
             subprocess.Popen([*words, verb, *where, *(["--files"] if verb == "info" else [])], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    for proc in procs:
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, output
