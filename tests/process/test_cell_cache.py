"""The cell cache: a run only does new work. Every ingredient of a cell's key, changed alone, makes
that cell run again; a tampered entry is ignored and named; ``--fresh`` runs again; a bisect
answers from cells any earlier run measured.

Every scenario here appends a line to ``$CACHE_TEST_LOG`` each time one of its phases really runs,
so a test can tell a reused cell from one that ran.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from harness.evidence.run_folder import hash_tree
from support import FAKE, Harness, build_wheel, local_index_env, write_scenario

PAIRING = f"{FAKE}==1.0"
OTHER = f"{FAKE}==3.0"

SCENARIOS = {
    "plain_run": '''
        """A single-env cell that leaves a file"""
        import os
        def run(workdir):
            with open(os.environ["CACHE_TEST_LOG"], "a") as log:
                log.write("run plain_run\\n")
            with open(os.path.join(workdir, "out.txt"), "w") as handle:
                handle.write("x")
            return {"expected": 1.0, "actual": 1.0}
    ''',
    "with_helper": '''
        """A single-env cell whose value comes from a helper"""
        import os
        import _shared
        def run(workdir):
            with open(os.environ["CACHE_TEST_LOG"], "a") as log:
                log.write("run with_helper\\n")
            return {"expected": _shared.VALUE, "actual": _shared.VALUE}
    ''',
    "cross_bytes": '''
        """Saved bytes differ at every save"""
        import os
        def save(workdir):
            with open(os.environ["CACHE_TEST_LOG"], "a") as log:
                log.write("save cross_bytes\\n")
            with open(os.path.join(workdir, "blob.bin"), "wb") as handle:
                handle.write(os.urandom(64))
            return {"v": 1.0}
        def load(workdir):
            with open(os.environ["CACHE_TEST_LOG"], "a") as log:
                log.write("load cross_bytes\\n")
            assert os.path.getsize(os.path.join(workdir, "blob.bin")) == 64
            return {"v": 1.0}
    ''',
}
HELPER = "VALUE = 2.0\n"


class Runs:
    """A scenarios folder, an envs folder with its own cache, and the log of what really ran."""

    def __init__(self, wheelhouse: Path, tmp: Path):
        self.tmp = tmp
        self.scenarios = tmp / "scenarios"
        for name, body in SCENARIOS.items():
            write_scenario(self.scenarios, name, body)
        (self.scenarios / "_shared.py").write_text(HELPER)
        self.log = tmp / "ran.log"
        env = local_index_env(wheelhouse, tmp / "envs", cache="on")
        env["CACHE_TEST_LOG"] = str(self.log)
        self.harness = Harness(env=env, tmp=tmp)
        self.count = 0

    def matrix(self, *args: str, scenarios: Path | None = None, code: int = 0) -> tuple[dict, list[str], str]:
        """Run a matrix; returns its results, the phases that really ran, and its output."""
        self.count += 1
        out = self.tmp / f"run{self.count}"
        before = self.ran()
        proc = self.harness.run("matrix", "--scenarios", str(scenarios or self.scenarios), "--out", str(out), *args,
                                check_code=code)
        return self.harness.results(out), self.ran()[len(before):], proc.stdout + proc.stderr

    def ran(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def copy_scenarios(self, name: str) -> Path:
        folder = self.tmp / name
        shutil.copytree(self.scenarios, folder)
        return folder


@pytest.fixture(scope="module")
def runs(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A first run of every scenario in one pairing (cross-version cells of its own only): the cache
    then holds each of its cells."""
    runs = Runs(wheelhouse, tmp_path_factory.mktemp("cache"))
    data, ran, _ = runs.matrix("--pairing", PAIRING)
    assert sorted(ran) == ["load cross_bytes", "run plain_run", "run with_helper", "save cross_bytes"]
    assert all(c["reused_from"] is None for c in data["cells"])
    runs.first = data  # type: ignore[attr-defined]
    return runs


def by_scenario(data: dict) -> dict[str, dict]:
    return {c["scenario"]: c for c in data["cells"]}


def test_a_rerun_with_nothing_changed_runs_nothing_and_says_where_each_cell_came_from(runs: Runs) -> None:
    data, ran, output = runs.matrix("--pairing", PAIRING)
    assert ran == []
    first = by_scenario(runs.first)  # type: ignore[attr-defined]
    for scenario, cell in by_scenario(data).items():
        assert cell["reused_from"].startswith(f"run {runs.first['run']['id']} ")  # type: ignore[attr-defined]
        assert cell["verdict"] == first[scenario]["verdict"] == "passed"
        assert cell["started"] == first[scenario]["started"]  # the original evidence, unchanged
    assert by_scenario(data)["plain_run"]["files"] == first["plain_run"]["files"]
    assert "(reused)" in output and "cell cache: 3 cells and 1 saves reused" in output
    assert not list((runs.tmp / f"run{runs.count}" / "logs").glob("worker-*.log"))  # no worker, no import
    page = (runs.tmp / f"run{runs.count}" / "index.html").read_text()
    assert "3 cells reused from earlier runs" in page and f"run {runs.first['run']['id']} (" in page  # type: ignore[attr-defined]
    assert "3 cells reused from earlier runs" in output  # the summary says so too


@pytest.mark.parametrize("ingredient", ["scenario text", "helper text", "package set", "backend", "timeout",
                                        "isolation", "output cap"])
def test_each_ingredient_changed_alone_is_a_miss(runs: Runs, ingredient: str) -> None:
    args = ["--pairing", PAIRING]
    scenarios = None
    changed = {"plain_run"}
    if ingredient == "scenario text":
        scenarios = runs.copy_scenarios(f"edited-{runs.count}")
        (scenarios / "plain_run.py").write_text((scenarios / "plain_run.py").read_text() + "# edited\n")
    elif ingredient == "helper text":
        scenarios = runs.copy_scenarios(f"helper-{runs.count}")
        (scenarios / "_shared.py").write_text(HELPER + "# edited\n")
        changed = {"with_helper"}
    else:
        changed = {"plain_run", "with_helper", "cross_bytes"}
        extra = {"package set": ["--pairing", f"{PAIRING},fakekeras-nightly"],
                 "backend": ["--pairing", f"{PAIRING},backend=numpy"],
                 "timeout": ["--pairing", PAIRING, "--timeout", "123"],
                 "isolation": ["--pairing", PAIRING, "--isolation", "spawn"],
                 "output cap": ["--pairing", PAIRING, "--max-output", "7"]}[ingredient]
        args = extra
    data, ran, _ = runs.matrix(*args, scenarios=scenarios)
    cells = by_scenario(data)
    for scenario, cell in cells.items():
        assert (cell["reused_from"] is None) == (scenario in changed), (ingredient, scenario, cell["reused_from"])
        assert cell["verdict"] == "passed"
    assert {line.split()[1] for line in ran} == changed


def test_a_load_of_other_saved_bytes_is_a_miss(runs: Runs) -> None:
    """The artifact's hash is part of a load's key: the same save imported unchanged is a hit,
    the same save with other bytes (and a matching record) is a miss."""
    first_dir = runs.tmp / "run1"
    same, ran, _ = runs.matrix("--pairing", PAIRING, "--cross", "imported", "--load-artifacts", str(first_dir),
                               "--only", "cross_bytes")
    assert ran == [] and all(c["reused_from"] for c in same["cells"])
    other = runs.tmp / "other-bytes"
    shutil.copytree(first_dir, other)
    pairing_id = runs.first["pairings"][0]["id"]  # type: ignore[attr-defined]
    saved = other / "artifacts" / "cross_bytes" / pairing_id
    (saved / "files" / "blob.bin").write_bytes(b"\1" * 64)
    record = json.loads((saved / "save.json").read_text())
    record["sha256"] = hash_tree(saved / "files")
    (saved / "save.json").write_text(json.dumps(record))
    changed, ran, _ = runs.matrix("--pairing", PAIRING, "--cross", "imported", "--load-artifacts", str(other),
                                  "--only", "cross_bytes")
    assert ran == ["load cross_bytes"]
    assert [c["reused_from"] for c in changed["cells"]] == [None]


def test_a_tampered_entry_is_ignored_reported_and_run_again(runs: Runs) -> None:
    root = runs.tmp / "envs" / "cell-cache" / "v1"
    entries = sorted((root / "cells").glob("*/*.json"))
    assert entries
    for path in entries:  # every plain_run entry says it raised now; every other one is garbage
        text = path.read_text()
        if '"plain_run"' in text:
            path.write_text(text.replace('"outcome": "returned"', '"outcome": "raised"'))
        else:
            path.write_text("{not json")
    data, ran, output = runs.matrix("--pairing", PAIRING)
    assert sorted(ran) == ["load cross_bytes", "run plain_run", "run with_helper", "save cross_bytes"]
    assert "ignored: its HMAC does not match its content" in output
    assert "ignored: it is not valid JSON" in output
    assert all(c["reused_from"] is None and c["verdict"] == "passed" for c in data["cells"])
    # the entries written again are trusted again
    again, ran, _ = runs.matrix("--pairing", PAIRING)
    assert ran == [] and all(c["reused_from"] for c in again["cells"])


def test_a_cached_save_whose_files_changed_is_not_trusted(runs: Runs) -> None:
    root = runs.tmp / "envs" / "cell-cache" / "v1" / "saves"
    blobs = list(root.glob("*/*/files/blob.bin"))
    assert blobs
    for blob in blobs:
        blob.unlink()
        blob.write_bytes(b"\0" * 64)  # a new file, so the run folders' hard links keep the old bytes
    data, ran, output = runs.matrix("--pairing", PAIRING, "--only", "cross_bytes")
    assert "ran" and sorted(ran) == ["load cross_bytes", "save cross_bytes"]
    assert "its saved files changed after they were stored" in output
    assert [c["verdict"] for c in data["cells"]] == ["passed"]


def test_fresh_runs_again_and_its_results_replace_the_cached_ones(runs: Runs) -> None:
    runs.matrix("--pairing", PAIRING)  # the cache holds everything
    data, ran, _ = runs.matrix("--pairing", PAIRING, "--fresh")
    assert sorted(ran) == ["load cross_bytes", "run plain_run", "run with_helper", "save cross_bytes"]
    assert all(c["reused_from"] is None for c in data["cells"])
    only, ran, _ = runs.matrix("--pairing", PAIRING, "--fresh", "plain_run")
    assert ran == ["run plain_run"]
    cells = by_scenario(only)
    assert cells["plain_run"]["reused_from"] is None
    assert cells["with_helper"]["reused_from"].startswith(f"run {data['run']['id']} ")
    after, ran, _ = runs.matrix("--pairing", PAIRING)
    assert ran == []
    assert by_scenario(after)["plain_run"]["reused_from"].startswith(f"run {only['run']['id']} ")


def test_fresh_of_an_unknown_scenario_is_one_line_and_exit_2(runs: Runs) -> None:
    proc = runs.harness.run("matrix", "--scenarios", str(runs.scenarios), "--pairing", PAIRING, "--fresh", "nope",
                            "--out", str(runs.tmp / "never"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--fresh 'nope' is not a scenario" in proc.stderr
    assert not (runs.tmp / "never").exists()


def test_the_cache_is_bounded_and_pruned_on_request(runs: Runs) -> None:
    envs = str(runs.tmp / "envs")
    info = runs.harness.run("cache", "info", "--envs-dir", envs, check_code=0).stdout
    count = int(info.split(": ")[1].split()[0])
    assert count >= 4
    pruned = runs.harness.run("cache", "prune", "--envs-dir", envs, "--max-size", "1", check_code=0).stdout
    assert f"pruned {count} entries" in pruned and "0 entries" in pruned
    bad = runs.harness.run("cache", "prune", "--envs-dir", envs, "--max-size", "lots")
    assert bad.returncode == 2 and "--max-size must be a size" in bad.stderr
    # a run whose bound is tiny keeps the cache under it once it ends
    env = dict(runs.harness.env, HARNESS_CACHE_MAX="1")
    proc = Harness(env=env, tmp=runs.tmp).run("matrix", "--scenarios", str(runs.scenarios), "--pairing", PAIRING,
                                              "--out", str(runs.tmp / "bounded"), check_code=0)
    assert "cell cache: pruned" in proc.stdout
    assert "0 entries" in runs.harness.run("cache", "info", "--envs-dir", envs, check_code=0).stdout


def test_a_bound_that_rounds_to_nothing_and_a_negative_age_are_refused(runs: Runs) -> None:
    """``HARNESS_CACHE_MAX=0.5`` (half a byte) would round to 0, which meant the 4 GiB default,
    and ``--older-than -5`` was ignored: each is one line, exit 2, and nothing is pruned."""
    envs = str(runs.tmp / "envs")
    before = runs.harness.run("cache", "info", "--envs-dir", envs, check_code=0).stdout
    env = dict(runs.harness.env, HARNESS_CACHE_MAX="0.5")
    proc = Harness(env=env, tmp=runs.tmp).run("matrix", "--scenarios", str(runs.scenarios), "--pairing", PAIRING,
                                              "--out", str(runs.tmp / "half"))
    assert proc.returncode == 2 and "$HARNESS_CACHE_MAX must be at least one byte" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (runs.tmp / "half").exists()
    for args in (["--older-than", "-5"], ["--older-than", "nan"], ["--max-size", "0.5"]):
        bad = runs.harness.run("cache", "prune", "--envs-dir", envs, *args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert runs.harness.run("cache", "info", "--envs-dir", envs, check_code=0).stdout == before


def test_a_bisect_answers_from_cells_an_earlier_run_measured(wheelhouse: Path, tmp_path: Path) -> None:
    """No --known: a bisect over releases a matrix already ran makes no probe of its own."""
    wheels = tmp_path / "wheels"
    for n, version in enumerate(["1.0", "1.1", "1.2"]):
        build_wheel(wheels, "harness-fake-cache", version, {"harness_fake_cache/__init__.py": f"BROKEN = {n < 2}\n"})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fixed_later", '''
        """Fixed in 1.2"""
        import harness_fake_cache
        SIGNATURE = "ValueError: broken"
        def run(workdir):
            if harness_fake_cache.BROKEN:
                raise ValueError("broken")
            return {"expected": 1.0, "actual": 1.0}
    ''')
    harness = Harness(env=local_index_env(wheels, tmp_path / "envs", cache="on"), tmp=tmp_path)
    pairings = [arg for v in ("1.0", "1.1", "1.2") for arg in ("--pairing", f"harness-fake-cache=={v}")]
    harness.run("matrix", "--scenarios", str(folder), *pairings, "--out", str(tmp_path / "matrix"), check_code=0)
    out = tmp_path / "bisect"
    proc = harness.run("bisect", "--scenario", "fixed_later", "--scenarios", str(folder), "--package", "harness-fake-cache",
                       "--old", "1.0", "--new", "1.2", "--find-links", str(wheels), "--out", str(out), check_code=0)
    assert "first new: harness-fake-cache==1.2" in proc.stdout
    assert not (out / "probes").exists()
    probes = [line for line in proc.stdout.splitlines() if line.startswith("probe ")]
    assert probes and all("known from run " in line for line in probes)


def test_helpers_imported_by_helpers_are_part_of_the_scenario_text(tmp_path: Path) -> None:
    from harness.plan.scenarios import load_scenarios

    write_scenario(tmp_path, "outer", '''
        """Uses a helper that uses another"""
        import _first
        def run(workdir):
            return None
    ''')
    (tmp_path / "_first.py").write_text("import _second\n")
    (tmp_path / "_second.py").write_text("X = 1\n")
    before = load_scenarios([tmp_path])[0].sha256
    (tmp_path / "_second.py").write_text("X = 2\n")
    assert load_scenarios([tmp_path])[0].sha256 != before
    os.remove(tmp_path / "_second.py")
    assert load_scenarios([tmp_path])[0].sha256 != before
