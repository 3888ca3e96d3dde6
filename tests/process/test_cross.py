"""Cross-version cells with fake scenarios in two real envs (harness-fake 1.0 and 3.0)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import FAKE, Harness, local_index_env, write_scenario

OLD, NEW = f"{FAKE}-1.0", f"{FAKE}-3.0"

CROSS = {
    "cross_ok": '''
        """Loads what was saved"""
        def save(workdir):
            with open(workdir + "/data.txt", "w") as handle:
                handle.write("42")
            return {"x": 42.0, "nested": {"y": [1.0, 2.0]}}
        def load(workdir):
            with open(workdir + "/data.txt") as handle:
                return {"x": float(handle.read()), "nested": {"y": [1.0, 2.0]}}
    ''',
    "cross_wrong": '''
        """Each version computes its own value"""
        import harness_fake
        def save(workdir):
            return {"v": float(harness_fake.__version__.split(".")[0])}
        def load(workdir):
            return {"v": float(harness_fake.__version__.split(".")[0])}
    ''',
    "cross_save_fails": '''
        """The save fails on 1.0"""
        import harness_fake
        SIGNATURE = r"ValueError: expected \\d+ variables"
        def save(workdir):
            if harness_fake.__version__ == "1.0":
                raise RuntimeError("cannot save here")
            return {"v": 1.0}
        def load(workdir):
            return {"v": 1.0}
    ''',
    "cross_load_signature": '''
        """Another version's file is not understood (the signature)"""
        import harness_fake
        SIGNATURE = r"ValueError: .*expected 3 variables, but received 0"
        def save(workdir):
            with open(workdir + "/version.txt", "w") as handle:
                handle.write(harness_fake.__version__)
            return None
        def load(workdir):
            with open(workdir + "/version.txt") as handle:
                if handle.read() != harness_fake.__version__:
                    raise ValueError("Layer 'dense' expected 3 variables, but received 0 variables during loading.")
            return None
    ''',
    "cross_load_other": '''
        """Another version's file fails otherwise"""
        import harness_fake
        SIGNATURE = r"ValueError: expected"
        def save(workdir):
            with open(workdir + "/version.txt", "w") as handle:
                handle.write(harness_fake.__version__)
        def load(workdir):
            with open(workdir + "/version.txt") as handle:
                if handle.read() != harness_fake.__version__:
                    raise KeyError("unknown format")
    ''',
    "cross_old_writes_new_reads": '''
        """Written by the old generation, read by the new one"""
        SAVE_REQUIRES = {"harness-fake": "<2"}
        REQUIRES = {"harness-fake": ">=2"}
        def save(workdir):
            return {"v": 1.0}
        def load(workdir):
            return {"v": 1.0}
    ''',
    "cross_isolated": '''
        """Every load gets a fresh copy of the save"""
        import os
        def save(workdir):
            with open(os.path.join(workdir, "model.bin"), "w") as handle:
                handle.write("m")
            return {"files": 1.0}
        def load(workdir):
            found = sorted(os.listdir(workdir))
            assert found == ["model.bin"], found
            with open(os.path.join(workdir, "leftover.txt"), "w") as handle:
                handle.write("x")
            os.remove(os.path.join(workdir, "model.bin"))
            return {"files": float(len(found))}
    ''',
}


@pytest.fixture(scope="module")
def cross_run(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path, dict]:
    tmp = tmp_path_factory.mktemp("cross")
    folder = tmp / "scenarios"
    for name, body in CROSS.items():
        write_scenario(folder, name, body)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    out = tmp / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                "--out", str(out), check_code=0)
    return harness, folder, harness.results(out)


def grid(data: dict, scenario: str) -> dict[tuple[str, str], dict]:
    return {(c["saved_with"], c["pairing"]): c for c in data["cells"] if c["scenario"] == scenario}


def verdicts(data: dict, scenario: str) -> dict[tuple[str, str], str]:
    return {k: c["verdict"] for k, c in grid(data, scenario).items()}


def test_every_grid_is_full(cross_run: tuple) -> None:
    _, _, data = cross_run
    for scenario in CROSS:
        assert set(grid(data, scenario)) == {(OLD, OLD), (OLD, NEW), (NEW, OLD), (NEW, NEW)}, scenario
    assert len(data["cells"]) == 4 * len(CROSS)


def test_values_are_compared_across_envs(cross_run: tuple) -> None:
    _, _, data = cross_run
    ok = grid(data, "cross_ok")
    assert all(c["verdict"] == "passed" and c["compared"] and c["compared_count"] == 3 for c in ok.values())
    assert verdicts(data, "cross_wrong") == {(OLD, OLD): "passed", (NEW, NEW): "passed",
                                             (OLD, NEW): "wrong_values", (NEW, OLD): "wrong_values"}
    assert grid(data, "cross_wrong")[(OLD, NEW)]["max_abs_diff"] == pytest.approx(2.0)


def test_a_failed_save_makes_its_row_error_and_keeps_its_evidence(cross_run: tuple) -> None:
    _, _, data = cross_run
    cells = grid(data, "cross_save_fails")
    for loader in (OLD, NEW):
        cell = cells[(OLD, loader)]
        assert cell["verdict"] == "error"
        assert cell["reason"].startswith(f"save failed in {OLD}")
        assert cell["save"]["ok"] is False and cell["save"]["exception_type"] == "RuntimeError"
        assert "cannot save here" in cell["message"]
    assert cells[(NEW, OLD)]["verdict"] == "passed" and cells[(NEW, NEW)]["verdict"] == "passed"


def test_load_failures_with_and_without_signature(cross_run: tuple) -> None:
    _, _, data = cross_run
    assert verdicts(data, "cross_load_signature") == {(OLD, OLD): "passed", (NEW, NEW): "passed",
                                                      (OLD, NEW): "reproduced", (NEW, OLD): "reproduced"}
    assert verdicts(data, "cross_load_other") == {(OLD, OLD): "passed", (NEW, NEW): "passed",
                                                  (OLD, NEW): "error", (NEW, OLD): "error"}
    assert grid(data, "cross_load_other")[(OLD, NEW)]["exception_type"] == "KeyError"


def test_save_requires_chooses_the_writers_and_requires_the_readers(cross_run: tuple) -> None:
    _, _, data = cross_run
    cells = grid(data, "cross_old_writes_new_reads")
    assert cells[(OLD, NEW)]["verdict"] == "passed" and cells[(OLD, NEW)]["compared"]
    assert cells[(OLD, OLD)]["verdict"] == "skipped" and "REQUIRES harness-fake>=2" in cells[(OLD, OLD)]["reason"]
    for loader in (OLD, NEW):
        assert cells[(NEW, loader)]["verdict"] == "skipped"
    assert "does not save it: SAVE_REQUIRES harness-fake<2" in cells[(NEW, NEW)]["reason"]


def test_loads_never_see_each_others_leftovers(cross_run: tuple) -> None:
    _, _, data = cross_run
    assert set(verdicts(data, "cross_isolated").values()) == {"passed"}


def test_saves_are_kept_with_a_content_hash(cross_run: tuple) -> None:
    harness, _, data = cross_run
    cell = grid(data, "cross_ok")[(OLD, NEW)]
    assert len(cell["save"]["sha256"]) == 64 and cell["save"]["pairing"] == OLD
    out = harness.tmp / "run"
    saved = out / cell["save"]["artifact"]
    assert (saved / "data.txt").read_text() == "42"  # the save itself was never modified by the loads


def test_load_artifacts_from_an_earlier_run(cross_run: tuple, tmp_path: Path) -> None:
    harness, folder, _ = cross_run
    earlier = harness.tmp / "run"
    out = tmp_path / "later"
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "cross_wrong",
                       "--only", "cross_ok", "--load-artifacts", str(earlier), "--out", str(out), check_code=0)
    data = harness.results(out)
    # this run has pairing 3.0 already, so the earlier run's 3.0 saves get a suffixed id
    earlier_id = harness.results(earlier)["run"]["id"]
    imported = {p["id"]: p for p in data["pairings"] if p["source"]}
    assert set(imported) == {OLD, f"{NEW}@{earlier_id}"}
    cells = verdicts(data, "cross_wrong")
    assert cells == {(NEW, NEW): "passed", (OLD, NEW): "wrong_values", (f"{NEW}@{earlier_id}", NEW): "passed"}
    assert "loading the saves of" in proc.stdout
    assert (out / "index.html").read_text().count("saved in run") >= 2


def test_tampered_or_linked_artifacts_are_refused(cross_run: tuple, tmp_path: Path) -> None:
    harness, folder, _ = cross_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(harness.tmp / "run", copy, symlinks=True)
    data_file = copy / "artifacts" / "cross_ok" / OLD / "files" / "data.txt"
    data_file.write_text("43")
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "cross_ok",
                       "--load-artifacts", str(copy), "--out", str(tmp_path / "a"))
    assert proc.returncode == 2 and "changed after they were saved" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    data_file.write_text("42")
    data_file.unlink()
    os.symlink("/etc/passwd", data_file)
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "cross_ok",
                       "--load-artifacts", str(copy), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0", "--only", "cross_ok",
                       "--load-artifacts", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "c"))
    assert proc.returncode == 2 and "not a run folder" in proc.stderr
    assert not (tmp_path / "c").exists()


SAVE_FAULTS = {
    "save_hangs": f'''
        """The save hangs on 1.0"""
        import time
        import harness_fake
        LINKS = ["https://example.org/thread/2"]
        CLAIMS = [{{"link": "https://example.org/thread/2", "says": "fixed in 1.0", "kind": "fixed_in",
                    "package": "{FAKE}", "version": "1.0"}}]
        def save(workdir):
            if harness_fake.__version__ == "1.0":
                time.sleep(600)
            return {{"v": 1.0}}
        def load(workdir):
            return {{"v": 1.0}}
    ''',
    "save_dies": '''
        """The save segfaults on 1.0"""
        import os
        import signal
        import harness_fake
        def save(workdir):
            if harness_fake.__version__ == "1.0":
                os.kill(os.getpid(), signal.SIGSEGV)
            return {"v": 1.0}
        def load(workdir):
            return {"v": 1.0}
    ''',
}


def test_a_save_that_hung_or_died_gives_its_loads_timeout_or_crashed_never_error(harness: Harness, tmp_path: Path) -> None:
    """Only a save that raised makes its loads ``error``: one that ran out of time or died says
    nothing about the loads, so they say nothing either (claims do not count them, --fail-on
    timeout,crashed finds them)."""
    folder = tmp_path / "scenarios"
    for name, body in SAVE_FAULTS.items():
        write_scenario(folder, name, body)
    out = tmp_path / "run"
    proc = harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                       "--out", str(out), "--timeout", "3", "--fail-on", "timeout,crashed")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = harness.results(out)
    hangs, dies = grid(data, "save_hangs"), grid(data, "save_dies")
    for loader in (OLD, NEW):
        assert hangs[(OLD, loader)]["verdict"] == "timeout", hangs[(OLD, loader)]
        assert f"save failed in {OLD}" in hangs[(OLD, loader)]["reason"]
        assert "(3 s)" in hangs[(OLD, loader)]["reason"], hangs[(OLD, loader)]["reason"]
        assert dies[(OLD, loader)]["verdict"] == "crashed", dies[(OLD, loader)]
        assert f"save failed in {OLD}" in dies[(OLD, loader)]["reason"] and "SIGSEGV" in dies[(OLD, loader)]["reason"]
        assert hangs[(NEW, loader)]["verdict"] == dies[(NEW, loader)]["verdict"] == "passed"
    assert "holds               save_hangs: fixed in harness-fake 1.0" in proc.stdout, proc.stdout
