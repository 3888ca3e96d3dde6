"""The cell cache reuses a cell only when everything it read is unchanged: a data file beside the
scenario, a helper package, a module imported with importlib or run with exec, a file under $HOME,
a variable named in ``ENV``, a local wheel rebuilt with the same version. ``CACHE = False`` cells
always run. A rerun after such a change gives the same verdicts as ``--fresh`` would, says which
file made its cells run again, and the gate sees the change.

Every scenario appends a line to ``$CACHE_TEST_LOG`` each time one of its phases really runs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support import FAKE, Harness, build_wheel, local_index_env, write_scenario

PAIRING = f"{FAKE}==1.0"

_LOG = '''
import os
def _ran(name):
    with open(os.environ["CACHE_TEST_LOG"], "a") as log:
        log.write(name + "\\n")
'''

SCENARIOS = {
    "reads_data_file": '''
"""Reads a data file beside it"""
''' + _LOG + '''def run(workdir):
    _ran("reads_data_file")
    with open(os.path.join(os.path.dirname(__file__), "data", "value.txt")) as handle:
        return {"expected": 1.0, "actual": float(handle.read())}
''',
    "reads_helper_package": '''
"""Takes its value from a helper package"""
''' + _LOG + '''import _hpkg
def run(workdir):
    _ran("reads_helper_package")
    return {"expected": 1.0, "actual": _hpkg.VALUE}
''',
    "reads_importlib": '''
"""Imports a module by path with importlib"""
''' + _LOG + '''import importlib.util
def run(workdir):
    _ran("reads_importlib")
    spec = importlib.util.spec_from_file_location("plugged", os.path.join(os.path.dirname(__file__), "data", "plug.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {"expected": 1.0, "actual": module.VALUE}
''',
    "reads_exec": '''
"""Runs a file's text with exec"""
''' + _LOG + '''def run(workdir):
    _ran("reads_exec")
    space = {}
    with open(os.path.join(os.path.dirname(__file__), "data", "code.txt")) as handle:
        exec(handle.read(), space)
    return {"expected": 1.0, "actual": space["VALUE"]}
''',
    "reads_home": '''
"""Reads a file under $HOME"""
''' + _LOG + '''def run(workdir):
    _ran("reads_home")
    with open(os.path.expanduser("~/.cachetest.json")) as handle:
        import json
        return {"expected": 1.0, "actual": json.load(handle)["value"]}
''',
    "reads_env": '''
"""Depends on an environment variable it declares"""
''' + _LOG + '''ENV = ("CACHE_TEST_VALUE",)
def run(workdir):
    _ran("reads_env")
    return {"expected": 1.0, "actual": float(os.environ.get("CACHE_TEST_VALUE", "1"))}
''',
    "never_cached": '''
"""Reads the clock: never cached"""
''' + _LOG + '''CACHE = False
def run(workdir):
    _ran("never_cached")
    return {"expected": 1.0, "actual": 1.0}
''',
    "cross_reads_data": '''
"""Its load reads a data file beside it"""
''' + _LOG + '''def save(workdir):
    _ran("save cross_reads_data")
    return {"v": 1.0}
def load(workdir):
    _ran("load cross_reads_data")
    with open(os.path.join(os.path.dirname(__file__), "data", "load.txt")) as handle:
        return {"v": float(handle.read())}
''',
}

CHANGES = {  # scenario -> (file changed below the tmp folder, its new text)
    "reads_data_file": ("scenarios/data/value.txt", "0.5"),
    "reads_helper_package": ("scenarios/_hpkg/__init__.py", "VALUE = 0.5\n"),
    "reads_importlib": ("scenarios/data/plug.py", "VALUE = 0.5\n"),
    "reads_exec": ("scenarios/data/code.txt", "VALUE = 0.5\n"),
    "reads_home": ("home/.cachetest.json", '{"value": 0.5}'),
    "cross_reads_data": ("scenarios/data/load.txt", "0.5"),
}
ORIGINAL = {
    "scenarios/data/value.txt": "1.0", "scenarios/_hpkg/__init__.py": "VALUE = 1.0\n", "scenarios/data/plug.py": "VALUE = 1.0\n",
    "scenarios/data/code.txt": "VALUE = 1.0\n", "home/.cachetest.json": '{"value": 1.0}', "scenarios/data/load.txt": "1.0",
}


class Runs:
    def __init__(self, wheelhouse: Path, tmp: Path):
        self.tmp = tmp
        for name, body in SCENARIOS.items():
            write_scenario(tmp / "scenarios", name, body)
        for relative, text in ORIGINAL.items():
            (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp / relative).write_text(text)
        self.log = tmp / "ran.log"
        env = local_index_env(wheelhouse, tmp / "envs", cache="on")
        env.update(CACHE_TEST_LOG=str(self.log), HOME=str(tmp / "home"))
        env.pop("CACHE_TEST_VALUE", None)
        self.harness = Harness(env=env, tmp=tmp)
        self.count = 0

    def matrix(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> tuple[dict, list[str], str]:
        self.count += 1
        out = self.tmp / f"run{self.count}"
        before = len(self.ran())
        harness = Harness(env={**self.harness.env, **(env or {})}, tmp=self.tmp)
        proc = harness.run("matrix", "--scenarios", str(self.tmp / "scenarios"), "--pairing", PAIRING, "--out", str(out), *args,
                           check_code=code)
        return harness.results(out), self.ran()[before:], proc.stdout + proc.stderr

    def ran(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def verdicts(data: dict) -> dict[str, str]:
    return {c["scenario"]: c["verdict"] for c in data["cells"]}


@pytest.fixture
def runs(wheelhouse: Path, tmp_path: Path) -> Runs:
    """A first run that fills the cache, and a second one that reuses every cell but the uncached one."""
    runs = Runs(wheelhouse, tmp_path)
    first, ran, _ = runs.matrix()
    assert len(ran) == len(SCENARIOS) + 1  # every run cell, and the cross scenario's save and load
    assert set(verdicts(first).values()) == {"passed"}
    second, ran, _ = runs.matrix()
    assert ran == ["never_cached"]
    assert {c["scenario"] for c in second["cells"] if c["reused_from"] is None} == {"never_cached"}
    return runs


def test_a_changed_file_that_a_cell_read_makes_it_run_again(runs: Runs) -> None:
    for relative, text in {path: text for path, text in CHANGES.values()}.items():
        (runs.tmp / relative).write_text(text)
    data, ran, output = runs.matrix()
    assert sorted(ran) == sorted(["reads_data_file", "reads_helper_package", "reads_importlib", "reads_exec", "reads_home",
                                  "never_cached", "load cross_reads_data"])
    found = verdicts(data)
    for scenario in CHANGES:
        assert found[scenario] == "wrong_values", (scenario, found)
    assert found["reads_env"] == "passed"
    line = next(text for text in output.splitlines() if "cells run again" in text)
    assert line.startswith("cell cache: 6 cells run again: ") and "value.txt changed" in line and "__init__.py changed" in line, line
    fresh, _, _ = runs.matrix("--fresh")
    assert verdicts(fresh) == found  # the same answer as running everything again


def test_a_vanished_file_makes_its_cell_run_again(runs: Runs) -> None:
    (runs.tmp / "home" / ".cachetest.json").unlink()
    data, ran, output = runs.matrix()
    assert sorted(ran) == ["never_cached", "reads_home"]
    assert verdicts(data)["reads_home"] == "error"
    assert ".cachetest.json vanished" in output


def test_a_declared_environment_variable_is_part_of_the_key(runs: Runs) -> None:
    data, ran, _ = runs.matrix(env={"CACHE_TEST_VALUE": "0.5"})
    assert sorted(ran) == ["never_cached", "reads_env"]
    assert verdicts(data)["reads_env"] == "wrong_values"
    data, ran, _ = runs.matrix(env={"CACHE_TEST_VALUE": "0.5", "UNRELATED_VARIABLE": "x"})
    assert ran == ["never_cached"]
    data, ran, _ = runs.matrix(env={"KERAS_ANYTHING": "1"})  # KERAS_* and TF_* always count
    assert sorted(ran) == sorted(["never_cached", *(s for s in SCENARIOS if s != "never_cached" and s != "cross_reads_data"),
                                  "save cross_reads_data", "load cross_reads_data"])


def test_the_gate_sees_a_change_without_fresh(runs: Runs) -> None:
    expect = runs.tmp / "expect.toml"
    runs.matrix("--write-expect", str(expect))
    (runs.tmp / "scenarios" / "data" / "value.txt").write_text("0.5")
    _, ran, output = runs.matrix("--expect", str(expect), code=1)
    assert "reads_data_file" in ran
    assert "reads_data_file" in output


def test_a_rebuilt_wheel_of_the_same_version_runs_again(wheelhouse: Path, tmp_path: Path) -> None:
    """A local wheel rebuilt with the same version: the env is another one, and so are its cells."""
    wheels = tmp_path / "dist"
    scenarios = tmp_path / "scenarios"
    write_scenario(scenarios, "uses_wheel", '''
"""Takes its value from the installed package"""
''' + _LOG + '''import harness_fake
def run(workdir):
    _ran("uses_wheel")
    return {"expected": 1.0, "actual": harness_fake.VALUE}
''')
    log = tmp_path / "ran.log"
    env = local_index_env(wheelhouse, tmp_path / "envs", cache="on")
    env["CACHE_TEST_LOG"] = str(log)
    harness = Harness(env=env, tmp=tmp_path)
    found = []
    for value in ("1.0", None, "0.5"):  # built, the same file again, rebuilt with another value
        if value is not None:
            shutil.rmtree(wheels, ignore_errors=True)
            wheel = build_wheel(wheels, FAKE, "9.0", {"harness_fake/__init__.py": f"__version__ = '9.0'\nVALUE = {value}\n"})
        out = tmp_path / f"run{len(found)}"
        harness.run("matrix", "--scenarios", str(scenarios), "--pairing", str(wheel), "--out", str(out), check_code=0)
        cell = json.loads(json.dumps(harness.results(out)["cells"][0]))
        found.append((cell["verdict"], cell["reused_from"] is not None))
    assert found == [("passed", False), ("passed", True), ("wrong_values", False)]
    assert log.read_text().splitlines() == ["uses_wheel", "uses_wheel"]


def test_cache_info_lists_what_each_entry_depends_on(runs: Runs) -> None:
    proc = runs.harness.run("cache", "info", "--envs-dir", str(runs.tmp / "envs"), "--files", check_code=0)
    assert str(runs.tmp / "scenarios" / "data" / "value.txt") in proc.stdout
    assert str(runs.tmp / "home" / ".cachetest.json") in proc.stdout
    assert os.sep + "_hpkg" + os.sep + "__init__.py" in proc.stdout
    # what the key already covers is no dependency: the scenario's own text, the save (the artifact), the run folders
    depends = [line.strip() for line in proc.stdout.splitlines() if line.startswith("    ")]
    assert not [line for line in depends if "reads_data_file.py" in line or "reference." in line or "/run" in line], depends
