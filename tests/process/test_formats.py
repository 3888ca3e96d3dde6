"""One save, several formats: a cross-version scenario with FORMATS in two real envs (harness-fake
1.0 and 3.0). The save phase runs once per saving pairing for every format, in one process; each
format is its own scenario id (``formats_case[plain]``), with its own grid and verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import FAKE, Harness, local_index_env, write_scenario

OLD, NEW = f"{FAKE}-1.0", f"{FAKE}-3.0"
FORMATS = ("plain", "unreadable", "unsaved")

# {LOG} is replaced by a file outside every work folder: each save call appends a line to it.
SCENARIO = '''
    """One model in three formats"""
    import os

    import harness_fake

    FORMATS = ("plain", "unreadable", "unsaved")
    LOG = {log!r}
    _BUILT = []


    def _log(text):
        with open(LOG, "a") as handle:
            handle.write("%s %d %s\\n" % (harness_fake.__version__, os.getpid(), text))


    def _model():
        if not _BUILT:  # built once per process: every format of one save phase shares it
            _log("build")
            _BUILT.append(42.0)
        return _BUILT[0]


    def save(workdir, fmt):
        _log("save " + fmt)
        if fmt == "unsaved" and harness_fake.__version__ == "1.0":
            raise RuntimeError("cannot write this format here")
        with open(os.path.join(workdir, "model." + fmt), "w") as handle:
            handle.write(repr(_model()))
        return {{"v": _model()}}


    def load(workdir, fmt):
        assert os.listdir(workdir) == ["model." + fmt], os.listdir(workdir)
        if fmt == "unreadable" and harness_fake.__version__ == "3.0":
            raise KeyError("no reader for this format")
        with open(os.path.join(workdir, "model." + fmt)) as handle:
            return {{"v": float(handle.read())}}
'''

PLAIN = '''
    """A scenario without FORMATS, next to it"""
    def save(workdir):
        return {"v": 1.0}
    def load(workdir):
        return {"v": 1.0}
'''


def grid(data: dict, scenario: str) -> dict[tuple[str, str], str]:
    return {(c["saved_with"], c["pairing"]): c["verdict"] for c in data["cells"] if c["scenario"] == scenario}


def save_lines(log: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split(" ", 2)) for line in log.read_text().splitlines()]  # type: ignore[misc]


@pytest.fixture(scope="module")
def formats_run(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("formats")
    folder, log = tmp / "scenarios", tmp / "saves.log"
    write_scenario(folder, "formats_case", SCENARIO.format(log=str(log)))
    write_scenario(folder, "plain_case", PLAIN)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    out = tmp / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                "--out", str(out), check_code=0)
    return harness, folder, log, harness.results(out)


def test_one_save_phase_per_pairing_calls_save_for_every_format(formats_run: tuple) -> None:
    _, _, log, _ = formats_run
    lines = save_lines(log)
    for version in ("1.0", "3.0"):
        mine = [(pid, text) for v, pid, text in lines if v == version]
        assert [text for _, text in mine] == ["save plain", "build", "save unreadable", "save unsaved"]
        assert len({pid for pid, _ in mine}) == 1  # one process: the model was built once


def test_each_format_is_its_own_scenario_with_its_own_verdicts(formats_run: tuple) -> None:
    _, _, _, data = formats_run
    ids = [s["id"] for s in data["scenarios"]]
    assert ids == ["formats_case[plain]", "formats_case[unreadable]", "formats_case[unsaved]", "plain_case"]
    assert {s["format"] for s in data["scenarios"] if s["id"].startswith("formats_case")} == set(FORMATS)
    every = {(OLD, OLD), (OLD, NEW), (NEW, OLD), (NEW, NEW)}
    assert grid(data, "formats_case[plain]") == {key: "passed" for key in every}
    assert grid(data, "formats_case[unreadable]") == {(OLD, OLD): "passed", (NEW, OLD): "passed",
                                                      (OLD, NEW): "error", (NEW, NEW): "error"}
    assert grid(data, "formats_case[unsaved]") == {(OLD, OLD): "error", (OLD, NEW): "error",
                                                   (NEW, OLD): "passed", (NEW, NEW): "passed"}
    assert grid(data, "plain_case") == {key: "passed" for key in every}
    unsaved = next(c for c in data["cells"] if c["scenario"] == "formats_case[unsaved]" and c["saved_with"] == OLD)
    assert unsaved["reason"].startswith(f"save failed in {OLD}") and "cannot write this format here" in unsaved["message"]


def test_each_format_has_its_own_save_folder(formats_run: tuple) -> None:
    harness, _, _, data = formats_run
    out = harness.tmp / "run"
    for fmt in ("plain", "unreadable"):
        cell = next(c for c in data["cells"] if c["scenario"] == f"formats_case[{fmt}]" and c["saved_with"] == NEW)
        saved = out / cell["save"]["artifact"]
        assert sorted(p.name for p in saved.iterdir()) == [f"model.{fmt}"]
        assert (saved.parent / "save.output.log").is_file()  # the one phase's output, in every format's folder
        assert json.loads((saved.parent / "save.json").read_text())["scenario"] == f"formats_case[{fmt}]"


def test_only_one_format_saves_only_that_format(formats_run: tuple, tmp_path: Path) -> None:
    harness, folder, log, _ = formats_run
    before = len(save_lines(log))
    out = tmp_path / "one"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                "--only", "formats_case[unreadable]", "--out", str(out), check_code=0)
    data = harness.results(out)
    assert [s["id"] for s in data["scenarios"]] == ["formats_case[unreadable]"]
    assert grid(data, "formats_case[unreadable]")[(OLD, NEW)] == "error"
    added = [text for _, _, text in save_lines(log)[before:]]
    assert sorted(added) == ["build", "build", "save unreadable", "save unreadable"]


def test_only_the_module_runs_every_format(formats_run: tuple, tmp_path: Path) -> None:
    harness, folder, _, _ = formats_run
    out = tmp_path / "all"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "formats_case",
                "--out", str(out), check_code=0)
    assert [s["id"] for s in harness.results(out)["scenarios"]] == [f"formats_case[{f}]" for f in FORMATS]


def test_expectations_have_a_table_per_format(formats_run: tuple, tmp_path: Path) -> None:
    harness, _, _, _ = formats_run
    run = harness.tmp / "run"
    expect = tmp_path / "expect.toml"
    harness.run("matrix", "--resume", str(run), "--write-expect", str(expect), check_code=0)
    text = expect.read_text()
    error = '{ verdict = "error", exception = "KeyError" }'
    table = f'[expect."formats_case[unreadable]"]\n"{OLD} -> {OLD}" = "passed"\n"{OLD} -> {NEW}" = {error}\n'
    assert table in text
    harness.run("matrix", "--resume", str(run), "--expect", str(expect), check_code=0)
    expect.write_text(text.replace(table, table.replace(error, '"passed"')))
    proc = harness.run("matrix", "--resume", str(run), "--expect", str(expect), check_code=1)
    changed = [line.split() for line in proc.stdout.splitlines() if line.strip().startswith("changed ")]
    assert [row[:3] for row in changed] == [["changed", "formats_case[unreadable]", f"{OLD}"]]


def test_resume_remakes_only_a_missing_format_save(formats_run: tuple, tmp_path: Path) -> None:
    harness, folder, log, _ = formats_run
    out = tmp_path / "resumed"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "formats_case",
                "--out", str(out), check_code=0)
    data = harness.results(out)
    record = json.loads((out / "run.json").read_text())
    assert record["scenarios"][0]["id"] == "formats_case[plain]"
    # drop the unreadable format's save and every cell: a resume makes that save again, alone
    import shutil

    shutil.rmtree(out / "artifacts" / "formats_case[unreadable]")
    for cell in (out / "cells").iterdir():
        cell.unlink()
    before = len(save_lines(log))
    harness.run("matrix", "--resume", str(out), check_code=0)
    added = [text for _, _, text in save_lines(log)[before:]]
    assert added == ["save unreadable", "build"]
    assert grid(harness.results(out), "formats_case[plain]") == grid(data, "formats_case[plain]")


def test_the_reproduce_command_passes_the_format(formats_run: tuple) -> None:
    harness, _, _, _ = formats_run
    page = (harness.tmp / "run" / "index.html").read_text()
    assert "import formats_case as s; print(s.load(\\\"artifact\\\", \\\"unreadable\\\"))" in page
    assert "import formats_case[" not in page
