"""Hostile evidence: text that is not UTF-8, deep trees, junk in the run folder, hostile saved files,
results files that lie, and races for the output folder. Each fault stays in its own cell, or is
refused in one line, and nothing already computed is lost."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any, Callable

import h5py
import pytest

from harness.errors import BadInput
from harness.evidence.codec import read_results, to_dict
from harness.evidence.run_folder import RunStore
from support import FAKE, GRU_FILE, ROOT, Harness, keras3_weights, local_index_env, write_scenario

PAIRING = ["--pairing", f"{FAKE}==1.0"]
FINE = '"""Fine"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n'
CROSS = '''
    """Cross"""
    def save(workdir):
        return {"v": 1.0}
    def load(workdir):
        return {"v": 1.0}
'''


def _one_line_exit_2(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _matrix(harness: Harness, folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return harness.run("matrix", "--scenarios", str(folder), *PAIRING, "--out", str(out), *extra, check_code=0)


def _cells(out: Path) -> dict[tuple[str, str | None], dict[str, Any]]:
    """The cells as results.json gives them back (each cell's file anatomies whole again)."""
    data = to_dict(read_results(out / "results.json"))
    return {(c["scenario"], c["saved_with"]): c for c in data["cells"]}


def _reports_written(out: Path) -> None:
    for name in ("index.html", "summary.md", "junit.xml"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*.tmp"))
    ET.parse(out / "junit.xml")


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, shared_envs: Path) -> tuple[Harness, Path, Path]:
    """A finished run of a single-env and a cross-version scenario."""
    tmp = tmp_path_factory.mktemp("hostile-base")
    folder = tmp / "scenarios"
    write_scenario(folder, "fine", FINE)
    write_scenario(folder, "cross", CROSS)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp)
    _matrix(harness, folder, tmp / "run")
    return harness, folder, tmp / "run"


# --------------------------------------------------------------------------- text that is not UTF-8

NOT_UTF8 = '''
    """Text that is not valid UTF-8 wherever a scenario can put it"""
    import os
    import warnings
    def run(workdir):
        with open(os.path.join(workdir, "bad\\udc80name.weights.h5"), "wb") as handle:
            handle.write(b"junk")
        os.write(1, b"raw output \\xff\\xfe\\n")
        warnings.warn("a warning with \\udc81 in it")
        raise ValueError("a message with \\udc80 in it, about " + os.listdir(workdir)[0])
'''


def test_text_that_is_not_utf8_is_kept_escaped_and_every_report_writes(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fine", FINE)
    write_scenario(folder, "not_utf8", NOT_UTF8)
    out = tmp_path / "run"
    _matrix(harness, folder, out)
    _reports_written(out)
    cells = _cells(out)
    assert cells[("fine", None)]["verdict"] == "passed"
    bad = cells[("not_utf8", None)]
    assert bad["verdict"] == "error"
    assert "a message with \\udc80 in it, about bad\\udc80name.weights.h5" in bad["message"]
    assert any("\\udc81" in w for w in bad["warnings"])
    [record] = bad["files"]
    assert "bad\\udc80name.weights.h5" in record["path"] and record["format"] == "unreadable"
    assert "a message with \\udc80 in it" in (out / "index.html").read_text(encoding="utf-8")
    assert "\\udc80" in (out / "junit.xml").read_text(encoding="utf-8")

    # a results file written elsewhere, holding a lone surrogate, renders the same way
    data = json.loads((out / "results.json").read_text())
    data["cells"][0]["reason"] = "a reason with \udc80 in it"
    data["scenarios"][0]["title"] = "a title with \ud800 in it"
    hostile = tmp_path / "results.json"
    hostile.write_text(json.dumps(data))
    rendered = tmp_path / "rendered"
    harness.run("report", str(hostile), "--out", str(rendered), check_code=0)
    _reports_written(rendered)
    page = (rendered / "index.html").read_text(encoding="utf-8")
    assert "a reason with \\udc80 in it" in page and "a title with \\ud800 in it" in page


# --------------------------------------------------------------------------- deep trees

DEEP_RUN = '''
    """Leaves a folder tree 2000 levels deep in its work folder"""
    import os
    def run(workdir):
        os.chdir(workdir)
        for _ in range(2000):
            os.mkdir("d")
            os.chdir("d")
        with open("m.weights.h5", "wb") as handle:
            handle.write(b"x")
        return {"expected": 1.0, "actual": 1.0}
'''
DEEP_SAVE = '''
    """Saves a folder tree 2000 levels deep"""
    import os
    def save(workdir):
        os.chdir(workdir)
        for _ in range(2000):
            os.mkdir("d")
            os.chdir("d")
        return {"v": 1.0}
    def load(workdir):
        return {"v": 1.0}
'''


def test_a_deep_tree_is_a_note_on_its_cell_and_the_run_resumes(harness: Harness, tmp_path: Path,
                                                              request: pytest.FixtureRequest) -> None:
    # pytest's own clean-up of old temporary folders recurses; rm walks any depth
    request.addfinalizer(lambda: subprocess.run(["rm", "-rf", str(tmp_path)], check=False))
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fine", FINE)
    write_scenario(folder, "deep_run", DEEP_RUN)
    write_scenario(folder, "deep_save", DEEP_SAVE)
    out = tmp_path / "run"
    _matrix(harness, folder, out)
    _reports_written(out)
    cells = _cells(out)
    assert cells[("fine", None)]["verdict"] == "passed"
    deep = cells[("deep_run", None)]
    # the scenario returned as it should: the limit of the harness's own walk is a note, not the verdict
    assert deep["verdict"] == "passed", deep["reason"]
    assert "note: the harness did not read the work folder's files" in deep["reason"] and "deeper than" in deep["reason"]
    [(_, saver)] = [k for k in cells if k[0] == "deep_save"]
    load = cells[("deep_save", saver)]
    assert load["verdict"] == "error" and "deeper than" in load["reason"], load["reason"]
    # a resume runs the missing cells again in the deep work folders left behind
    for path in (out / "cells").glob("*.json"):
        if path.name.startswith("deep_"):
            path.unlink()
    harness.run("matrix", "--resume", str(out), check_code=0)
    again = _cells(out)
    assert {k: c["verdict"] for k, c in again.items()} == {k: c["verdict"] for k, c in cells.items()}
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


# --------------------------------------------------------------------------- junk in cells/

JUNK_WRITER = '''
    """Writes junk into its run's cells folder"""
    import json
    import os
    def run(workdir):
        cells = os.path.join(os.path.dirname(os.path.dirname(workdir)), "cells")
        with open(os.path.join(cells, "junk.json"), "w") as handle:
            handle.write("not json at all")
        with open(os.path.join(cells, "object.json"), "w") as handle:
            json.dump({"schema": 1}, handle)
        with open(os.path.join(cells, "infinite.json"), "w") as handle:
            handle.write('{"schema": 1, "scenario": "fine", "pairing": "p", "verdict": "passed", "max_abs_diff": 1e999}')
        os.mkdir(os.path.join(cells, "folder.json"))
        os.symlink("/etc/hostname", os.path.join(cells, "link.json"))
        [own] = [n for n in os.listdir(cells) if n.startswith("fine-")]
        with open(os.path.join(cells, own)) as handle:
            data = json.load(handle)
        data["verdict"] = "wrong_values"
        with open(os.path.join(cells, "fine-copy.json"), "w") as handle:
            json.dump(data, handle)
        return None
'''
JUNK = ("junk.json", "object.json", "infinite.json", "folder.json", "link.json", "fine-copy.json")


def test_junk_in_the_cells_folder_is_set_aside_and_named(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fine", FINE)
    write_scenario(folder, "junk_writer", JUNK_WRITER)
    out = tmp_path / "run"
    proc = _matrix(harness, folder, out)
    _reports_written(out)
    cells = _cells(out)
    assert {k: c["verdict"] for k, c in cells.items()} == {("fine", None): "passed", ("junk_writer", None): "passed"}
    for name in JUNK:
        assert name in proc.stderr, (name, proc.stderr)
        assert not os.path.lexists(out / "cells" / name)
        assert os.path.lexists(out / "cells" / "rejected" / name)
    assert "Traceback" not in proc.stderr
    # the run folder reads clean now, and a resume has nothing to do
    proc = harness.run("report", str(out), check_code=0)
    assert "set aside" not in proc.stderr
    harness.run("matrix", "--resume", str(out), check_code=0)
    assert {k: c["verdict"] for k, c in _cells(out).items()} == {k: c["verdict"] for k, c in cells.items()}


def test_a_reader_skips_bad_cell_files_without_touching_the_folder(base_run: tuple, tmp_path: Path) -> None:
    harness, _, source = base_run
    run = tmp_path / "run"
    shutil.copytree(source, run, symlinks=True)
    (run / "cells" / "junk.json").write_text("{")
    [fine] = [p for p in (run / "cells").glob("fine-*.json")]
    copy = json.loads(fine.read_text())
    copy["pairing"] = "nowhere-1.0"
    (run / "cells" / "stray.json").write_text(json.dumps(copy))
    rendered = tmp_path / "rendered"
    proc = harness.run("report", str(run), "--out", str(rendered), check_code=0)
    assert "junk.json" in proc.stderr and "stray.json" in proc.stderr
    assert (rendered / "index.html").is_file()
    merged = tmp_path / "merged"
    harness.run("report", "merge", str(run), "--out", str(merged), check_code=0)
    assert len(json.loads((merged / "results.json").read_text())["cells"]) == 2
    assert (run / "cells" / "junk.json").exists() and not (run / "cells" / "rejected").exists()


# --------------------------------------------------------------------------- scenario files

def test_a_fifo_or_an_oversized_file_is_not_read_as_a_scenario(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fine", FINE)
    os.mkfifo(folder / "pipe.py")
    _one_line_exit_2(harness.run("list", "--scenarios", str(folder), timeout=60), "is not a regular file")
    out = tmp_path / "run"
    _one_line_exit_2(harness.run("matrix", "--scenarios", str(folder), *PAIRING, "--out", str(out), timeout=60),
                     "is not a regular file")
    assert not out.exists()
    (folder / "pipe.py").unlink()
    (folder / "big.py").write_text('"""Big"""\n' + "#" * (2 * 2**20) + "\ndef run(workdir):\n    return None\n")
    _one_line_exit_2(harness.run("list", "--scenarios", str(folder), timeout=60), "larger than")


# --------------------------------------------------------------------------- results files that lie

def _first_run_cell(data: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in data["cells"] if c["saved_with"] is None)


def _first_cross_cell(data: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in data["cells"] if c["saved_with"] is not None)


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "duplicate": (lambda d: d["cells"].append(dict(_first_run_cell(d), verdict="wrong_values")), "more than once"),
    "pairing": (lambda d: _first_run_cell(d).update(pairing="nowhere-1.0"), "pairing 'nowhere-1.0' the run does not have"),
    "saver": (lambda d: _first_cross_cell(d).update(saved_with="nowhere-1.0"), "pairing 'nowhere-1.0' the run does not have"),
    "scenario": (lambda d: _first_run_cell(d).update(scenario="nowhere"), "scenario 'nowhere' the run does not have"),
    "kind": (lambda d: _first_run_cell(d).update(saved_with=_first_run_cell(d)["pairing"]), "not a cross-version scenario"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_cells_a_run_cannot_have_are_refused(base_run: tuple, tmp_path: Path, edit: str) -> None:
    harness, _, run = base_run
    change, fragment = EDITS[edit]
    data = json.loads((run / "results.json").read_text())
    change(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    _one_line_exit_2(harness.run("report", str(path), "--out", str(tmp_path / "out")), fragment)
    assert not (tmp_path / "out" / "index.html").exists()


def test_a_number_that_is_not_finite_is_refused(base_run: tuple, tmp_path: Path) -> None:
    harness, _, run = base_run
    data = json.loads((run / "results.json").read_text())
    _first_run_cell(data)["max_abs_diff"] = 12345.5
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data).replace("12345.5", "1e999"))
    _one_line_exit_2(harness.run("report", str(path), "--out", str(tmp_path / "out")), "not a finite number")
    assert not (tmp_path / "out" / "index.html").exists()


def test_merge_refuses_a_part_given_twice(base_run: tuple, tmp_path: Path) -> None:
    harness, _, run = base_run
    _one_line_exit_2(harness.run("report", "merge", str(run), str(run), "--out", str(tmp_path / "m1")), "more than once")
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    _one_line_exit_2(harness.run("report", "merge", str(run), str(copy), "--out", str(tmp_path / "m2")), "the same run")
    assert not (tmp_path / "m1").exists() and not (tmp_path / "m2").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_side_text_that_is_not_a_regular_file_is_never_read(base_run: tuple, tmp_path: Path, kind: str) -> None:
    """A cell's side text (``evidence/<sha256>.txt``) that is a FIFO or a link to /dev/zero: report,
    claims and report merge read none of it (no hang, no MemoryError), and say so in its place."""
    harness, folder, run = base_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data = json.loads((copy / "results.json").read_text())
    side = f"evidence/{'ab' * 32}.txt"
    cell = _first_run_cell(data)
    cell["output_tail"], cell["side_texts"] = "", [{"field": "output_tail", "side": side}]
    (copy / "results.json").write_text(json.dumps(data))
    (copy / "evidence").mkdir()
    if kind == "fifo":
        os.mkfifo(copy / side)
    else:
        os.symlink("/dev/zero", copy / side)
    for args in (["report", str(copy / "results.json"), "--out", str(tmp_path / "report")],
                 ["claims", str(copy / "results.json"), "--scenarios", str(folder), "--out", str(tmp_path / "claims")],
                 ["report", "merge", str(copy / "results.json"), "--out", str(tmp_path / "merged")]):
        proc = harness.run(*args, timeout=120)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    page = (tmp_path / "merged" / "results.json").read_text()
    assert f"(kept in {side}, which is missing or is not a regular file)" in page


# --------------------------------------------------------------------------- the output folder

def _claim(path: Path, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        RunStore.create(path)
        results.put("claimed")
    except BadInput:
        results.put("refused")


def test_only_one_of_many_racing_runs_claims_an_output_folder(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    racers = 4
    for round_ in range(60):
        path = tmp_path / f"out-{round_}"
        if round_ % 2:
            path.mkdir()  # an existing empty folder may be claimed too, by one run only
        barrier, results = context.Barrier(racers), context.Queue()
        processes = [context.Process(target=_claim, args=(path, barrier, results)) for _ in range(racers)]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(60)
        assert outcomes.count("claimed") == 1, (round_, outcomes)


def test_an_envs_folder_that_cannot_be_written_is_refused_before_the_run_folder(base_run: tuple, tmp_path: Path) -> None:
    harness, folder, _ = base_run
    envs = tmp_path / "read-only-envs"
    envs.mkdir()
    out = tmp_path / "run"
    words = [sys.executable, "-m", "harness", "matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==3.0",
             "--out", str(out), "--envs-dir", str(envs)]
    if os.geteuid() == 0:  # root writes through permissions: make the folder a read-only mount of its own
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare to make a read-only folder as root")
        script = f"mount --bind -o ro {shlex.quote(str(envs))} {shlex.quote(str(envs))} && exec {shlex.join(words)}"
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    else:
        envs.chmod(0o555)
        command = words
    proc = subprocess.run(command, cwd=ROOT, env=harness.env, capture_output=True, text=True, timeout=300, check=False)
    assert not out.exists(), proc.stderr
    _one_line_exit_2(proc, "cannot be written")


# --------------------------------------------------------------------------- hostile saved files

BOMB_BYTES = 600 * 2**20


def _zip_offsets(data: bytes, name: bytes) -> tuple[int, int]:
    """The offsets of a member's local header and of its central directory entry."""
    local = data.find(b"PK\x03\x04")
    while data[local + 30:local + 30 + len(name)] != name:
        local = data.find(b"PK\x03\x04", local + 1)
    central = data.find(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 1)
    return local, central


def _keras_zip(path: Path, patch: Callable[[bytearray, int, int], None] | None = None, metadata: str = "{}") -> None:
    inner = io.BytesIO()
    keras3_weights(inner, GRU_FILE)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", metadata)
        archive.writestr("model.weights.h5", inner.getvalue())
    if patch is not None:
        data = bytearray(path.read_bytes())
        patch(data, *_zip_offsets(bytes(data), b"model.weights.h5"))
        path.write_bytes(bytes(data))


def _bad_crc(data: bytearray, local: int, central: int) -> None:
    data[local + 30 + len("model.weights.h5") + 600] ^= 0xFF


def _encrypted(data: bytearray, local: int, central: int) -> None:
    data[local + 6] |= 1
    data[central + 8] |= 1


def _unknown_compression(data: bytearray, local: int, central: int) -> None:
    data[local + 8] = data[central + 10] = 99


def _bomb(path: Path) -> None:
    """A .keras zip whose weights member declares 1000 bytes and inflates to 600 MiB of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}")
        with archive.open("model.weights.h5", "w") as member:
            block = bytes(2**20)
            for _ in range(BOMB_BYTES // len(block)):
                member.write(block)
    data = bytearray(path.read_bytes())
    local, central = _zip_offsets(bytes(data), b"model.weights.h5")
    data[local + 22:local + 26] = data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))


def _soft_links(path: Path, target: str) -> None:
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [b"dense"]
        handle["dense"] = h5py.SoftLink(target)


def _weight_name_loop(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [b"dense"]
        group = handle.create_group("dense")
        group.attrs["weight_names"] = [b"kernel"]
        group["kernel"] = h5py.SoftLink("/dense/kernel")


HOSTILE_FILES: dict[str, Callable[[Path], None]] = {
    "dangling.h5": lambda p: _soft_links(p, "/nowhere"),
    "cyclic.h5": lambda p: _soft_links(p, "/dense"),
    "weight_loop.h5": _weight_name_loop,
    "nested_metadata.keras": lambda p: _keras_zip(p, metadata="[" * 200_000),
    "bad_crc.keras": lambda p: _keras_zip(p, _bad_crc),
    "encrypted.keras": lambda p: _keras_zip(p, _encrypted),
    "compression.keras": lambda p: _keras_zip(p, _unknown_compression),
    "bomb.keras": _bomb,
}


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-files")
    for name, make in HOSTILE_FILES.items():
        make(folder / name)
    return folder


HOSTILE_SCENARIO = '''
    """Leaves hostile saved files in its work folder"""
    import shutil
    def run(workdir):
        shutil.copytree({source!r}, workdir, dirs_exist_ok=True)
'''
HOSTILE_SAVE = '''
    """Saves hostile files"""
    import shutil
    def save(workdir):
        shutil.copytree({source!r}, workdir, dirs_exist_ok=True)
        return {{"v": 1.0}}
    def load(workdir):
        return {{"v": 1.0}}
'''


def _unreadable_records(cell: dict[str, Any]) -> dict[str, str]:
    return {Path(f["path"]).name: f["error"] for f in cell["files"] if f["format"] == "unreadable" and f["error"]}


def test_hostile_saved_files_are_the_cells_evidence(harness: Harness, hostile_files: Path, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fine", FINE)
    write_scenario(folder, "hostile", HOSTILE_SCENARIO.format(source=str(hostile_files)))
    write_scenario(folder, "hostile_save", HOSTILE_SAVE.format(source=str(hostile_files)))
    out = tmp_path / "run"
    _matrix(harness, folder, out)
    _reports_written(out)
    cells = _cells(out)
    assert {k: c["verdict"] for k, c in cells.items()} == {
        ("fine", None): "passed", ("hostile", None): "passed", ("hostile_save", f"{FAKE}-1.0"): "passed"}
    for key in (("hostile", None), ("hostile_save", f"{FAKE}-1.0")):
        assert set(_unreadable_records(cells[key])) == set(HOSTILE_FILES), cells[key]["files"]
    # the same files arriving with an earlier run's saves
    later = tmp_path / "later"
    _matrix(harness, folder, later, "--load-artifacts", str(out), "--only", "hostile_save")
    imported = [c for k, c in _cells(later).items() if k[1] != f"{FAKE}-1.0"]
    assert imported and all(set(_unreadable_records(c)) == set(HOSTILE_FILES) for c in imported)


def _inspect_with_peak_memory(harness: Harness, path: Path) -> tuple[int, str, int]:
    """Run ``inspect FILE``; its exit status, its stderr, and its peak resident memory in bytes."""
    with subprocess.Popen([sys.executable, "-m", "harness", "inspect", str(path)], cwd=ROOT, env=harness.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, stderr, usage.ru_maxrss * 1024


@pytest.fixture(scope="module")
def baseline_peak(wheelhouse: Path, shared_envs: Path, tmp_path_factory: pytest.TempPathFactory) -> int:
    """The peak memory of ``inspect`` on a small, sound weights file: what the interpreter and the
    harness's imports cost on this machine, whatever their versions."""
    sound = tmp_path_factory.mktemp("sound") / "sound.weights.h5"
    keras3_weights(sound, GRU_FILE)
    harness = Harness(env=local_index_env(wheelhouse, shared_envs), tmp=sound.parent)
    code, stderr, peak = _inspect_with_peak_memory(harness, sound)
    assert code == 0, stderr
    return peak


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_inspect_gives_one_line_for_a_hostile_file(harness: Harness, hostile_files: Path, name: str, baseline_peak: int) -> None:
    code, stderr, peak = _inspect_with_peak_memory(harness, hostile_files / name)
    assert code == 2 and "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert name in stderr
    # a bomb that inflates to 600 MiB must not be read whole: at most 150 MiB over a sound file's run
    assert peak < baseline_peak + 150 * 2**20, f"{peak / 2**20:.0f} MiB against {baseline_peak / 2**20:.0f} MiB"
