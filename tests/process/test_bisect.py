"""Bisect with real probes of tiny wheels served by a loopback index."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest

from harness.plan.bisection import probe_budget
from support import Harness, build_wheel, write_scenario

PACKAGE = "harness-fake-bisect"
CHANGE = 13
UNINSTALLABLE = {4, 9}
YANKED = {17}


@pytest.fixture(scope="module")
def loopback_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 with 20 releases, a pre-release, a yanked and two broken ones."""
    root = tmp_path_factory.mktemp("index")
    files = root / "files"
    wheels = []
    for i in range(20):
        body = f"__version__ = '1.{i}'\nBROKEN = {i >= CHANGE}\n"
        requires = ["harness-does-not-exist>=1"] if i in UNINSTALLABLE else []
        wheels.append((build_wheel(files, PACKAGE, f"1.{i}", {"harness_fake_bisect/__init__.py": body}, requires), i in YANKED))
    wheels.append((build_wheel(files, PACKAGE, "1.14rc1", {"harness_fake_bisect/__init__.py": "BROKEN = False\n"}), False))
    page = root / "simple" / PACKAGE
    page.mkdir(parents=True)
    yanked_attr = ' data-yanked=""'
    links = "".join(
        f'<a href="../../files/{w.name}"{yanked_attr if yanked else ""}>{w.name}</a>\n' for w, yanked in wheels
    )
    (page / "index.html").write_text(f"<!DOCTYPE html><html><body>{links}</body></html>")
    (root / "simple" / "index.html").write_text(f'<a href="{PACKAGE}/">{PACKAGE}</a>')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[misc]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


@pytest.fixture
def bisect_env(harness: Harness, tmp_path: Path) -> tuple[Harness, Path]:
    env = {k: v for k, v in harness.env.items() if k not in ("UV_NO_INDEX", "UV_FIND_LINKS")}
    env["HARNESS_ENVS_DIR"] = str(tmp_path / "envs")
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fake_breaks", '''
        """Breaks from some release on"""
        import harness_fake_bisect
        SIGNATURE = r"ValueError: .*expected 3 variables, but received 0"
        def run(workdir):
            if harness_fake_bisect.BROKEN:
                raise ValueError("Layer 'dense' expected 3 variables, but received 0 variables during loading.")
            return {"expected": 1.0, "actual": 1.0}
    ''')
    return Harness(env=env, tmp=tmp_path), folder


def test_real_bisect_finds_the_release(bisect_env: tuple[Harness, Path], loopback_index: str, tmp_path: Path) -> None:
    harness, folder = bisect_env
    out = tmp_path / "bisect"
    args = ["bisect", "--scenario", "fake_breaks", "--package", PACKAGE, "--old", "1.0", "--new", "1.19",
            "--scenarios", str(folder), "--index-url", loopback_index, "--timeout", "60"]
    proc = harness.run(*args, "--out", str(out), check_code=0)
    lines = proc.stdout.strip().splitlines()
    # 20 releases, minus the yanked one; the pre-release only comes with --pre
    candidates = 19
    probes = [line for line in lines if line.startswith("probe ")]
    assert lines[-1] == (f"first new: {PACKAGE}==1.{CHANGE} (last old: {PACKAGE}==1.{CHANGE - 1}; "
                         f"{len(probes)} probes of {candidates} candidates)")
    report = json.loads((out / "bisect.json").read_text())
    assert len(report["candidates"]) == candidates and "1.17" not in report["candidates"]
    assert "1.14rc1" not in report["candidates"]
    skipped = [p for p in report["probes"] if p["verdict"] is None]
    assert len(probes) <= probe_budget(candidates) + len(skipped)
    assert all(p["raw_verdict"] == "install_failed" for p in skipped)
    assert (out / "index.html").exists() and "first new" in (out / "index.html").read_text()
    for probe in report["probes"]:
        if probe["run_dir"]:
            assert (out / probe["run_dir"] / "results.json").exists()
    # a second bisect reuses every cell it knows (a version that cannot install has no installed
    # versions to know it by, so it is tried again)
    again = harness.run(*args, "--out", str(tmp_path / "again"), "--known", str(tmp_path), check_code=0)
    assert again.stdout.strip().splitlines()[-1] == lines[-1]
    assert again.stdout.count("known from") == len(probes) - len(skipped)
    rerun = sorted(p.name for p in (tmp_path / "again" / "probes").iterdir()) if skipped else []
    assert rerun == sorted(f"{PACKAGE}-{p['version']}" for p in skipped)
    # --known may also name the earlier bisect's own folder, not only a folder of runs
    third = harness.run(*args, "--out", str(tmp_path / "third"), "--known", str(out), check_code=0)
    assert third.stdout.count("known from") == len(probes) - len(skipped)


def test_a_skip_at_the_transition_gives_the_range(bisect_env: tuple[Harness, Path], loopback_index: str, tmp_path: Path) -> None:
    harness, folder = bisect_env
    # with 1.10 .. 1.13 only: 1.12 and 1.13 install; the scenario's verdict changes at 1.13
    proc = harness.run("bisect", "--scenario", "fake_breaks", "--package", PACKAGE, "--old", "1.8", "--new", "1.13",
                       "--scenarios", str(folder), "--index-url", loopback_index, "--out", str(tmp_path / "b"), check_code=0)
    assert proc.stdout.strip().splitlines()[-1].startswith(f"first new: {PACKAGE}==1.13 (last old: {PACKAGE}==1.12")
    proc = harness.run("bisect", "--scenario", "fake_breaks", "--package", PACKAGE, "--old", "1.3", "--new", "1.5",
                       "--scenarios", str(folder), "--index-url", loopback_index, "--out", str(tmp_path / "c"))
    assert proc.returncode == 1 and "no transition" in proc.stdout.strip().splitlines()[-1]


def test_a_range_when_only_uninstallable_versions_lie_between(tmp_path: Path, harness: Harness) -> None:
    # versions 2.0 (fine), 2.1 and 2.2 (cannot install), 2.3 (broken): the answer is a range
    wheels = tmp_path / "wheels"
    for minor, broken, requires in ((0, False, []), (1, False, ["nope-missing>=1"]), (2, True, ["nope-missing>=1"]),
                                    (3, True, [])):
        build_wheel(wheels, PACKAGE, f"2.{minor}", {"harness_fake_bisect/__init__.py": f"BROKEN = {broken}\n"}, requires)
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fake_breaks", '''
        """Breaks"""
        import harness_fake_bisect
        SIGNATURE = "ValueError: broken"
        def run(workdir):
            if harness_fake_bisect.BROKEN:
                raise ValueError("broken")
    ''')
    env = dict(harness.env, HARNESS_ENVS_DIR=str(tmp_path / "envs"))
    proc = Harness(env=env, tmp=tmp_path).run(
        "bisect", "--scenario", "fake_breaks", "--package", PACKAGE, "--old", "2.0", "--new", "2.3",
        "--scenarios", str(folder), "--find-links", str(wheels), "--out", str(tmp_path / "out"), check_code=0)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(f"first new: between {PACKAGE}==2.0 (last old) and {PACKAGE}==2.3 (first new)")
    assert "2 versions between could not be probed" in last


@pytest.mark.parametrize("args, fragment", [
    (["--old", "1.0", "--new", "1.99"], "1.99 is not a release on the index"),
    (["--old", "1.5", "--new", "1.2"], "must be an older version"),
    (["--old", "one", "--new", "1.2"], "Invalid version"),
    (["--old", "1.0", "--new", "1.2", "--with", f"{PACKAGE}==1.0"], "names the bisected package itself"),
    (["--old", "1.0", "--new", "1.2", "--backend", "cntk"], "--backend 'cntk'"),
    (["--old", "1.0", "--new", "1.2", "--scenario", "nope"], "Unknown scenario id 'nope'"),
])
def test_bisect_bad_input(bisect_env: tuple[Harness, Path], loopback_index: str, args: list[str], fragment: str) -> None:
    harness, folder = bisect_env
    base = ["bisect", "--package", PACKAGE, "--scenarios", str(folder), "--index-url", loopback_index]
    if "--scenario" not in args:
        base += ["--scenario", "fake_breaks"]
    proc = harness.run(*base, *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_listing_reads_yanked_and_pre_releases(loopback_index: str) -> None:
    from harness.envs.package_index import list_releases

    releases = {str(r.version): r for r in list_releases(PACKAGE, loopback_index)}
    assert len(releases) == 21 and releases["1.17"].yanked and not releases["1.16"].yanked
    assert releases["1.14rc1"].version.is_prerelease


class JsonIndex(http.server.BaseHTTPRequestHandler):
    """A PEP 691 JSON index with upload times (what uv's --exclude-newer reads)."""

    root: Path
    uploads: dict[str, list[tuple[str, str]]]

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        parts = self.path.split("/")
        if self.path.startswith("/simple/") and parts[2] in self.uploads:
            files = [{"filename": f, "url": f"/files/{f}", "hashes": {}, "upload-time": t} for f, t in self.uploads[parts[2]]]
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": parts[2], "files": files}).encode()
            self._send(body, "application/vnd.pypi.simple.v1+json", head)
        elif self.path.startswith("/files/") and (self.root / parts[2]).is_file():
            self._send((self.root / parts[2]).read_bytes(), "application/octet-stream", head)
        else:
            self.send_response(404)
            self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)


def test_by_date_finds_the_day_a_dependency_changed(harness: Harness, tmp_path: Path) -> None:
    """The app package never changes; a dependency released on 2024-03-05 breaks it."""
    files = tmp_path / "files"
    uploads: dict[str, list[tuple[str, str]]] = {"harness-fake-app": [], "harness-fake-dep": []}
    app = build_wheel(files, "harness-fake-app", "1.0", {"harness_fake_app/__init__.py": "from harness_fake_dep import BROKEN\n"},
                      ["harness-fake-dep"])
    uploads["harness-fake-app"].append((app.name, "2024-01-01T10:00:00Z"))
    for version, day, broken in (("1.0", "2024-01-02", False), ("1.1", "2024-02-01", False), ("2.0", "2024-03-05", True)):
        wheel = build_wheel(files, "harness-fake-dep", version, {"harness_fake_dep/__init__.py": f"BROKEN = {broken}\n"})
        uploads["harness-fake-dep"].append((wheel.name, f"{day}T12:00:00Z"))
    handler = type("Index", (JsonIndex,), {"root": files, "uploads": uploads})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        folder = tmp_path / "scenarios"
        write_scenario(folder, "app_works", '''
            """The app breaks when its dependency changes"""
            import harness_fake_app
            SIGNATURE = "RuntimeError: broken"
            def run(workdir):
                if harness_fake_app.BROKEN:
                    raise RuntimeError("broken")
        ''')
        env = {k: v for k, v in harness.env.items() if k not in ("UV_NO_INDEX", "UV_FIND_LINKS")}
        env["HARNESS_ENVS_DIR"] = str(tmp_path / "envs")
        proc = Harness(env=env, tmp=tmp_path).run(
            "bisect", "--by-date", "--scenario", "app_works", "--package", "harness-fake-app", "--old", "2024-01-15",
            "--new", "2024-04-30", "--scenarios", str(folder), "--out", str(tmp_path / "out"),
            "--index-url", f"http://127.0.0.1:{server.server_address[1]}/simple", check_code=0)
    finally:
        server.shutdown()
        server.server_close()
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("first new: harness-fake-app as of 2024-03-05 (last old: harness-fake-app as of 2024-03-04;")
    assert "of 107 candidates" in lines[-1]
    assert "the resolution changed between them: harness-fake-dep 1.1 -> 2.0" in proc.stdout
    # days that resolve to the same packages reuse the cell instead of running it again
    assert "known from" in proc.stdout


def test_a_stopped_bisect_stops(harness: Harness, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from support import ROOT

    wheels = tmp_path / "wheels"
    for minor in range(3):
        build_wheel(wheels, PACKAGE, f"4.{minor}", {"harness_fake_bisect/__init__.py": "BROKEN = False\n"})
    folder = tmp_path / "scenarios"
    write_scenario(folder, "slow", '"""Slow"""\nimport time\ndef run(workdir):\n    time.sleep(30)\n')
    env = dict(harness.env, HARNESS_ENVS_DIR=str(tmp_path / "envs"))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "bisect", "--scenario", "slow", "--package", PACKAGE,
                             "--old", "4.0", "--new", "4.2", "--scenarios", str(folder), "--find-links", str(wheels),
                             "--out", str(tmp_path / "out")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # "bisecting ..."
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "probe 2" not in output
