"""A run folder stays small: a large save loaded by many cells is stored once (its loads are hard
links to it), a load that writes into the shared save is caught, a ``LOAD_WRITES`` load gets a
private copy that is gone afterwards, and file anatomies are stored once per distinct file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.evidence.codec import read_results
from harness.paths import disk_usage
from support import FAKE, Harness, local_index_env, write_scenario

OLD, NEW = f"{FAKE}-1.0", f"{FAKE}-3.0"
BIG_MB = 64
#: Scenarios whose saves all write the same large file (the same bytes in every pairing).
SHARING = ("big_a", "big_b", "big_c")

BIG = '''
    """A large artifact, the same bytes in every pairing"""
    import os, random
    def save(workdir):
        data = random.Random(7).randbytes(1 << 20)
        with open(os.path.join(workdir, "big.weights.h5"), "wb") as handle:
            for i in range({mb}):
                handle.write(data[i:] + data[:i])
        return {{"size": float(os.path.getsize(os.path.join(workdir, "big.weights.h5")))}}
    def load(workdir):
        path = os.path.join(workdir, "big.weights.h5")
        with open(path, "rb") as handle:
            handle.seek(-16, 2)
            handle.read()
        return {{"size": float(os.path.getsize(path))}}
'''

SCENARIOS = {
    **{name: BIG.format(mb=BIG_MB) for name in SHARING},
    "writes_into_save": '''
        """Appends to the file it loads, without saying so"""
        import os, harness_fake
        def save(workdir):
            with open(os.path.join(workdir, "model.h5"), "w") as handle:
                handle.write("saved by " + harness_fake.__version__)
            return None
        def load(workdir):
            with open(os.path.join(workdir, "model.h5"), "a") as handle:
                handle.write(" and loaded")
            return None
    ''',
    "writes_declared": '''
        """Appends to the file it loads, and says so"""
        import os
        LOAD_WRITES = True
        def save(workdir):
            with open(os.path.join(workdir, "model.h5"), "w") as handle:
                handle.write("42")
            return {"text": 42.0}
        def load(workdir):
            path = os.path.join(workdir, "model.h5")
            with open(path) as handle:
                seen = float(handle.read())
            with open(path, "a") as handle:
                handle.write("0")
            return {"text": seen}
    ''',
}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path]:
    tmp = tmp_path_factory.mktemp("small")
    folder = tmp / "scenarios"
    for name, body in SCENARIOS.items():
        write_scenario(folder, name, body)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    out = tmp / "run"
    # --fresh: every load runs (the cell cache would give back the loads of identical saves)
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--pairing", f"{FAKE}==3.0",
                "--fresh", "--out", str(out), check_code=0)
    return harness, out


def _cells(out: Path, scenario: str) -> dict[tuple[str | None, str], dict]:
    data = Harness.results(None, out)  # type: ignore[arg-type]
    return {(c["saved_with"], c["pairing"]): c for c in data["cells"] if c["scenario"] == scenario}


def test_a_large_save_loaded_by_many_cells_is_stored_about_once(small_run: tuple[Harness, Path]) -> None:
    _, out = small_run
    loads = [c for name in SHARING for c in _cells(out, name).values()]
    assert len(loads) == 4 * len(SHARING) and {c["verdict"] for c in loads} == {"passed"}
    assert all(c["workdir"] and not c.get("reused_from") for c in loads)  # every load ran, in a folder of its own
    size = BIG_MB << 20
    # 6 saves and 12 loads of the same 64 MiB: a copy per save and per load would be 18 copies; blobs are shared
    # within a scenario only (a writing load can damage no other scenario's save): one copy per scenario
    assert disk_usage(out) < len(SHARING) * 1.25 * size + (8 << 20), f"{disk_usage(out) / 2**20:.1f} MiB on disk"
    work = out / cell_workdir(loads[0])
    saved = out / loads[0]["save"]["artifact"] / "big.weights.h5"
    assert os.stat(work / "big.weights.h5").st_ino == os.stat(saved).st_ino  # a link, not a copy
    large = [b for b in (out / "blobs").glob("*/sha256/*/*") if b.stat().st_size == size]
    assert len(large) == len(SHARING) and os.stat(saved).st_ino in {os.stat(b).st_ino for b in large}


def cell_workdir(cell: dict) -> str:
    assert cell["workdir"], cell
    return cell["workdir"]


def test_file_anatomies_are_stored_once_and_read_back_per_cell(small_run: tuple[Harness, Path]) -> None:
    _, out = small_run
    data = Harness.results(None, out)  # type: ignore[arg-type]
    assert data["schema"] == 2
    big = [c for c in data["cells"] if c["scenario"] in SHARING]
    digests = {ref["sha256"] for c in big for ref in c["file_refs"]}
    assert len(digests) == 1 and all(c["files"] == [] for c in big)
    [digest] = digests
    assert digest in data["anatomies"]
    back = read_results(out / "results.json")
    seen = [c for c in back.cells if c.scenario in SHARING]
    assert {c.files[0].path for c in seen} == {f"{c.workdir}/big.weights.h5" for c in seen}
    assert all(c.files[0].format == "unreadable" and c.files[0].path in (c.files[0].error or "") for c in seen)
    index = (out / "index.html").read_text()
    assert all(f"{c.workdir}/big.weights.h5" in index for c in seen)  # the page lists each cell's file


def test_a_load_writing_into_the_shared_save_is_an_error_and_the_save_is_refused_after(small_run: tuple[Harness, Path]) -> None:
    _, out = small_run
    cells = _cells(out, "writes_into_save")
    assert {c["verdict"] for c in cells.values()} == {"error"}
    for own in (OLD, NEW):  # each save's first load is its own pairing's (phase one)
        reason = cells[(own, own)]["reason"]
        assert f"the load of scenario writes_into_save saved in {own} and loaded in {own} wrote into the shared save " \
               "(model.h5: its size changed" in reason
        assert "LOAD_WRITES = True" in reason
    for saver, loader in ((OLD, NEW), (NEW, OLD)):
        assert "an earlier load wrote into this save's files" in cells[(saver, loader)]["reason"]


def test_a_load_that_declares_load_writes_gets_a_private_copy_that_is_gone_afterwards(small_run: tuple[Harness, Path]) -> None:
    _, out = small_run
    cells = _cells(out, "writes_declared")
    assert {c["verdict"] for c in cells.values()} == {"passed"}  # every load saw the save as it was written
    for cell in cells.values():
        assert not (out / cell_workdir(cell)).exists()
        assert [f["path"] for f in cell["file_refs"]] == [f"{cell['workdir']}/model.h5"]  # evidence taken first
        assert (out / cell["save"]["artifact"] / "model.h5").read_text() == "42"
