"""Faults inside a cell stay in that cell, and its verdict stays true: what the worker and its
client do with hostile scenarios, through real runs on the fake-wheel env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import FAKE, ROOT, Harness, write_scenario

PAIRING = f"{FAKE}==1.0"


def run_cells(harness: Harness, folder: Path, out: Path, *extra: str) -> dict[str, dict]:
    """Run every scenario of ``folder`` on the fake pairing; the cells by scenario id."""
    harness.run("matrix", "--scenarios", str(folder), "--pairing", PAIRING, "--out", str(out), *extra, check_code=0)
    return {c["scenario"]: c for c in json.loads((out / "results.json").read_text())["cells"]}


def run_here(harness: Harness, cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=harness.env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


PASSES = '"""Passes"""\ndef run(workdir):\n    return {"expected": [1.0, 2.0], "actual": [1.0, 2.0]}\n'
FLIPS = '''
    """Passes on 1.x, raises on 3.x"""
    import harness_fake
    SIGNATURE = "ValueError: flipped"
    def run(workdir):
        if harness_fake.__version__.startswith("3"):
            raise ValueError("flipped")
        return {"expected": 1.0, "actual": 1.0}
'''


def test_every_command_takes_relative_paths(harness: Harness, tmp_path: Path) -> None:
    """Item 0: the worker works in other folders, so every path the host hands it is absolute."""
    write_scenario(tmp_path / "scen", "passes", PASSES)
    write_scenario(tmp_path / "scen", "flips", FLIPS)
    run_here(harness, tmp_path, "matrix", "--scenarios", "scen", "--pairing", PAIRING, "--out", "rel-out")
    cells = json.loads((tmp_path / "rel-out" / "results.json").read_text())["cells"]
    assert {c["verdict"] for c in cells} == {"passed"}, [c["reason"] for c in cells]
    for cell_file in list((tmp_path / "rel-out" / "cells").glob("*.json"))[:1]:
        cell_file.unlink()
    run_here(harness, tmp_path, "matrix", "--resume", "rel-out")
    assert {c["verdict"] for c in json.loads((tmp_path / "rel-out" / "results.json").read_text())["cells"]} == {"passed"}
    run_here(harness, tmp_path, "report", "rel-out")
    run_here(harness, tmp_path, "report", "merge", "rel-out", "--out", "rel-merged")
    assert (tmp_path / "rel-merged" / "index.html").is_file()
    proc = run_here(harness, tmp_path, "bisect", "--scenario", "flips", "--package", FAKE, "--old", "1.0", "--new", "3.0",
                    "--scenarios", "scen", "--out", "rel-bisect")
    assert "first new: harness-fake==3.0" in proc.stdout, proc.stdout
    proc = run_here(harness, tmp_path, "readiness", "--baseline", PAIRING, "--candidate", f"{FAKE}==3.0",
                    "--scenarios", "scen", "--out", "rel-ready", code=1)
    assert "regressed" in proc.stdout and "flips" in proc.stdout, proc.stdout


def test_the_harness_s_own_comparison_errors_are_never_the_scenario_s(harness: Harness, tmp_path: Path) -> None:
    """Item 2: values the harness cannot compare are an error that says so, even when the
    SIGNATURE names the harness's own exception."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "too_deep", '''
        """Returns values nested deeper than the comparison goes"""
        SIGNATURE = "RecursionError"
        def run(workdir):
            deep = 1.0
            for _ in range(20000):
                deep = [deep]
            return {"expected": deep, "actual": deep}
    ''')
    write_scenario(folder, "too_large", '''
        """Returns an int no float holds"""
        SIGNATURE = "OverflowError"
        def run(workdir):
            return {"expected": 10 ** 400, "actual": 10 ** 400}
    ''')
    cells = run_cells(harness, folder, tmp_path / "run")
    for name in ("too_deep", "too_large"):
        assert cells[name]["verdict"] == "error", cells[name]
        assert "could not be compared" in cells[name]["reason"], cells[name]["reason"]


def test_flattened_paths_keep_the_structure(harness: Harness, tmp_path: Path) -> None:
    """Item 3: a key holding '/' and a nested mapping never share a path; a list is not a mapping."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "slash_keys", '''
        """Keras variable paths hold slashes"""
        def run(workdir):
            return {"expected": {"a/b": 999.0, "a": {"b": 1.0}}, "actual": {"a/b": 1.0, "a": {"b": 1.0}}}
    ''')
    write_scenario(folder, "list_or_mapping", '''
        """A list against a mapping with the same keys"""
        def run(workdir):
            return {"expected": [5.0], "actual": {"0": 5.0}}
    ''')
    write_scenario(folder, "cross_slash", '''
        """Saved and loaded values with slashes in their keys"""
        def save(workdir):
            return {"dense/kernel": 1.0, "dense": {"kernel": 2.0}}
        def load(workdir):
            return {"dense/kernel": 2.0, "dense": {"kernel": 1.0}}
    ''')
    cells = run_cells(harness, folder, tmp_path / "run")
    assert cells["slash_keys"]["verdict"] == "wrong_values" and cells["slash_keys"]["compared_count"] == 2, cells["slash_keys"]
    assert cells["list_or_mapping"]["verdict"] == "error" and "structure" in cells["list_or_mapping"]["reason"]
    assert cells["cross_slash"]["verdict"] == "wrong_values", cells["cross_slash"]


def test_the_signature_is_matched_against_the_whole_message_and_the_frames_are_kept(harness: Harness, tmp_path: Path) -> None:
    """Item 4: the cause of a long Keras message sits at its very end."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "long_message", '''
        """An application-sized deserialization error"""
        SIGNATURE = r"unexpected keyword argument 'input_axes'$"
        def build_the_config():
            raise TypeError("could not be deserialized properly. Config: " + "{'layer': 'x'} " * 20000
                            + "Exception encountered: GlorotUniform.__init__() got an unexpected keyword argument 'input_axes'")
        def run(workdir):
            build_the_config()
    ''')
    cell = run_cells(harness, folder, tmp_path / "run")["long_message"]
    assert cell["verdict"] == "reproduced", cell["reason"]
    assert cell["message"].startswith("could not be deserialized properly") and cell["message"].endswith("'input_axes'")
    assert "characters cut" in cell["message"] and len(cell["message"]) < 30000
    assert "in build_the_config" in cell["traceback"] and "in run" in cell["traceback"]


def test_a_catastrophic_signature_is_bounded_by_the_cell_s_limit(harness: Harness, tmp_path: Path) -> None:
    """Item 6: matching runs in the cell's own process, under its limit, and says when it ran out."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "backtracks", '''
        """A signature that backtracks for minutes"""
        SIGNATURE = r"(a+)+$"
        def run(workdir):
            raise ValueError("a" * 34 + "b")
    ''')
    write_scenario(folder, "passes", PASSES)
    started = time.monotonic()
    cells = run_cells(harness, folder, tmp_path / "run", "--timeout", "4")
    assert time.monotonic() - started < 120
    # the scenario raised at once: the harness's matching ran out of time, which says nothing of a hang
    assert cells["backtracks"]["verdict"] == "error", cells["backtracks"]
    assert "the SIGNATURE could not be matched within the limit (4 s)" in cells["backtracks"]["reason"], cells["backtracks"]["reason"]
    assert cells["backtracks"]["reason"].startswith("run raised ValueError: aaaa")
    assert cells["passes"]["verdict"] == "passed"


STRAY_REPLY = '''
    """Writes a forged reply on the worker's reply channel"""
    import os
    def run(workdir):
        words = open("/proc/%d/cmdline" % os.getppid(), "rb").read().split(b"\\0")
        fd = int(words[words.index(b"--reply-fd") + 1])
        with open("/proc/%d/fd/%d" % (os.getppid(), fd), "w") as channel:
            channel.write('{"status": "done", "duration_s": 0.1}\\n')
        return {"expected": 1.0, "actual": 1.0}
'''


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_stray_reply_costs_only_its_own_cell(harness: Harness, tmp_path: Path, jobs: str) -> None:
    """Item 8: replies carry the request's nonce; a reply without it means the worker is lost."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "a_stray", STRAY_REPLY)
    for index in range(4):
        write_scenario(folder, f"control_{index}", PASSES)
    cells = run_cells(harness, folder, tmp_path / "run", "--jobs", jobs)
    assert cells["a_stray"]["verdict"] == "crashed" and "did not answer this request" in cells["a_stray"]["reason"]
    assert not cells["a_stray"]["compared"]  # what the lost phase may have written is not its evidence
    assert [cells[f"control_{i}"]["verdict"] for i in range(4)] == ["passed"] * 4, [c["reason"] for c in cells.values()]


def test_output_is_capped_keeping_its_head_and_tail(harness: Harness, tmp_path: Path) -> None:
    """Item 9: a cell that writes without end cannot fill the disk."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "chatty", '''
        """Writes 40 MB of output"""
        import sys
        def run(workdir):
            sys.stdout.write("FIRST LINE\\n")
            block = "x" * 1023 + "\\n"
            for _ in range(40 * 1024):
                sys.stdout.write(block)
            sys.stdout.write("LAST LINE\\n")
            return {"expected": 1.0, "actual": 1.0}
    ''')
    out = tmp_path / "run"
    cell = run_cells(harness, folder, out, "--max-output", "1")["chatty"]
    assert cell["verdict"] == "passed"
    [log] = list((out / "phases").glob("*/run/output.log"))
    text = log.read_text()
    assert log.stat().st_size < 1.1 * 2**20
    assert text.startswith("FIRST LINE") and text.rstrip().endswith("LAST LINE") and "bytes of output cut" in text
    assert "LAST LINE" in cell["output_tail"]


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_output_before_a_crash_is_kept(harness: Harness, tmp_path: Path, isolation: str, jobs: str) -> None:
    """Item 10: unbuffered output, and faulthandler's stack for a segfault."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "segfaults", '''
        """Prints, then crashes the interpreter"""
        import ctypes
        def run(workdir):
            print("printed before the segfault")
            ctypes.string_at(0)
    ''')
    write_scenario(folder, "exits_hard", '''
        """Prints, then leaves without flushing"""
        import os
        def run(workdir):
            print("printed before os._exit")
            os._exit(3)
    ''')
    write_scenario(folder, "hangs", '''
        """Prints, then hangs past the limit"""
        import time
        def run(workdir):
            print("printed before the hang")
            time.sleep(60)
    ''')
    cells = run_cells(harness, folder, tmp_path / "run", "--timeout", "3", "--isolation", isolation, "--jobs", jobs)
    assert cells["segfaults"]["verdict"] == "crashed"
    assert "printed before the segfault" in cells["segfaults"]["output_tail"]
    assert "Segmentation fault" in cells["segfaults"]["output_tail"] and "in run" in cells["segfaults"]["output_tail"]
    assert "printed before os._exit" in cells["exits_hard"]["output_tail"]
    assert cells["hangs"]["verdict"] == "timeout" and "printed before the hang" in cells["hangs"]["output_tail"]


@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_a_scenario_id_cannot_shadow_a_module(harness: Harness, tmp_path: Path, isolation: str) -> None:
    """Item 13: the folder can shadow nothing, and an id that names a module is that cell's error."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "tempfile", '"""Named like a module of the standard library"""\ndef run(workdir):\n    return None\n')
    write_scenario(folder, "uses_tempfile", '''
        """Uses the real tempfile"""
        import tempfile
        def run(workdir):
            return {"expected": 1.0, "actual": float(bool(tempfile.mkdtemp()))}
    ''')
    write_scenario(folder, "harness_fake", '"""Named like the env\'s own package"""\ndef run(workdir):\n    return None\n')
    cells = run_cells(harness, folder, tmp_path / "run", "--isolation", isolation)
    assert cells["uses_tempfile"]["verdict"] == "passed", cells["uses_tempfile"]["reason"]
    for name in ("tempfile", "harness_fake"):
        assert cells[name]["verdict"] == "error" and "also the name of a module" in cells[name]["reason"], cells[name]


LEAVES_THINGS_BEHIND = '''
    """Returns, leaving a thread, an atexit handler and processes behind"""
    import atexit
    import os
    import subprocess
    import threading
    import time
    def run(workdir):
        threading.Thread(target=time.sleep, args=(120,)).start()  # not a daemon
        atexit.register(os._exit, 7)
        first = subprocess.Popen(["sleep", "300"], start_new_session=True)
        if os.fork() == 0:  # a daemon, double forked
            if os.fork() == 0:
                os.setsid()
                with open(os.path.join({folder!r}, "daemon.pid"), "w") as handle:
                    handle.write(str(os.getpid()))
                time.sleep(300)
            os._exit(0)
        time.sleep(0.5)
        with open(os.path.join({folder!r}, "session.pid"), "w") as handle:
            handle.write(str(first.pid))
        return {{"expected": 1.0, "actual": 1.0}}
'''


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("isolation", ["fork", "spawn"])
def test_spawn_and_fork_agree_and_leave_nothing_behind(harness: Harness, tmp_path: Path, isolation: str, jobs: int) -> None:
    """Item 14: the same verdict in both modes, and no process left running after the run (with
    ``--jobs 2``, of two such cells in flight side by side)."""
    folder = tmp_path / "scenarios"
    for index in range(jobs):
        pids = tmp_path / f"pids-{index}"
        pids.mkdir()
        write_scenario(folder, f"leaves_things_{index}", LEAVES_THINGS_BEHIND.format(folder=str(pids)))
    started = time.monotonic()
    cells = run_cells(harness, folder, tmp_path / "run", "--isolation", isolation, "--timeout", "30", "--jobs", str(jobs))
    assert {c["verdict"] for c in cells.values()} == {"passed"}, [c["reason"] for c in cells.values()]
    assert time.monotonic() - started < 60
    time.sleep(0.5)
    for index in range(jobs):
        for name in ("session.pid", "daemon.pid"):
            pid = int((tmp_path / f"pids-{index}" / name).read_text())
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], name


def test_sys_exit_keeps_its_message(harness: Harness, tmp_path: Path) -> None:
    """Item 19: a scenario ending itself with a message is a crash that says what it said."""
    folder = tmp_path / "scenarios"
    write_scenario(folder, "exits", '"""Exits with a message"""\nimport sys\ndef run(workdir):\n    sys.exit("the model file is gone")\n')
    cell = run_cells(harness, folder, tmp_path / "run")["exits"]
    assert cell["verdict"] == "crashed" and cell["exit_status"] == 1
    assert "the model file is gone" in cell["reason"] and "the model file is gone" in cell["output_tail"]


def test_the_worker_script_has_no_harness_imports() -> None:
    source = (ROOT / "harness" / "run" / "worker.py").read_text()
    assert "from harness" not in source and "import harness" not in source
    assert os.access(ROOT / "harness" / "run" / "worker.py", os.R_OK)
