"""The releases of a package as uv sees them: read from the indexes uv would use (or a local
wheel folder), with what each file says about yanking, upload time and the Pythons it supports.

Where uv looks (:func:`index_locations`), first to last:

- ``--find-links DIR`` (or ``$UV_FIND_LINKS`` with ``$UV_NO_INDEX``): that folder, alone;
- else each index of ``$UV_INDEX`` (space-separated, each ``URL`` or ``NAME=URL``), then each
  of ``$UV_EXTRA_INDEX_URL`` (space-separated), then the default index: ``--index-url``, else
  ``$UV_DEFAULT_INDEX``, else ``$UV_INDEX_URL``, else PyPI.

With uv's default index strategy (``first-index``) a package's releases are those of the first
index that has the package at all; with ``$UV_INDEX_STRATEGY`` set to ``unsafe-first-match`` or
``unsafe-best-match``, those of every index. Index pages are read with the pypi-simple client
(PEP 691 JSON or PEP 503 HTML: yanked files, PEP 592; upload times, PEP 700; ``requires-python``,
PEP 503's ``data-requires-python``); a ``file://`` URL or a path as an index is read from disk
(``<index>/<project>/index.html``). A network failure is tried again (:mod:`.retry`).
"""

from __future__ import annotations

import datetime
import os
import re
import zipfile
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version
from pypi_simple import (
    ACCEPT_JSON_PREFERRED,
    DistributionPackage,
    NoSuchProjectError,
    ProjectPage,
    PyPISimple,
    UnsupportedContentTypeError,
    UnsupportedRepoVersionError,
)

from harness.envs.retry import Note, Transient, with_retries
from harness.errors import PackageIndexError

PYPI_SIMPLE = "https://pypi.org/simple"
TIMEOUT_S = 60
#: uv's index strategies that take the releases of every index instead of the first having the package.
_EVERY_INDEX = ("unsafe-first-match", "unsafe-best-match")
#: HTTP answers that may pass: the index is overloaded or down for a moment.
_PASSING_STATUS = (408, 429, 500, 502, 503, 504)
_INDEX_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class IndexFile:
    """One file of a project as an index (or a folder) lists it."""

    filename: str
    yanked: bool = False
    upload_time: str | None = None
    requires_python: str | None = None


@dataclass
class Release:
    """One version of a package: yanked when every file of it is yanked.

    ``requires_python`` holds the ``Requires-Python`` of each file that is not yanked (None for a
    file that states none).
    """

    version: Version
    files: list[str] = field(default_factory=list)
    yanked_files: int = 0
    upload_time: str | None = None
    requires_python: list[str | None] = field(default_factory=list)

    @property
    def yanked(self) -> bool:
        return bool(self.files) and self.yanked_files == len(self.files)

    def supports_python(self, python: str) -> bool:
        """True when a file of it that is not yanked may install on Python ``python`` (e.g.
        ``3.11.7``): one whose ``Requires-Python`` admits that version, states none, or cannot
        be read (uv would then decide)."""
        return not self.requires_python or any(_admits(spec, python) for spec in self.requires_python)

    @property
    def python_requirement(self) -> str:
        """The ``Requires-Python`` its files state, for messages (``>=3.10``, or several joined)."""
        stated = sorted({spec for spec in self.requires_python if spec})
        return " | ".join(stated) or "none"


@dataclass(frozen=True)
class IndexLocation:
    """Where to read a project's files: a ``folder`` of files, or a simple index ``url`` (which
    may be a ``file://`` URL or a path of a simple index on disk)."""

    kind: str
    where: str

    @property
    def shown(self) -> str:
        """``where`` fit for a message: any user name and password in a URL are left out."""
        parts = urlsplit(self.where)
        if parts.username is None and parts.password is None:
            return self.where
        host = parts.hostname or ""
        return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def index_locations(index_url: str | None = None, find_links: Path | None = None) -> list[IndexLocation]:
    """Where uv would look for a package, first to last (see the module's docstring).

    ``index_url`` is the default index (uv's ``--default-index``): the indexes of ``$UV_INDEX``
    and ``$UV_EXTRA_INDEX_URL`` still come before it, as they do for uv.
    """
    if find_links is not None:
        return [IndexLocation("folder", str(find_links))]
    if os.environ.get("UV_FIND_LINKS") and os.environ.get("UV_NO_INDEX"):
        return [IndexLocation("folder", os.environ["UV_FIND_LINKS"])]
    urls = [_index_entry(item) for item in os.environ.get("UV_INDEX", "").split()]
    urls += os.environ.get("UV_EXTRA_INDEX_URL", "").split()
    default = index_url or os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or PYPI_SIMPLE
    urls.append(default)
    unique = list(dict.fromkeys(url.rstrip("/") for url in urls if url))
    return [IndexLocation("url", url) for url in unique]


def index_source(index_url: str | None = None, find_links: Path | None = None) -> tuple[str, str]:
    """``("folder", path)`` or ``("url", URLs)``: where uv would look, for a message."""
    locations = index_locations(index_url, find_links)
    return locations[0].kind, ", ".join(location.shown for location in locations)


def list_releases(package: str, index_url: str | None = None, find_links: Path | None = None,
                  note: Note | None = None) -> list[Release]:
    """Every release of ``package`` where uv would look, in PEP 440 order.

    :class:`PackageIndexError` when no index has the package, an index cannot be reached (after
    the retries of a network failure, each noted to ``note``) or sends something unreadable.
    """
    locations = index_locations(index_url, find_links)
    if locations[0].kind == "folder":
        files = _folder_files(Path(locations[0].where))
    else:
        files = _index_files(locations, package, note)
    return _releases(package, files)


def _releases(package: str, files: list[IndexFile]) -> list[Release]:
    releases: dict[Version, Release] = {}
    wanted = canonicalize_name(package)
    for file in files:
        parsed = _parse_filename(file.filename)
        if parsed is None or parsed[0] != wanted:
            continue
        release = releases.setdefault(parsed[1], Release(parsed[1]))
        release.files.append(file.filename)
        release.yanked_files += int(file.yanked)
        if not file.yanked:
            release.requires_python.append(file.requires_python)
        if file.upload_time and (release.upload_time is None or file.upload_time < release.upload_time):
            release.upload_time = file.upload_time
    return [releases[v] for v in sorted(releases)]


def _admits(spec: str | None, python: str) -> bool:
    if not spec:
        return True
    try:
        return SpecifierSet(spec).contains(Version(python), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True


def _index_entry(item: str) -> str:
    """The URL of one ``$UV_INDEX`` entry: ``URL`` or ``NAME=URL``."""
    name, sep, url = item.partition("=")
    return url if sep and _INDEX_NAME.fullmatch(name) else item


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


def _folder_files(folder: Path) -> list[IndexFile]:
    if not folder.is_dir():
        raise PackageIndexError(f"The package folder {str(folder)!r} does not exist.")
    return [IndexFile(p.name, requires_python=_wheel_requires_python(p)) for p in sorted(folder.iterdir()) if p.is_file()]


def _wheel_requires_python(path: Path) -> str | None:
    """The ``Requires-Python`` of a wheel's METADATA (None for another file, or one without it)."""
    if path.suffix != ".whl":
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            if not names:
                return None
            text = archive.read(names[0]).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return HeaderParser().parsestr(text).get("Requires-Python")


def _index_files(locations: list[IndexLocation], package: str, note: Note | None) -> list[IndexFile]:
    """The files of ``package`` on the first index that has it, or on every one under an
    ``unsafe-*`` index strategy."""
    every = os.environ.get("UV_INDEX_STRATEGY", "first-index") in _EVERY_INDEX
    files: list[IndexFile] = []
    found = False
    for location in locations:
        page = _project_page(location, package, note)
        if page is None:
            continue
        found = True
        files += [_index_file(p) for p in page.packages]
        if not every:
            break
    if not found:
        where = ", ".join(location.shown for location in locations)
        raise PackageIndexError(f"The index {where} has no package {package!r}." if len(locations) == 1
                                else f"None of the indexes {where} has a package {package!r}.")
    return files


def _index_file(package: DistributionPackage) -> IndexFile:
    """What the harness keeps of one file on an index page. Its name is taken from its URL, as
    uv takes it (PEP 503 says the link's text must match it)."""
    upload = package.upload_time
    if upload is not None and upload.tzinfo is not None:
        upload = upload.astimezone(datetime.timezone.utc)
    return IndexFile(
        filename=unquote(urlsplit(package.url).path.rsplit("/", 1)[-1]) or package.filename,
        yanked=package.is_yanked,
        upload_time=upload.strftime("%Y-%m-%dT%H:%M:%SZ") if upload is not None else None,
        requires_python=package.requires_python or None,
    )


def _project_page(location: IndexLocation, package: str, note: Note | None) -> ProjectPage | None:
    """The index's page of ``package``; None when the index has no such project."""
    on_disk = _disk_path(location.where)
    if on_disk is not None:
        return _disk_page(on_disk, package)
    try:
        return with_retries(lambda: _fetch_page(location, package), note)
    except Transient as failure:
        raise PackageIndexError(f"The index {location.shown} could not be reached ({failure.reason}; "
                                f"{failure.tries} tries).") from None


def _fetch_page(location: IndexLocation, package: str) -> ProjectPage | None:
    """One request for the page; :class:`Transient` when the failure may pass."""
    with PyPISimple(location.where, accept=ACCEPT_JSON_PREFERRED) as client:
        try:
            return client.get_project_page(package, timeout=TIMEOUT_S)
        except NoSuchProjectError:
            return None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in _PASSING_STATUS:
                raise Transient(f"it answered {status}") from None
            raise PackageIndexError(f"The index {location.shown} answered {status} for {package!r}.") from None
        except (UnsupportedContentTypeError, UnsupportedRepoVersionError, ValueError) as exc:
            raise PackageIndexError(f"The index {location.shown} sent an unreadable page for {package!r} "
                                    f"({type(exc).__name__}).") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise Transient(f"{type(exc).__name__}: {_first_line(exc)}") from None
        except requests.RequestException as exc:
            raise PackageIndexError(f"The index {location.shown} could not be read ({_first_line(exc)}).") from None


def _disk_path(where: str) -> Path | None:
    """The folder of a simple index given as a ``file://`` URL or a path; None for a web URL."""
    parts = urlsplit(where)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return None if parts.scheme else Path(where)


def _disk_page(root: Path, package: str) -> ProjectPage | None:
    page = root / canonicalize_name(package) / "index.html"
    try:
        html = page.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PackageIndexError(f"The index page {str(page)!r} cannot be read ({exc.strerror}).") from None
    return ProjectPage.from_html(package, html, base_url=page.as_uri())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"
