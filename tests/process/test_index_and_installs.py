"""The package index as uv sees it, and installs that tell "no such version" from "the network
failed": real uv installs and real bisects against loopback indexes (127.0.0.1) of tiny wheels
built here, which can answer 503 on demand."""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import json
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.envs.package_index import list_releases
from harness.errors import PackageIndexError
from support import Harness, build_wheel, write_scenario

PACKAGE = "harness-fake-idx"
MODULE = "harness_fake_idx"
#: The most requests one loopback index answers in a test; past it every answer is 410 Gone.
REQUEST_CAP = 400
UV_INDEX_SETTINGS = ("UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX",
                     "UV_INDEX_STRATEGY")
#: Fast and deterministic network retries: uv's own retries off, short pauses.
FAST_RETRIES = {"UV_HTTP_RETRIES": "0", "HARNESS_NETWORK_PAUSE_S": "0.05"}


def requiring_python(wheel: Path, spec: str) -> Path:
    """Give a built wheel ``Requires-Python: spec`` in its METADATA (and a RECORD to match)."""
    with zipfile.ZipFile(wheel) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    metadata = next(name for name in files if name.endswith(".dist-info/METADATA"))
    record = next(name for name in files if name.endswith(".dist-info/RECORD"))
    files[metadata] += f"Requires-Python: {spec}\n".encode()
    lines = []
    for name, data in files.items():
        if name != record:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{name},sha256={digest},{len(data)}")
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclass
class Entry:
    wheel: Path
    requires_python: str | None = None
    yanked: bool = False


@dataclass
class LoopbackIndex:
    """A simple index on 127.0.0.1: ``/simple/<project>/`` (PEP 503 HTML, or PEP 691 JSON with
    ``json``) and ``/files/<file>``. ``failing[path]`` more requests of that path are answered 503
    (-1: every one); ``requests`` counts each path's requests."""

    json_pages: bool = False
    projects: dict[str, list[Entry]] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    url: str = ""

    def add(self, project: str, wheel: Path, requires_python: str | None = None, yanked: bool = False) -> None:
        self.projects.setdefault(project, []).append(Entry(wheel, requires_python, yanked))

    def page(self, project: str) -> tuple[bytes, str] | None:
        entries = self.projects.get(project)
        if entries is None:
            return None
        if self.json_pages:
            files = [{"filename": e.wheel.name, "url": f"../../files/{e.wheel.name}", "hashes": {}, "yanked": e.yanked,
                      **({"requires-python": e.requires_python} if e.requires_python else {})} for e in entries]
            body = {"meta": {"api-version": "1.1"}, "name": project, "files": files}
            return json.dumps(body).encode(), "application/vnd.pypi.simple.v1+json"
        links = "".join(
            f'<a href="../../files/{e.wheel.name}"'
            + (f' data-requires-python="{html.escape(e.requires_python)}"' if e.requires_python else "")
            + (' data-yanked=""' if e.yanked else "") + f">{e.wheel.name}</a>\n"
            for e in entries
        )
        return f"<!DOCTYPE html><html><body>{links}</body></html>".encode(), "text/html"

    def file(self, name: str) -> bytes | None:
        for entries in self.projects.values():
            for entry in entries:
                if entry.wheel.name == name:
                    return entry.wheel.read_bytes()
        return None

    def answer(self, path: str) -> tuple[int, bytes, str]:
        """The status, body and content type for one request."""
        self.requests[path] += 1
        if sum(self.requests.values()) > REQUEST_CAP:
            return 410, b"", "text/plain"
        if self.failing.get(path, 0):
            self.failing[path] -= 1 if self.failing[path] > 0 else 0
            return 503, b"", "text/plain"
        parts = path.strip("/").split("/")
        found: tuple[bytes, str] | None = None
        if len(parts) == 2 and parts[0] == "simple":
            found = self.page(parts[1])
        elif len(parts) == 2 and parts[0] == "files":
            data = self.file(parts[1])
            found = (data, "application/octet-stream") if data is not None else None
        return (200, *found) if found else (404, b"", "text/plain")


@pytest.fixture
def serve_index() -> Iterator[Callable[..., LoopbackIndex]]:
    """Start loopback indexes (``serve_index(json_pages=...)``); all are stopped after the test."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(json_pages: bool = False) -> LoopbackIndex:
        index = LoopbackIndex(json_pages=json_pages)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, head: bool) -> None:
                status, body, content_type = index.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                self._serve(head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(head=True)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        index.url = f"http://127.0.0.1:{server.server_address[1]}/simple"
        return index

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def releases_of(index: LoopbackIndex, folder: Path, versions: list[str], broken_from: str | None = None,
                package: str = PACKAGE, module: str = MODULE) -> dict[str, Path]:
    """Put one wheel per version on ``index`` (``BROKEN`` is true from ``broken_from`` on)."""
    wheels = {}
    for version in versions:
        broken = broken_from is not None and [int(p) for p in version.split(".")] >= [int(p) for p in broken_from.split(".")]
        wheels[version] = build_wheel(folder, package, version, {f"{module}/__init__.py": f"BROKEN = {broken}\n"})
        index.add(package, wheels[version])
    return wheels


@pytest.fixture
def online(harness: Harness, tmp_path: Path) -> Harness:
    """The harness against loopback indexes only: no wheel folder, its own envs and uv cache."""
    env = {k: v for k, v in harness.env.items() if k not in UV_INDEX_SETTINGS}
    env.update(HARNESS_ENVS_DIR=str(tmp_path / "envs"), UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    return Harness(env=env, tmp=tmp_path)


@pytest.fixture
def breaks_scenario(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    write_scenario(folder, "fake_breaks", f'''
        """Breaks from some release on"""
        import {MODULE}
        SIGNATURE = "ValueError: broken"
        def run(workdir):
            if {MODULE}.BROKEN:
                raise ValueError("broken")
            return {{"expected": 1.0, "actual": 1.0}}
    ''')
    return folder


def bisect(harness: Harness, scenarios: Path, out: Path, old: str, new: str, *more: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> tuple[int, list[str], str]:
    runner = Harness(env={**harness.env, **(env or {})}, tmp=harness.tmp)
    proc = runner.run("bisect", "--scenario", "fake_breaks", "--package", PACKAGE, "--old", old, "--new", new,
                      "--scenarios", str(scenarios), "--out", str(out), "--timeout", "60", *more, timeout=timeout)
    return proc.returncode, proc.stdout.strip().splitlines(), proc.stderr


# ---------------------------------------------------------------- the index uv sees


def test_uv_index_decides_where_bisect_lists_releases(online: Harness, serve_index: Callable[..., LoopbackIndex],
                                                      breaks_scenario: Path, tmp_path: Path) -> None:
    default, preferred = serve_index(), serve_index()
    releases_of(default, tmp_path / "default", ["1.0", "1.1", "1.2"])
    releases_of(preferred, tmp_path / "preferred", ["1.0", "1.1", "1.2", "1.3", "1.4"], broken_from="1.3")
    status, lines, stderr = bisect(online, breaks_scenario, tmp_path / "out", "1.0", "1.4",
                                   env={"UV_DEFAULT_INDEX": default.url, "UV_INDEX": f"mine={preferred.url}"})
    assert status == 0, "\n".join(lines) + stderr
    assert lines[-1].startswith(f"first new: {PACKAGE}==1.3 (last old: {PACKAGE}==1.2;")
    report = json.loads((tmp_path / "out" / "bisect.json").read_text())
    assert report["candidates"] == ["1.0", "1.1", "1.2", "1.3", "1.4"]
    # the project page of the index uv prefers was read, the default index's never
    assert preferred.requests[f"/simple/{PACKAGE}/"] >= 1 and not default.requests


@pytest.fixture
def no_uv_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process without any of uv's index settings (for the tests that list releases in it)."""
    for name in UV_INDEX_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_extra_index_urls_come_before_the_default_and_an_index_without_the_package_is_passed(
        serve_index: Callable[..., LoopbackIndex], tmp_path: Path, no_uv_settings: pytest.MonkeyPatch) -> None:
    empty, extra, default = serve_index(), serve_index(json_pages=True), serve_index()
    releases_of(extra, tmp_path / "extra", ["2.0", "2.1"])
    releases_of(default, tmp_path / "default", ["1.0"])
    no_uv_settings.setenv("UV_INDEX", empty.url)
    no_uv_settings.setenv("UV_EXTRA_INDEX_URL", extra.url)
    no_uv_settings.setenv("UV_INDEX_URL", default.url)
    assert [str(r.version) for r in list_releases(PACKAGE)] == ["2.0", "2.1"]
    assert empty.requests[f"/simple/{PACKAGE}/"] == 1 and not default.requests
    no_uv_settings.setenv("UV_INDEX_STRATEGY", "unsafe-best-match")  # every index counts
    assert [str(r.version) for r in list_releases(PACKAGE)] == ["1.0", "2.0", "2.1"]


@pytest.mark.parametrize("json_pages", [False, True], ids=["html", "json"])
def test_requires_python_removes_a_release_from_the_candidates(online: Harness, serve_index: Callable[..., LoopbackIndex],
                                                               breaks_scenario: Path, tmp_path: Path, json_pages: bool) -> None:
    index = serve_index(json_pages=json_pages)
    folder = tmp_path / "wheels"
    for version in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
        wheel = build_wheel(folder, PACKAGE, version, {f"{MODULE}/__init__.py": f"BROKEN = {version >= '1.4'}\n"})
        if version == "1.3":
            index.add(PACKAGE, requiring_python(wheel, ">=3.99"), requires_python=">=3.99")
            refused = wheel
        else:
            index.add(PACKAGE, wheel, requires_python=">=3.8")
    status, lines, stderr = bisect(online, breaks_scenario, tmp_path / "out", "1.0", "1.5", "--index-url", index.url)
    assert status == 0, "\n".join(lines) + stderr
    assert "not candidates, since they cannot install on the env's Python" in lines[0]
    assert lines[0].endswith(": 1.3 (Requires-Python >=3.99)")
    report = json.loads((tmp_path / "out" / "bisect.json").read_text())
    assert report["candidates"] == ["1.0", "1.1", "1.2", "1.4", "1.5"]
    assert all(p["version"] != "1.3" for p in report["probes"])
    assert lines[-1].startswith(f"first new: {PACKAGE}==1.4 (last old: {PACKAGE}==1.2;")
    assert not index.requests[f"/files/{refused.name}"]
    # an end that cannot install on the env's Python is refused before anything is installed
    status, lines, stderr = bisect(online, breaks_scenario, tmp_path / "end", "1.0", "1.3", "--index-url", index.url)
    assert status == 2 and len(stderr.strip().splitlines()) == 1
    assert "--new 1.3" in stderr and "cannot install on the env's Python" in stderr and "Requires-Python >=3.99" in stderr


def test_a_wheel_folder_says_requires_python_in_its_wheels(tmp_path: Path) -> None:
    folder = tmp_path / "wheels"
    build_wheel(folder, PACKAGE, "1.0")
    requiring_python(build_wheel(folder, PACKAGE, "1.1"), ">=3.99")
    releases = {str(r.version): r for r in list_releases(PACKAGE, find_links=folder)}
    assert releases["1.0"].supports_python("3.11.7") and not releases["1.1"].supports_python("3.11.7")
    assert releases["1.1"].python_requirement == ">=3.99"


def test_reading_the_index_retries_a_network_failure(serve_index: Callable[..., LoopbackIndex], tmp_path: Path,
                                                     no_uv_settings: pytest.MonkeyPatch) -> None:
    index = serve_index()
    releases_of(index, tmp_path / "wheels", ["1.0", "1.1"])
    index.failing = {f"/simple/{PACKAGE}/": 1}
    no_uv_settings.setenv("HARNESS_NETWORK_PAUSE_S", "0.05")
    notes: list[str] = []
    assert [str(r.version) for r in list_releases(PACKAGE, index.url, note=notes.append)] == ["1.0", "1.1"]
    assert notes == ["try 1 of 3 failed on the network (it answered 503); trying again in 0.05 s"]
    index.failing = {f"/simple/{PACKAGE}/": -1}
    with pytest.raises(PackageIndexError, match=r"could not be reached \(it answered 503; 3 tries\)"):
        list_releases(PACKAGE, index.url)
    assert index.requests[f"/simple/{PACKAGE}/"] == 2 + 3


# ---------------------------------------------------------------- installs and the network


def test_only_network_failures_are_retried(online: Harness, serve_index: Callable[..., LoopbackIndex], tmp_path: Path) -> None:
    """One run, three pairings: one whose index page fails twice and then answers (installed after
    two retries), one that asks for a version that does not exist (install_failed at once, its
    reason the resolver's), and one whose page never answers (install_failed after every try)."""
    index = serve_index()
    for package in ("harness-fake-flaky", "harness-fake-idx", "harness-fake-down"):
        releases_of(index, tmp_path / "wheels", ["1.0"], package=package, module=package.replace("-", "_"))
    index.failing = {"/simple/harness-fake-flaky/": 2, "/simple/harness-fake-down/": -1}
    folder = tmp_path / "scenarios"
    write_scenario(folder, "imports_it", '"""Imports nothing"""\ndef run(workdir):\n    return None\n')
    env = {**online.env, **FAST_RETRIES, "UV_DEFAULT_INDEX": index.url, "HARNESS_NETWORK_TRIES": "3"}
    out = tmp_path / "out"
    proc = Harness(env=env, tmp=tmp_path).run(
        "matrix", "--scenarios", str(folder), "--out", str(out), "--pairing", "harness-fake-flaky==1.0",
        "--pairing", "harness-fake-idx==9.9", "--pairing", "harness-fake-down==1.0", timeout=300, check_code=0)
    cells = {c["pairing"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
    assert cells["harness-fake-flaky-1.0"]["verdict"] == "passed"
    assert index.requests["/simple/harness-fake-flaky/"] == 3
    retries = [line for line in proc.stdout.splitlines() if "failed on the network" in line]
    assert [line.split(": try ")[0] for line in retries] == ["env harness-fake-flaky-1.0"] * 2 + ["env harness-fake-down-1.0"] * 2
    assert "try 1 of 3 failed on the network (Failed to fetch: " in retries[0] and "503 Service Unavailable" in retries[0]
    assert retries[0].endswith("trying again in 0.05 s") and retries[1].endswith("trying again in 0.1 s")
    # no such version: the resolver's answer, asked once
    missing = cells["harness-fake-idx-9.9"]
    assert missing["verdict"] == "install_failed" and "there is no version of harness-fake-idx==9.9" in missing["reason"]
    assert index.requests["/simple/harness-fake-idx/"] == 1
    # the network never answered: still install_failed, and the reason says so
    down = cells["harness-fake-down-1.0"]
    assert down["verdict"] == "install_failed" and index.requests["/simple/harness-fake-down/"] == 3
    assert down["reason"].startswith("the network failed after 3 tries: Failed to fetch: ")
    assert "503 Service Unavailable" in down["reason"]


def test_bisect_probes_a_release_the_network_failed_once(online: Harness, serve_index: Callable[..., LoopbackIndex],
                                                         breaks_scenario: Path, tmp_path: Path) -> None:
    index = serve_index()
    wheels = releases_of(index, tmp_path / "wheels", ["1.0", "1.1", "1.2", "1.3", "1.4"], broken_from="1.2")
    index.failing = {f"/files/{wheel.name}": 2 for wheel in wheels.values()}  # every wheel's first two downloads fail
    status, lines, stderr = bisect(online, breaks_scenario, tmp_path / "out", "1.0", "1.4", "--index-url", index.url,
                                   env=FAST_RETRIES)
    assert status == 0, "\n".join(lines) + stderr
    assert lines[-1].startswith(f"first new: {PACKAGE}==1.2 (last old: {PACKAGE}==1.1;")
    report = json.loads((tmp_path / "out" / "bisect.json").read_text())
    assert report["probes"] and all(p["verdict"] is not None for p in report["probes"])
    retried = [line for line in lines if line.startswith(f"  {PACKAGE}==1.2: try ")]
    assert len(retried) == 2 and "try 2 of 3 failed on the network" in retried[1]
    probed = {p["version"] for p in report["probes"]}
    assert all(index.requests[f"/files/{wheels[version].name}"] >= 3 for version in probed)  # 2 failed, then served


def test_bisect_stops_when_the_network_keeps_failing(online: Harness, serve_index: Callable[..., LoopbackIndex],
                                                     breaks_scenario: Path, tmp_path: Path) -> None:
    index = serve_index()
    wheels = releases_of(index, tmp_path / "wheels", ["1.0", "1.1", "1.2", "1.3", "1.4"], broken_from="1.3")
    index.failing = {f"/files/{wheels['1.2'].name}": -1}  # the middle release, probed third, never downloads
    status, lines, stderr = bisect(online, breaks_scenario, tmp_path / "out", "1.0", "1.4", "--index-url", index.url,
                                   env={**FAST_RETRIES, "HARNESS_NETWORK_TRIES": "2"})
    assert status == 2, "\n".join(lines) + stderr
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"error: bisect stopped: {PACKAGE}==1.2 could not be installed: the network failed after 2 tries: ")
    assert f"--known {tmp_path / 'out'}" in stderr
    probe = [line for line in lines if line.startswith("probe 3 ")]
    assert probe and f"{PACKAGE}==1.2 -> install_failed: the network failed after 2 tries: " in probe[0]
    assert probe[0].endswith("; stopping (" + probe[0].rsplit("(", 1)[-1])
    assert index.requests[f"/files/{wheels['1.2'].name}"] == 2
    assert not (tmp_path / "out" / "bisect.json").exists()
