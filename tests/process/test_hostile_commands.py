"""The other commands (report, merge, readiness, bisect, inspect) and the tests session's apt step,
run for real against fake wheels, under the inputs and machine states that used to break them."""

from __future__ import annotations

import datetime
import functools
import http.server
import importlib.util
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest

from support import FAKE, GRU_FILE, ROOT, Harness, build_wheel, keras3_weights, write_scenario

BISECTED = "harness-fake-bisect"


def one_line_refusal(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def with_wheels(harness: Harness, wheels: Path, envs: Path) -> Harness:
    """The harness installing from ``wheels`` only, into ``envs``."""
    return Harness(env=dict(harness.env, UV_FIND_LINKS=str(wheels), HARNESS_ENVS_DIR=str(envs)), tmp=harness.tmp)


def bisect_wheels(folder: Path, broken: dict[str, bool]) -> Path:
    for version, is_broken in broken.items():
        build_wheel(folder, BISECTED, version, {"harness_fake_bisect/__init__.py": f"BROKEN = {is_broken}\n"})
    return folder


BREAKS = '''
    """Breaks where the release says so"""
    import harness_fake_bisect
    SIGNATURE = "ValueError: broken"
    def run(workdir):
        if harness_fake_bisect.BROKEN:
            raise ValueError("broken")
'''


# --------------------------------------------------------------------------- report merge and render


def test_merge_shows_a_conflict_with_both_verdicts_and_says_so_in_its_status(harness: Harness, tmp_path: Path) -> None:
    marker = tmp_path / "flip"
    folder = tmp_path / "scenarios"
    write_scenario(folder, "flips", f'''
        """Its verdict depends on a file outside the run"""
        import os
        SIGNATURE = "ValueError: flipped"
        def run(workdir):
            if os.path.exists({str(marker)!r}):
                raise ValueError("flipped")
    ''')
    write_scenario(folder, "steady", '"""Steady"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n')
    run = ["matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0"]
    harness.run(*run, "--out", str(tmp_path / "a"), check_code=0)
    marker.write_text("")
    harness.run(*run, "--out", str(tmp_path / "b"), check_code=0)
    merged = []
    for order in (("a", "b"), ("b", "a")):
        out = tmp_path / f"merged-{''.join(order)}"
        proc = harness.run("report", "merge", *[str(tmp_path / part) for part in order], "--out", str(out))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr and "1 in conflict" in proc.stdout
        [line] = [x for x in proc.stdout.splitlines() if x.startswith("conflict: ")]
        assert line.startswith(f"conflict: flips @ {FAKE}-1.0: ")
        assert f"{tmp_path / 'a'} says passed" in line and f"{tmp_path / 'b'} says reproduced" in line
        assert proc.stdout.strip().splitlines()[-1].startswith("merge: 1 cells hold different verdicts")
        data = harness.results(out)
        [conflict] = data["run"]["options"]["merge_conflicts"]
        assert sorted(p["verdict"] for p in conflict["parts"]) == ["passed", "reproduced"]
        cells = {c["scenario"]: c for c in data["cells"]}
        assert cells["steady"]["verdict"] == "passed"
        assert "says passed" in cells["flips"]["reason"] and "says reproduced" in cells["flips"]["reason"]
        assert (out / "index.html").exists() and (out / "summary.md").exists()
        merged.append({k: v for k, v in data["cells"][0].items()})
    assert merged[0] == merged[1]  # the order of the arguments decides nothing


def test_report_out_refuses_a_folder_holding_something_else(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "steady", '"""Steady"""\ndef run(workdir):\n    return None\n')
    for name in ("mine", "other"):
        harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(tmp_path / name),
                    check_code=0)
    other = tmp_path / "other"
    before = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    proc = harness.run("report", str(tmp_path / "mine" / "results.json"), "--out", str(other))
    one_line_refusal(proc, "is not empty")
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == before
    # its own folder, and a new one, are fine
    harness.run("report", str(tmp_path / "mine" / "results.json"), "--out", str(tmp_path / "mine"), check_code=0)
    harness.run("report", str(tmp_path / "mine"), "--out", str(tmp_path / "fresh"), check_code=0)
    assert (tmp_path / "fresh" / "index.html").exists()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_report_writes_what_a_narrow_console_can_hold(harness: Harness, tmp_path: Path, encoding: str) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "wide_text", '''
        """Ünïcödé ✓ 中文 in a title"""
        def run(workdir):
            print("output with → and 中文")
            return {"expected": 1.0, "actual": 1.0}
    ''')
    out = tmp_path / "run"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(out), check_code=0)
    narrow = Harness(env=dict(harness.env, PYTHONIOENCODING=encoding), tmp=tmp_path)
    proc = narrow.run("report", str(out))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "\\u" in proc.stdout and "report: " in proc.stdout  # the symbols escaped, the rest written
    assert "中文" in (out / "index.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- readiness


@pytest.fixture
def readiness_scenarios(tmp_path: Path) -> Path:
    folder = tmp_path / "readiness-scenarios"
    for name, failure in (("hangs_in_candidate", "time.sleep(120)"), ("crashes_in_candidate", "os._exit(3)")):
        write_scenario(folder, name, f'''
            """Reproduces on 1.x; the candidate cannot run it"""
            import os
            import time
            import harness_fake
            SIGNATURE = "ValueError: expected 3 variables"
            def run(workdir):
                if harness_fake.__version__.startswith("3"):
                    {failure}
                raise ValueError("expected 3 variables, but received 0")
        ''')
    return folder


def test_a_candidate_that_hangs_or_crashes_where_the_baseline_ran_is_not_ready(
        harness: Harness, readiness_scenarios: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = harness.run("readiness", "--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==3.0", "--scenarios",
                       str(readiness_scenarios), "--timeout", "3", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "readiness: NOT READY — 2 regressed"
    data = json.loads((out / "readiness.json").read_text())
    assert {c["scenario"]: c["candidate"]["verdict"] for c in data["comparisons"]} == {
        "crashes_in_candidate": "crashed", "hangs_in_candidate": "timeout"}


def test_a_candidate_that_cannot_be_installed_is_not_ready(harness: Harness, readiness_scenarios: Path, tmp_path: Path) -> None:
    proc = harness.run("readiness", "--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==9.9", "--scenarios",
                       str(readiness_scenarios), "--out", str(tmp_path / "r"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "readiness: NOT READY — 2 regressed"


def test_an_uninstallable_baseline_stops_before_any_cell_with_the_whole_message(
        harness: Harness, readiness_scenarios: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = harness.run("readiness", "--baseline", f"{FAKE}==9.9", "--candidate", f"{FAKE}==3.0", "--scenarios",
                       str(readiness_scenarios), "--out", str(out))
    one_line_refusal(proc, f"The baseline '{FAKE}==9.9' could not be installed")
    assert "No solution found when resolving dependencies" in proc.stderr and "unsatisfiable" in proc.stderr
    assert not (out / "run").exists()  # not one candidate cell ran


def test_baseline_results_must_be_the_baseline_asked_for(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "steady", '"""Steady"""\ndef run(workdir):\n    return {"expected": 1.0, "actual": 1.0}\n')
    stored = tmp_path / "stored"
    harness.run("matrix", "--scenarios", str(folder), "--pairing", f"{FAKE}==1.0", "--out", str(stored), check_code=0)
    common = ["readiness", "--scenarios", str(folder), "--baseline-results", str(stored / "results.json")]
    proc = harness.run(*common, "--baseline", f"{FAKE}==3.0", "--candidate", f"{FAKE}==2.0.dev1", "--out", str(tmp_path / "a"))
    one_line_refusal(proc, f"holds no pairing that is --baseline '{FAKE}==3.0' (it has {FAKE}-1.0)")
    proc = harness.run(*common, "--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==1.0", "--out", str(tmp_path / "b"))
    one_line_refusal(proc, f"is the baseline ({FAKE}-1.0)")
    proc = harness.run("readiness", "--scenarios", str(folder), "--baseline", f"{FAKE}==3.0", "--candidate", f"{FAKE}==3.0",
                       "--out", str(tmp_path / "c"))
    one_line_refusal(proc, f"is the baseline ({FAKE}-3.0)")
    for name in "abc":
        assert not (tmp_path / name).exists()
    # the stored run is still used when it is the baseline asked for
    harness.run(*common, "--baseline", f"{FAKE}==1.0", "--candidate", f"{FAKE}==3.0", "--out", str(tmp_path / "d"),
                check_code=0)


# --------------------------------------------------------------------------- bisect


def test_bisect_does_not_reuse_a_timeout_from_another_limit(harness: Harness, tmp_path: Path) -> None:
    wheels = bisect_wheels(tmp_path / "wheels", {"5.0": False, "5.1": True})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "slow_breaks", '''
        """Slow, and breaks in 5.1"""
        import time
        import harness_fake_bisect
        SIGNATURE = "ValueError: broken"
        def run(workdir):
            time.sleep(2)
            if harness_fake_bisect.BROKEN:
                raise ValueError("broken")
    ''')
    local = with_wheels(harness, wheels, tmp_path / "envs")
    known = tmp_path / "known"
    local.run("matrix", "--scenarios", str(folder), "--pairing", f"{BISECTED}==5.0", "--timeout", "1", "--out", str(known),
              check_code=0)
    assert local.results(known)["cells"][0]["verdict"] == "timeout"
    proc = local.run("bisect", "--scenario", "slow_breaks", "--package", BISECTED, "--old", "5.0", "--new", "5.1",
                     "--scenarios", str(folder), "--find-links", str(wheels), "--timeout", "60", "--known", str(known),
                     "--out", str(tmp_path / "b"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "known from" not in proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith(f"first new: {BISECTED}==5.1 (last old: {BISECTED}==5.0;")
    # under the same limit, the known cell is reused
    again = local.run("bisect", "--scenario", "slow_breaks", "--package", BISECTED, "--old", "5.0", "--new", "5.1",
                      "--scenarios", str(folder), "--find-links", str(wheels), "--timeout", "1", "--known", str(known),
                      "--out", str(tmp_path / "c"))
    assert f"known from {known}" in again.stdout and again.stdout.strip().splitlines()[-1].startswith("no answer")


def test_confirm_calls_a_flaky_answer_unstable(harness: Harness, tmp_path: Path) -> None:
    wheels = bisect_wheels(tmp_path / "wheels", {f"6.{i}": False for i in range(4)})
    counter = tmp_path / "calls"
    folder = tmp_path / "scenarios"
    # answers, one per run: 6.0 passes, 6.3 fails, 6.1 passes, 6.2 fails; asked again, 6.1 fails and 6.2 fails
    write_scenario(folder, "flaky", f'''
        """Passes or fails from one run to the next"""
        import os
        SIGNATURE = "ValueError: flaky"
        COUNTER = {str(counter)!r}
        ANSWERS = "pfpfff"
        def run(workdir):
            calls = int(open(COUNTER).read()) if os.path.exists(COUNTER) else 0
            with open(COUNTER, "w") as handle:
                handle.write(str(calls + 1))
            if ANSWERS[calls % len(ANSWERS)] == "f":
                raise ValueError("flaky")
    ''')
    out = tmp_path / "b"
    proc = with_wheels(harness, wheels, tmp_path / "envs").run(
        "bisect", "--scenario", "flaky", "--package", BISECTED, "--old", "6.0", "--new", "6.3", "--scenarios", str(folder),
        "--find-links", str(wheels), "--confirm", "2", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"unstable: the answer did not hold up when probed again ({BISECTED}==6.1: passed, reproduced)")
    assert last.endswith("6 probes of 4 candidates")
    report = json.loads((out / "bisect.json").read_text())
    assert report["answer"]["status"] == "unstable" and report["confirm"] == 2
    assert sorted(p.name for p in (out / "probes").iterdir()) == [
        f"{BISECTED}-6.0", f"{BISECTED}-6.1", f"{BISECTED}-6.1-2", f"{BISECTED}-6.2", f"{BISECTED}-6.2-2", f"{BISECTED}-6.3"]


def test_equal_ends_name_a_change_hidden_inside(harness: Harness, tmp_path: Path) -> None:
    wheels = bisect_wheels(tmp_path / "wheels", {"7.0": False, "7.1": True, "7.2": False})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "breaks", BREAKS)
    proc = with_wheels(harness, wheels, tmp_path / "envs").run(
        "bisect", "--scenario", "breaks", "--package", BISECTED, "--old", "7.0", "--new", "7.2", "--scenarios", str(folder),
        "--find-links", str(wheels), "--out", str(tmp_path / "b"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == (
        f"no transition: {BISECTED}==7.0 and {BISECTED}==7.2 both give passed, but {BISECTED}==7.1 gives reproduced: "
        "a change may be hidden inside the range; 3 probes of 3 candidates")


@pytest.fixture
def html_index(tmp_path: Path) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1: file links only, no upload times."""
    root = tmp_path / "index"
    wheels = bisect_wheels(root / "files", {"8.0": False, "8.1": True})
    page = root / "simple" / BISECTED
    page.mkdir(parents=True)
    page.joinpath("index.html").write_text("".join(f'<a href="../../files/{w.name}">{w.name}</a>\n' for w in wheels.iterdir()))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("where", ["index", "folder"])
def test_by_date_refuses_an_index_without_upload_times(harness: Harness, html_index: str, tmp_path: Path, where: str) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "breaks", BREAKS)
    source = ["--index-url", html_index] if where == "index" else ["--find-links", str(tmp_path / "index" / "files")]
    env = {k: v for k, v in harness.env.items() if k not in ("UV_NO_INDEX", "UV_FIND_LINKS")}
    proc = Harness(env=dict(env, HARNESS_ENVS_DIR=str(tmp_path / "envs")), tmp=tmp_path).run(
        "bisect", "--by-date", "--scenario", "breaks", "--package", BISECTED, "--old", "2024-01-01", "--new", "2024-01-05",
        "--scenarios", str(folder), *source, "--out", str(tmp_path / "b"))
    one_line_refusal(proc, "--by-date needs an index that records upload times")
    assert not (tmp_path / "b").exists()


def test_by_date_refuses_a_future_day(harness: Harness, tmp_path: Path) -> None:
    wheels = bisect_wheels(tmp_path / "wheels", {"9.0": False})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "breaks", BREAKS)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    proc = with_wheels(harness, wheels, tmp_path / "envs").run(
        "bisect", "--by-date", "--scenario", "breaks", "--package", BISECTED, "--old", (today - datetime.timedelta(days=1)).isoformat(),
        "--new", (today + datetime.timedelta(days=3)).isoformat(), "--scenarios", str(folder), "--find-links", str(wheels),
        "--out", str(tmp_path / "b"))
    one_line_refusal(proc, "is in the future")


def test_bisect_package_is_a_bare_name(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "breaks", BREAKS)
    proc = harness.run("bisect", "--scenario", "breaks", "--package", "rtfake>=1", "--old", "1.0", "--new", "1.1",
                       "--scenarios", str(folder))
    one_line_refusal(proc, "--package 'rtfake>=1' is not a bare project name")


# --------------------------------------------------------------------------- inspect


def test_inspect_against_has_its_own_time_limit_and_says_it_in_words(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "file.weights.h5"
    keras3_weights(path, GRU_FILE)
    module = tmp_path / "build.py"
    module.write_text("import time\n\ndef build():\n    time.sleep(120)\n")
    started = time.monotonic()
    proc = harness.run("inspect", str(path), "--against", f"{module}:build", "--pairing", f"{FAKE}==1.0", "--timeout", "2")
    assert time.monotonic() - started < 60
    one_line_refusal(proc, f"Building {module}:build in {FAKE}==1.0 failed: it did not finish within 2 s")
    assert "timed_out" not in proc.stderr


# --------------------------------------------------------------------------- the tests session's apt step


class SessionError(Exception):
    pass


class FakeSession:
    """What the noxfile's helpers use of a nox session: commands really run, errors raise."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def log(self, text: str) -> None:
        self.logs.append(text)

    def error(self, text: str) -> None:
        raise SessionError(text)

    def run(self, *args: str, external: bool = False, env: dict[str, str] | None = None, **_: Any) -> None:
        proc = subprocess.run(list(args), env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SessionError(f"{args} failed: {proc.stderr.strip()}")


@functools.cache
def noxfile_module() -> ModuleType:
    """The noxfile, imported once (importing it registers its sessions with nox)."""
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def noxfile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    """The noxfile, on a machine whose only apt-get is a fake one (in ``tmp_path/bin``) that fails
    with apt's lock message while ``tmp_path/lock`` exists, and installs a fake chromium."""
    module = noxfile_module()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    apt = bin_dir / "apt-get"
    apt.write_text(f"""#!/bin/sh
echo "$@" >> {tmp_path / 'apt.log'}
if [ -e {tmp_path / 'lock'} ]; then
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
  exit 100
fi
case "$*" in *install*) printf '#!/bin/sh\\n' > {bin_dir / 'chromium'}; /bin/chmod +x {bin_dir / 'chromium'} ;; esac
exit 0
""")
    apt.chmod(apt.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("HARNESS_CHROMIUM", raising=False)
    monkeypatch.delenv("HARNESS_SKIP_CHROMIUM_INSTALL", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(module, "CHROMIUM", str(tmp_path / "no-such-chromium"))
    monkeypatch.setattr(module, "APT_RETRY_S", 0.2, raising=False)
    return module


def test_the_tests_session_waits_for_an_apt_lock_held_elsewhere(noxfile: ModuleType, tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    threading.Timer(1.5, lock.unlink).start()
    found = noxfile._ensure_chromium(FakeSession())
    assert found == str(tmp_path / "bin" / "chromium")
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert len(calls) > 2 and all("DPkg::Lock::Timeout=" in c for c in calls)
    assert calls[-1].endswith("install -y -qq --no-install-recommends chromium")


def test_the_tests_session_waits_only_so_long(noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lock").write_text("")
    monkeypatch.setattr(noxfile, "APT_LOCK_WAIT_S", 1, raising=False)
    started = time.monotonic()
    with pytest.raises(SessionError, match="apt-get update failed: E: Could not get lock"):
        noxfile._ensure_chromium(FakeSession())
    assert time.monotonic() - started < 10


def test_the_tests_session_installs_nothing_when_chromium_is_there(noxfile: ModuleType, tmp_path: Path) -> None:
    present = tmp_path / "bin" / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert noxfile._ensure_chromium(FakeSession()) == str(present)
    assert not (tmp_path / "apt.log").exists()
