"""The cell cache: cells and cross-version saves of earlier runs, found again by everything that
decides them, so a run only does new work.

An entry is keyed by a :class:`CellIngredients` record: the scenario's content (its file and the
helpers it imports), the env's full installed package set, Python, the backend, the tolerances
and SIGNATURE, the options that change an outcome (time limit, isolation, output cap), the
worker's protocol (a hash of the worker script), the env's own identity (its key, which counts
local wheels by content), the environment variables that matter (``KERAS_*``, ``TF_*`` and those a
scenario declares in ``ENV``) and, for a load, the hash of the saved files and reference values it
reads. Change any of them and the key is another one: a miss.

An entry also lists every other file its phase read (:class:`Dependency`: the worker notes every
file opened, outside the env's installation and the standard library: the user's model file and
the modules it imports, data files, ``~/.keras/keras.json``), each with its hash. An entry is
reused only when every one of them is unchanged; one that changed or vanished makes the entry
stale (:attr:`CacheStats.stale`, said with the file's name) and the cell runs again. A phase
whose reads are not known in full is never stored.

An entry keeps the phase's facts (:class:`~harness.evidence.phase.PhaseOutcome`), never a
verdict: a reused cell's verdict is decided again from those facts, in the one place verdicts
are decided. It also keeps the host-side evidence taken from the cell's work folder (file
anatomy, mapping) and the run that measured it. A save's entry keeps the saved files and the
reference values too, hard-linked where the file system allows.

Layout, below ``<envs folder>/cell-cache/v1/``::

    secret                 a random key (mode 0600); every entry carries an HMAC made with it
    cells/<ab>/<digest>.json   one entry per cell or save
    saves/<digest>/<files sha256>/   the files/ and reference.* of a cached save: the cache's own
                           copy (a reflink where the file system has them), which no run's load
                           reads through; a run gets a copy of its own back

Nothing read from the cache is trusted: an entry that is not valid JSON, is of another format,
names another key, or whose HMAC or saved files do not check out is ignored, removed and
reported (:attr:`CellCache.rejected`); the cell then runs again. The cache is bounded
(:meth:`CellCache.prune`): least recently used entries go first. A lookup refreshes an entry's
time.

Runs may share one cache at the same time. A save is stored into a new folder and renamed into
place, under the hash of its files, so an entry always finds the files it names whole or not at
all; what is removed is first renamed away. Whatever vanishes under a reader (another run's prune
or store) is a miss, never an alarm, and nothing the cache does on disk ends a run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

from harness.errors import BadInput, ResultsError
from harness.evidence.codec import build_model, to_dict, write_atomic, write_json_atomic
from harness.evidence.model import FileRecord, MappingRecord
from harness.evidence.phase import PhaseOutcome
from harness.evidence.run_folder import hash_tree
from harness.paths import clone_file, clone_tree, disk_usage, file_digest, remove_tree

#: The format of the entries this code writes and reads; any other is ignored.
CACHE_FORMAT = 1
CACHE_FOLDER = "cell-cache"
#: The default bound on the cache's size on disk.
DEFAULT_MAX_BYTES = 4 * 2**30
#: The largest entry file read.
MAX_ENTRY_BYTES = 64 * 2**20
KINDS = ("run", "save", "load")


@dataclass(frozen=True)
class CellIngredients:
    """Everything that decides one cell (``kind`` run or load) or one cross-version save.

    ``packages`` is the env's full installed set as sorted (name, version) pairs; ``artifact`` is
    the hash of the saved files and reference values a load reads (None for run and save);
    ``env`` is the env's key (local wheels counted by content); ``environment`` the sorted
    (name, value) pairs of the environment variables that matter (see :func:`environment_of`).
    """

    kind: str
    scenario: str
    scenario_sha256: str
    backend: str
    python: str
    packages: tuple[tuple[str, str], ...]
    rtol: float
    atol: float
    signature: str | None
    timeout: float
    isolation: str
    max_output: int
    protocol: str
    artifact: str | None = None
    env: str = ""
    environment: tuple[tuple[str, str], ...] = ()

    def digest(self) -> str:
        """The entry's name: a hash of the canonical JSON of every ingredient."""
        return hashlib.sha256(_canonical(to_dict(self))).hexdigest()


@dataclass(frozen=True)
class Dependency:
    """A file a phase read, and its sha256 when the phase had ended (None: it was not a regular
    file then, e.g. a temporary file the phase removed)."""

    path: str
    sha256: Union[str, None]


#: The prefixes of the environment variables that always belong to a cell's key.
ENVIRONMENT_PREFIXES = ("KERAS_", "TF_")


def environment_of(declared: tuple[str, ...], environ: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The (name, value) pairs of ``environ`` that decide a cell: every ``KERAS_*`` and ``TF_*``
    variable, and the names a scenario declares in ``ENV`` (an unset one is left out, so setting
    it is a change too)."""
    return tuple(sorted((name, value) for name, value in environ.items()
                        if name.startswith(ENVIRONMENT_PREFIXES) or name in declared))


@dataclass
class HostEvidence:
    """What the harness took from a cell's work folder after its phase (never from the scenario's
    own report): the anatomy of the model files, and the mapping of a load that found nothing."""

    files: list[FileRecord] = field(default_factory=list)
    mapping: list[MappingRecord] = field(default_factory=list)
    mapping_text: str = ""


@dataclass
class CachedPhase:
    """An entry as found: the phase's facts, the host evidence, and where it was measured
    (``source``: ``run <id> (<folder>)``)."""

    outcome: PhaseOutcome
    evidence: HostEvidence
    source: str
    stored: str
    save_files: Path | None = None
    save_sha256: str = ""
    depends: list[Dependency] = field(default_factory=list)


@dataclass(frozen=True)
class EntrySummary:
    """What ``cache info --files`` shows of one entry: its cell, where it was measured, and the
    files it depends on."""

    scenario: str
    kind: str
    env: str
    source: str
    depends: list[Dependency]


@dataclass
class CacheStats:
    """What a run's cache did: hits (cells, saves), entries stored, entries ignored (with why)."""

    hits: int = 0
    save_hits: int = 0
    stored: int = 0
    rejected: list[str] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)

    def stale_line(self) -> str | None:
        """One line saying which cells run again because a file they read changed, e.g.
        ``cell cache: 3 cells run again: textlike.py changed`` (None when none did)."""
        if not self.stale:
            return None
        why: dict[str, int] = {}
        for _, what in self.stale:
            why[what] = why.get(what, 0) + 1
        shown = ", ".join(sorted(why, key=lambda w: (-why[w], w))[:8]) + (" …" if len(why) > 8 else "")
        count = len(self.stale)
        return f"cell cache: {count} {'cell runs' if count == 1 else 'cells run'} again: {shown}"


def cache_enabled() -> bool:
    """Whether runs use the cell cache: yes unless ``$HARNESS_CACHE`` is ``off`` (a run that must
    measure everything again and keep nothing, such as a test suite of the harness itself);
    :class:`BadInput` for a value other than ``on`` or ``off``."""
    value = os.environ.get("HARNESS_CACHE", "on").strip().lower()
    if value not in ("on", "off", ""):
        raise BadInput(f"$HARNESS_CACHE must be on or off, not {value[:40]!r}.")
    return value != "off"


def cache_root(envs_dir: Path) -> Path:
    """Where the cache of an envs folder lives."""
    return envs_dir / CACHE_FOLDER / f"v{CACHE_FORMAT}"


class CellCache:
    """The cache below an envs folder. Thread-safe; never raises for what it finds on disk.

    ``lookup`` returns an entry only when its key, format and HMAC check out (and, for a save, its
    files still match their hash); anything else is removed and named in ``stats.rejected``.
    ``store`` writes an entry atomically; a store that fails (disk full, read-only) is skipped.
    """

    def __init__(self, envs_dir: Path, enabled: bool = True):
        self.root = cache_root(envs_dir)
        self.enabled = enabled
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._secret: bytes | None = None
        self._digests: dict[tuple[str, int, int, int, int, int], str] = {}

    # ------------------------------------------------------------------ reading

    def lookup(self, key: CellIngredients) -> CachedPhase | None:
        """The entry for ``key``, checked, or None (a miss, or a cache turned off)."""
        if not self.enabled:
            return None
        digest = key.digest()
        path = self._entry_path(digest)
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        try:
            found = self._read_entry(path, digest, key)
        except _Gone:
            return None
        except FileNotFoundError:  # removed by another run between the look and the read
            return None
        except (ResultsError, OSError, ValueError) as exc:
            self._reject(path, digest, str(exc))
            return None
        changed = self._changed(found.depends)
        if changed is not None:  # stale, not tampered: the cell runs again and its new entry replaces this one
            with self._lock:
                self.stats.stale.append((key.scenario, changed))
            return None
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        with self._lock:
            if key.kind == "save":
                self.stats.save_hits += 1
            else:
                self.stats.hits += 1
        return found

    def _read_entry(self, path: Path, digest: str, key: CellIngredients) -> CachedPhase:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_ENTRY_BYTES + 1)
        if len(raw) > MAX_ENTRY_BYTES:
            raise ResultsError("it is larger than an entry may be")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ResultsError("it is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
            raise ResultsError("it is not an entry of this cache's format")
        mac = data.pop("mac", None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(data)):
            raise ResultsError("its HMAC does not match its content (changed after it was written)")
        if data.get("key") != json.loads(_canonical(to_dict(key))):
            raise ResultsError("it holds another cell's key")
        where = f"cache entry {digest[:12]}"
        outcome: PhaseOutcome = build_model(PhaseOutcome, data.get("outcome"), where)
        evidence: HostEvidence = build_model(HostEvidence, data.get("evidence") or {}, where)
        source, stored = data.get("source"), data.get("stored")
        if not isinstance(source, str) or not isinstance(stored, str):
            raise ResultsError("its source is not recorded")
        found = CachedPhase(outcome=outcome, evidence=evidence, source=source, stored=stored,
                            depends=_dependencies(data.get("depends")))
        if key.kind == "save" and outcome.ok:
            save_sha = data.get("save_sha256")
            if not isinstance(save_sha, str) or not _HEX.match(save_sha):
                raise ResultsError("the saved files' hash is not recorded")
            folder = self.root / "saves" / digest / save_sha
            try:
                files_hash, reference_hash = hash_tree(folder / "files"), _reference_hash(folder)
            except OSError:  # gone (pruned or replaced by another run meanwhile): a miss, not tampering
                raise _Gone() from None
            if files_hash != save_sha:
                raise ResultsError("its saved files changed after they were stored")
            if reference_hash != data.get("reference_sha256"):
                raise ResultsError("its reference values changed after they were stored")
            found.save_files, found.save_sha256 = folder, save_sha
        return found

    # ------------------------------------------------------------------ writing

    def store(self, key: CellIngredients, outcome: PhaseOutcome, evidence: HostEvidence, source: str,
              depends: list[Dependency] | None, save_folder: Path | None = None, save_sha256: str = "") -> None:
        """Keep one phase's facts under ``key``, with the files it read (``depends``: see
        :meth:`dependencies`; None, not known in full: nothing is stored); for a successful save,
        also the files and reference values in ``save_folder`` (``files/``, ``reference.json``,
        ``reference.npz``)."""
        if not self.enabled or depends is None:
            return
        digest = key.digest()
        data: dict[str, Any] = {
            "format": CACHE_FORMAT,
            "key": to_dict(key),
            "outcome": to_dict(outcome),
            "evidence": to_dict(evidence),
            "source": source,
            "stored": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "depends": [to_dict(d) for d in depends],
        }
        try:
            if key.kind == "save" and outcome.ok and save_folder is not None:
                if not _HEX.match(save_sha256):
                    return
                data["save_sha256"] = save_sha256
                data["reference_sha256"] = self._store_save(digest, save_sha256, save_folder)
            data["mac"] = self._mac(data)
            path = self._entry_path(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, data)
            if key.kind == "save":
                self._drop_other_versions(digest, save_sha256 if "save_sha256" in data else None)
        except (OSError, ValueError):
            return  # a cache that cannot be written only costs the next run its reuse
        with self._lock:
            self.stats.stored += 1

    def dependencies(self, paths: list[str]) -> list[Dependency]:
        """The files at ``paths`` with their hashes as they are now."""
        return [Dependency(path, self.file_hash(path)) for path in sorted(set(paths))]

    def file_hash(self, path: str) -> str | None:
        """The sha256 of the regular file at ``path`` (None: missing, unreadable or not a regular
        file), remembered while its inode, size and times stay the same."""
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                return None
            mark = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
            with self._lock:
                known = self._digests.get(mark)
            if known is None:
                known = file_digest(Path(path))
                with self._lock:
                    self._digests[mark] = known
            return known
        except OSError:
            return None

    def _changed(self, depends: list[Dependency]) -> str | None:
        """How the first file of ``depends`` that is not as it was differs (``model.py changed``,
        ``data.npy vanished``), or None when all are unchanged."""
        for dependency in depends:
            now = self.file_hash(dependency.path)
            if now != dependency.sha256:
                name = Path(dependency.path).name
                return f"{name} {'vanished' if now is None else 'appeared' if dependency.sha256 is None else 'changed'}"
        return None

    def _store_save(self, digest: str, save_sha256: str, save_folder: Path) -> str:
        """Copy a save's files and reference values into ``saves/<digest>/<save_sha256>/``: made
        in a folder of its own and renamed into place (a folder already there holds the same
        files: it is kept). Returns the reference values' hash."""
        parent = self.root / "saves" / digest
        parent.mkdir(parents=True, exist_ok=True)
        target = parent / save_sha256
        building = parent / f".new-{uuid.uuid4().hex}"
        try:
            building.mkdir()
            _clone_save(save_folder, building)
            reference = _reference_hash(building)
            try:
                os.rename(building, target)
            except OSError:  # another run stored these very files first
                if not target.is_dir():
                    raise
        finally:
            _remove_quietly(building)
        return reference

    def _drop_other_versions(self, digest: str, keep: str | None) -> None:
        """Remove the files of earlier stores under one key (other file hashes), quietly."""
        try:
            versions = [entry.name for entry in os.scandir(self.root / "saves" / digest)]
        except OSError:
            return
        for name in versions:
            if name != keep and not name.startswith("."):
                _remove_quietly(self.root / "saves" / digest / name)

    def _reject(self, path: Path, digest: str, why: str) -> None:
        with self._lock:
            self.stats.rejected.append(f"cache entry {digest[:12]} ignored: {why}")
        try:
            path.unlink()
        except OSError:
            pass
        _remove_quietly(self.root / "saves" / digest)

    # ------------------------------------------------------------------ bounding

    def entries(self) -> Iterator[tuple[Path, float, int]]:
        """Every entry file with its last use (mtime) and its bytes on disk, its saved files included."""
        cells = self.root / "cells"
        try:
            subs = sorted(cells.iterdir()) if cells.is_dir() else []
        except OSError:  # cleared by another command meanwhile
            return
        for sub in subs:
            try:
                paths = sorted(sub.glob("*.json")) if sub.is_dir() else []
            except OSError:
                continue
            for path in paths:
                try:
                    info = path.stat()
                    saved = disk_usage(self.root / "saves" / path.stem)
                except OSError:  # gone under the walk: another run pruned or replaced it
                    continue
                yield path, info.st_mtime, info.st_blocks * 512 + saved

    def summaries(self) -> Iterator[EntrySummary]:
        """Every readable entry, summarised (an unreadable or foreign one is passed over: a lookup
        would reject it)."""
        for path, _, _ in self.entries():
            try:
                with open(path, "rb") as handle:
                    data = json.loads(handle.read(MAX_ENTRY_BYTES + 1))
                key = data["key"]
                yield EntrySummary(scenario=str(key["scenario"]), kind=str(key["kind"]), env=str(key.get("env", "")),
                                   source=str(data.get("source", "")), depends=_dependencies(data.get("depends")))
            except (OSError, ValueError, KeyError, TypeError, ResultsError):
                continue

    def size(self) -> tuple[int, int]:
        """(entries, bytes on disk)."""
        count = total = 0
        for _, _, size in self.entries():
            count, total = count + 1, total + size
        return count, total

    def prune(self, max_bytes: int = DEFAULT_MAX_BYTES, older_than_s: float | None = None) -> tuple[int, int]:
        """Remove entries, least recently used first, until the cache holds at most ``max_bytes``,
        and every entry unused for ``older_than_s``; returns (entries removed, bytes freed)."""
        found = sorted(self.entries(), key=lambda item: item[1])
        total = sum(size for _, _, size in found)
        now = time.time()
        removed = freed = 0
        for path, used, size in found:
            stale = older_than_s is not None and now - used > older_than_s
            if total <= max_bytes and not stale:
                continue
            try:
                path.unlink()
            except OSError:
                continue
            _remove_quietly(self.root / "saves" / path.stem)
            removed, freed, total = removed + 1, freed + size, total - size
        return removed, freed

    def clear(self) -> None:
        """Remove every entry (the secret stays)."""
        _remove_quietly(self.root / "cells")
        _remove_quietly(self.root / "saves")

    # ------------------------------------------------------------------ helpers

    def _entry_path(self, digest: str) -> Path:
        return self.root / "cells" / digest[:2] / f"{digest}.json"

    def _mac(self, data: dict[str, Any]) -> str:
        return hmac.new(self._key(), _canonical(data), hashlib.sha256).hexdigest()

    def _key(self) -> bytes:
        with self._lock:
            if self._secret is None:
                self._secret = _load_secret(self.root / "secret")
            return self._secret


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str, what: str = "$HARNESS_CACHE_MAX") -> int:
    """A size such as ``500M``, ``8G`` or ``123456`` (bytes), as bytes; 0 for an empty text.
    :class:`BadInput` for anything else."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return 0
    unit = text[-1] if text[-1] in _UNITS else ""
    number = text[: len(text) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise BadInput(f"{what} must be a size such as 500M or 8G, not {text!r}.")
    if int(value * _UNITS[unit]) < 1:  # it would round to 0, which means the default
        raise BadInput(f"{what} must be at least one byte, such as 500M or 8G, not {text!r}.")
    return int(value * _UNITS[unit])


def cache_bound() -> int:
    """The cell cache's bound in bytes: ``$HARNESS_CACHE_MAX`` (``500M``, ``8G``), else the default;
    :class:`BadInput` for a value that is not a size."""
    return parse_size(os.environ.get("HARNESS_CACHE_MAX", "")) or DEFAULT_MAX_BYTES


#: The reference values a save leaves beside its files.
REFERENCE_FILES = ("reference.json", "reference.npz")


def _reference_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in REFERENCE_FILES:
        path = folder / name
        digest.update(name.encode() + b"\0")
        if path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def artifact_hash(save_sha256: str, save_folder: Path) -> str:
    """What a load reads from a save: its files' hash and its reference values."""
    return hashlib.sha256(f"{save_sha256}\0{_reference_hash(save_folder)}".encode()).hexdigest()


def restore_save(cached: CachedPhase, target: Path) -> None:
    """Put a cached save's files and reference values into a run's save folder ``target``: a copy
    of the run's own (a reflink where the file system has them), so no load of the run can write
    into the cache's. Raises OSError when it cannot."""
    assert cached.save_files is not None
    _clone_save(cached.save_files, target)


def _clone_save(source: Path, target: Path) -> None:
    """A save's ``files/`` and reference values, from the save folder ``source`` into ``target``,
    sharing no inode with them (:func:`~harness.paths.clone_tree`)."""
    clone_tree(source / "files", target / "files")
    for name in REFERENCE_FILES:
        if (source / name).is_file():
            clone_file(source / name, target / name)


class _Gone(Exception):
    """What an entry names vanished under the lookup (another run's prune or store): a miss."""


_HEX = re.compile(r"^[0-9a-f]{64}$")


def _remove_quietly(path: Path) -> None:
    """Remove ``path`` whole: renamed away first (a reader sees it whole or not at all), then
    removed; whatever is already gone, or cannot be removed, is left."""
    aside = path.parent / f".removing-{uuid.uuid4().hex}"
    try:
        os.rename(path, aside)
    except OSError:
        return
    try:
        remove_tree(aside)
    except OSError:
        pass


def _dependencies(value: Any) -> list[Dependency]:
    """An entry's ``depends`` list, checked (the HMAC vouches for it; its shape is checked still)."""
    if not isinstance(value, list):
        raise ResultsError("the files it depends on are not recorded")
    found: list[Dependency] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not isinstance(item.get("sha256"), (str, type(None))):
            raise ResultsError("a file it depends on is not recorded as a path and a hash")
        found.append(Dependency(item["path"], item["sha256"]))
    return found


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _load_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "rb") as handle:
            value = handle.read(256)
        if len(value) >= 32:
            return value
    except OSError:
        pass
    value = secrets.token_bytes(32)
    try:
        write_atomic(path, lambda handle: handle.write(value))
        os.chmod(path, 0o600)
        with open(path, "rb") as handle:  # another run may have written its own first: use what is there
            kept = handle.read(256)
        return kept if len(kept) >= 32 else value
    except OSError:
        return value
