"""The releases of a package, read from the package index itself (or a local wheel folder).

The index is the one uv is told to use: ``--find-links DIR`` / ``$UV_FIND_LINKS`` (a folder of
wheels), else ``--index-url`` / ``$UV_DEFAULT_INDEX`` / ``$UV_INDEX_URL``, else PyPI. Indexes are
read through the simple repository API (PEP 691 JSON, or PEP 503 HTML), which also says which
files are yanked (PEP 592) and when they were uploaded (PEP 700).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from harness.errors import PackageIndexError

PYPI_SIMPLE = "https://pypi.org/simple"
TIMEOUT_S = 60


@dataclass
class Release:
    """One version of a package: yanked when every file of it is yanked."""

    version: Version
    files: list[str] = field(default_factory=list)
    yanked_files: int = 0
    upload_time: str | None = None

    @property
    def yanked(self) -> bool:
        return bool(self.files) and self.yanked_files == len(self.files)


def index_source(index_url: str | None = None, find_links: Path | None = None) -> tuple[str, str]:
    """``("folder", path)`` or ``("url", simple index URL)``: where uv would look."""
    if find_links is not None:
        return "folder", str(find_links)
    if index_url:
        return "url", index_url.rstrip("/")
    if os.environ.get("UV_FIND_LINKS") and os.environ.get("UV_NO_INDEX"):
        return "folder", os.environ["UV_FIND_LINKS"]
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL"):
        if os.environ.get(name):
            return "url", os.environ[name].rstrip("/")
    return "url", PYPI_SIMPLE


def list_releases(package: str, index_url: str | None = None, find_links: Path | None = None) -> list[Release]:
    """Every release of ``package`` on the index, in PEP 440 order."""
    kind, where = index_source(index_url, find_links)
    files = _folder_files(Path(where)) if kind == "folder" else _index_files(where, package)
    releases: dict[Version, Release] = {}
    wanted = canonicalize_name(package)
    for filename, yanked, uploaded in files:
        parsed = _parse_filename(filename)
        if parsed is None or parsed[0] != wanted:
            continue
        release = releases.setdefault(parsed[1], Release(parsed[1]))
        release.files.append(filename)
        release.yanked_files += int(yanked)
        if uploaded and (release.upload_time is None or uploaded < release.upload_time):
            release.upload_time = uploaded
    return [releases[v] for v in sorted(releases)]


def _parse_filename(filename: str) -> tuple[str, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return str(name), version


def _folder_files(folder: Path) -> list[tuple[str, bool, str | None]]:
    if not folder.is_dir():
        raise PackageIndexError(f"The package folder {str(folder)!r} does not exist.")
    return [(p.name, False, None) for p in sorted(folder.iterdir()) if p.is_file()]


def _index_files(index_url: str, package: str) -> list[tuple[str, bool, str | None]]:
    url = f"{index_url}/{canonicalize_name(package)}/"
    request = urllib.request.Request(url, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
        "User-Agent": "keras-compat-harness",
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            content_type = response.headers.get("Content-Type", "")
            body = response.read(64 * 2**20)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise PackageIndexError(f"The index {index_url} has no package {package!r}.") from None
        raise PackageIndexError(f"The index {index_url} answered {exc.code} for {package!r}.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise PackageIndexError(f"The index {index_url} could not be reached ({getattr(exc, 'reason', exc)}).") from None
    if "json" in content_type:
        try:
            data = json.loads(body)
            return [(f["filename"], bool(f.get("yanked")), f.get("upload-time")) for f in data.get("files", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PackageIndexError(f"The index {index_url} sent unreadable JSON for {package!r}.") from None
    parser = _Links(url)
    parser.feed(body.decode("utf-8", errors="replace"))
    return parser.files


class _Links(HTMLParser):
    """The file links of a PEP 503 page, with ``data-yanked``."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base
        self.files: list[tuple[str, bool, str | None]] = []
        self._current: tuple[str, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            values = dict(attrs)
            href = urljoin(self.base, values.get("href") or "")
            self._current = (href.split("#")[0].rsplit("/", 1)[-1], "data-yanked" in values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current:
            self.files.append((self._current[0], self._current[1], None))
            self._current = None
