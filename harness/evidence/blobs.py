"""The run folder's content-addressed store: every saved file's bytes kept once per scenario,
under their sha256, however many saves (or imported saves) of that scenario hold the same bytes.
Saves of different scenarios never share a blob, so a load that writes into its save can damage
no other scenario's.

Layout: ``blobs/<scope>/sha256/<first two hex digits>/<the whole hex digest>``, one regular file
per distinct content of a scenario (``<scope>``: a hash of the scenario id), made read-only. A
file that has other names outside the save (its link count says so: a fixture the save linked)
is copied into its blob, never made read-only or linked itself. A save's ``files/`` keeps its tree of names, each file a hard
link to its blob, and the save folder's ``manifest.json`` lists them (:class:`Manifest`). A blob
is never written after it is made: loads read it through hard links (see
:func:`harness.paths.link_tree`), and one found written into is forgotten (:meth:`BlobStore.forget`)
so that no later save links to damaged bytes.

Digests are cached by (device, inode, size, modification time), so a file linked into many work
folders is hashed once.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.evidence.codec import build_model, read_json_file, to_dict, write_json_atomic
from harness.paths import clone_file, file_digest, walk_tree

MANIFEST_FILE = "manifest.json"
_READ_ONLY = 0o444


@dataclass
class BlobEntry:
    """One file of a save: its path below ``files/``, its size and the digest naming its blob."""

    path: str
    sha256: str
    size: int


@dataclass
class Manifest:
    """What a save's ``files/`` holds, file by file (``manifest.json``)."""

    files: list[BlobEntry] = field(default_factory=list)

    @property
    def digests(self) -> set[str]:
        return {entry.sha256 for entry in self.files}


class BlobStore:
    """``blobs/sha256/`` of one run folder. Safe to share between the run's threads."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._digests: dict[tuple[int, int, int, int], str] = {}

    def blob_path(self, digest: str, scope: str) -> Path:
        """Where the blob of ``digest`` is kept for the scenario ``scope``."""
        return self.root / _scope_folder(scope) / "sha256" / digest[:2] / digest

    def digest(self, path: Path) -> str:
        """The sha256 of a file, from the cache when the same inode, size and time were hashed."""
        state = os.stat(path)
        key = (state.st_dev, state.st_ino, state.st_size, state.st_mtime_ns)
        with self._lock:
            known = self._digests.get(key)
        if known is not None:
            return known
        digest = file_digest(path)
        with self._lock:
            self._digests[key] = digest
        return digest

    def ingest(self, folder: Path, scope: str) -> Manifest:
        """Put every regular file below ``folder`` into the store of the scenario ``scope`` and
        replace it by a hard link to its blob (the same bytes, now read-only). A file with other
        links (it lives elsewhere too) is copied into its blob first. Raises :class:`OSError` (or
        :class:`~harness.paths.TreeTooDeep`) for a tree that cannot be read; what was already
        linked stays linked."""
        manifest = Manifest()
        for item in walk_tree(folder):
            if item.kind != "file":
                continue
            digest = self.digest(item.path)
            blob = self.blob_path(digest, scope)
            with self._lock:
                if not blob.is_file():
                    blob.parent.mkdir(parents=True, exist_ok=True)
                    if os.lstat(item.path).st_nlink > 1:  # not the save's alone: its bytes are copied, it is left as it is
                        _clone_replacing(item.path, blob)
                        os.chmod(blob, _READ_ONLY)
                        _link_replacing(blob, item.path)
                    else:
                        os.chmod(item.path, _READ_ONLY)
                        _link_replacing(item.path, blob)
                else:
                    _link_replacing(blob, item.path)
                state = os.stat(blob)
                self._digests[(state.st_dev, state.st_ino, state.st_size, state.st_mtime_ns)] = digest
            manifest.files.append(BlobEntry(path=item.relative.as_posix(), sha256=digest, size=state.st_size))
        return manifest

    def forget(self, digest: str, scope: str) -> None:
        """Take a blob of the scenario ``scope`` out of the store (its bytes were found changed):
        the next file of that digest makes a fresh blob. Save folders still linking to the old
        bytes no longer match their recorded hash, so a resumed run makes those saves again."""
        with self._lock:
            self.blob_path(digest, scope).unlink(missing_ok=True)
            self._digests = {k: v for k, v in self._digests.items() if v != digest}


def _scope_folder(scope: str) -> str:
    """The folder of a scenario's blobs: a hash of its id (any id is a safe name then)."""
    return "s-" + hashlib.sha256(scope.encode()).hexdigest()[:16]


def write_manifest(path: Path, manifest: Manifest) -> None:
    write_json_atomic(path, to_dict(manifest))


def read_manifest(path: Path) -> Manifest | None:
    """A save's manifest, checked like any stored record; None when it is missing or does not
    check out (a save made before the store existed has none)."""
    try:
        manifest: Manifest = build_model(Manifest, read_json_file(path, "save manifest"), str(path))
    except Exception:  # ResultsError for a bad record; nothing here is worth stopping a run for
        return None
    return manifest


def _clone_replacing(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source`` (sharing no inode) in one step."""
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        clone_file(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _link_replacing(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` in one step (replacing what ``target`` was)."""
    temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    os.link(source, temporary)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
