"""Where things are: the checkout or the installed package's own files, the per-user cache, the one
rule for new output folders, and folder trees walked, copied and removed without recursion.

Two situations: run from this checkout (``noxfile.py`` and ``scenarios/`` beside the package),
everything stays in the checkout as it always did; installed as a tool (a wheel), the scenario
library and the templates come from the package itself, envs go to a per-user cache and run
folders to ``reports/runs/`` under the current folder (or the config file's). Every module that
needs a location asks here; nothing else computes it from ``__file__``. A scenario may leave any
tree behind (thousands of levels deep, folders it locked): :func:`walk_tree` and
:func:`copy_tree` stop at :data:`MAX_TREE_DEPTH` levels with :class:`TreeTooDeep`, and
:func:`remove_tree` removes a tree of any depth.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Callable, Iterator

from harness.errors import BadInput

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent
#: Run from a checkout of this repository (an editable install counts), not from an installed wheel.
IN_CHECKOUT = (REPO_ROOT / "noxfile.py").is_file() and (REPO_ROOT / "scenarios").is_dir()
SCENARIOS = REPO_ROOT / "scenarios" if IN_CHECKOUT else PACKAGE / "library"
TEMPLATES = REPO_ROOT / "reports" / "templates" if IN_CHECKOUT else PACKAGE / "templates"
WORKER_SCRIPT = PACKAGE / "run" / "worker.py"


def runs_dir(base: Path | None = None) -> Path:
    """Where run folders go by default: ``reports/runs/`` in the checkout, else under ``base`` (the
    config file's folder) or the current folder."""
    if IN_CHECKOUT and base is None:
        return REPO_ROOT / "reports" / "runs"
    return (base or Path.cwd()).absolute() / "reports" / "runs"


def default_envs_dir() -> Path:
    """``$HARNESS_ENVS_DIR``; else ``.harness/envs`` in the checkout, or the per-user cache
    (``$XDG_CACHE_HOME/keras-compat/envs``, by default ``~/.cache/keras-compat/envs``)."""
    configured = os.environ.get("HARNESS_ENVS_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    if IN_CHECKOUT:
        return REPO_ROOT / ".harness" / "envs"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().resolve() / "keras-compat" / "envs"


def new_output_folder(prefix: str = "", base: Path | None = None) -> Path:
    """A folder under :func:`runs_dir` named ``<prefix><UTC time>`` that does not exist yet
    (``-2``, ``-3``, … appended when another run took that name in the same second)."""
    root = runs_dir(base)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = root / f"{prefix}{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{prefix}{stamp}-{suffix}"
    return candidate


def check_output_folder(folder: Path) -> None:
    """Refuse (:class:`BadInput`) an output folder that is not a new or empty real folder."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise BadInput(f"The output folder {str(folder)!r} is not a folder.")
    if folder.exists() and any(folder.iterdir()):
        raise BadInput(f"The output folder {str(folder)!r} is not empty; choose another --out.")


def shown_path(path: Path) -> str:
    """A path as reports print it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


#: How many folder levels below its top :func:`walk_tree` and :func:`copy_tree` go.
MAX_TREE_DEPTH = 64


class TreeTooDeep(OSError):
    """A folder tree nests deeper than :data:`MAX_TREE_DEPTH` levels; the message names where."""


@dataclass(frozen=True)
class TreeItem:
    """One entry of a folder tree: its path, its path relative to the top, and what it is
    (``dir``, ``file``, ``link`` for a symbolic link, ``other`` for anything else); never
    followed through a link."""

    path: Path
    relative: PurePath
    kind: str


def walk_tree(top: Path, max_depth: int = MAX_TREE_DEPTH) -> Iterator[TreeItem]:
    """Every entry below ``top``, folder by folder in name order (a folder before what it holds),
    without recursion and without following symbolic links.

    Raises :class:`TreeTooDeep` on reaching a folder more than ``max_depth`` levels below
    ``top`` that holds anything, and :class:`OSError` for a folder that cannot be listed.
    """
    stack = [iter(_listing(top, PurePath(), 0, max_depth))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        yield item
        if item.kind == "dir":
            stack.append(iter(_listing(item.path, item.relative, len(item.relative.parts), max_depth)))


def _listing(folder: Path, relative: PurePath, depth: int, max_depth: int) -> list[TreeItem]:
    with os.scandir(folder) as entries:
        items = [TreeItem(folder / e.name, relative / e.name, _kind(e)) for e in entries]
    if items and depth >= max_depth:
        raise TreeTooDeep(errno.ELOOP, f"a folder tree nested deeper than {max_depth} levels", str(folder))
    return sorted(items, key=lambda item: item.relative.name)


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


def copy_tree(source: Path, target: Path, max_depth: int = MAX_TREE_DEPTH,
              copy_file: Callable[[Path, Path], object] | None = None) -> None:
    """Copy what is below ``source`` into the folder ``target`` (made if missing): folders,
    regular files with their modes and times (each by ``copy_file``, default a plain copy), and
    symbolic links as links (never followed); anything else (a FIFO, a socket) is left out.
    Raises :class:`TreeTooDeep` as :func:`walk_tree`."""
    target.mkdir(parents=True, exist_ok=True)
    for item in walk_tree(source, max_depth):
        copied = target / item.relative
        if item.kind == "dir":
            copied.mkdir(exist_ok=True)
        elif item.kind == "file":
            if copy_file is None:
                shutil.copy2(item.path, copied, follow_symlinks=False)
            else:
                copy_file(item.path, copied)
        elif item.kind == "link":
            os.symlink(os.readlink(item.path), copied)


#: ``FICLONE`` from linux/fs.h: the ioctl that makes a reflink (a copy-on-write clone of a file).
_FICLONE = 0x40049409


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, read a MiB at a time: the one hash of file contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LinkedFile:
    """A file :func:`link_tree` made in a target folder, sharing ``source``'s bytes: what the
    source looked like when it was linked (inode, size, modification and change times), to tell
    later whether anything wrote into it. ``how`` is ``link``, ``reflink`` or ``copy``."""

    path: Path
    source: Path
    inode: int
    size: int
    mtime_ns: int
    how: str
    ctime_ns: int = 0

    def changed(self, sha256: str | None = None) -> str | None:
        """How the source changed since it was linked (None when it did not). Cheap while its
        inode, size and times are as they were. A write can put the modification time back
        (``os.utime``) but not the change time; the change time also moves when another link to
        the file is made or removed, so a file whose change time moved is read and compared with
        ``sha256`` (its digest when linked), and without one it counts as changed."""
        try:
            now = os.lstat(self.source)
        except OSError as exc:
            return f"it can no longer be read ({exc.strerror})"
        if now.st_ino != self.inode:
            return "it was replaced by another file"
        if now.st_size != self.size:
            return f"its size changed from {self.size} to {now.st_size} bytes"
        if now.st_mtime_ns != self.mtime_ns:
            return "it was written to (its modification time changed)"
        if now.st_ctime_ns != self.ctime_ns:
            try:
                same = sha256 is not None and file_digest(self.source) == sha256
            except OSError as exc:
                return f"it can no longer be read ({exc.strerror})"
            if not same:
                return "it was written to (its bytes changed, its modification time was put back)"
        return None


def link_tree(source: Path, target: Path, max_depth: int = MAX_TREE_DEPTH) -> list[LinkedFile]:
    """Make the folder ``target`` hold what ``source`` holds without copying bytes where the
    filesystem allows it: each regular file is a hard link to the source file, else a reflink,
    else (another filesystem) a copy; folders are made, symbolic links copied as links, anything
    else left out. A hard link shares the file itself, so whoever writes into it writes into the
    source: callers keep what is returned and ask :meth:`LinkedFile.changed` afterwards.
    Raises :class:`TreeTooDeep` as :func:`walk_tree`."""
    target.mkdir(parents=True, exist_ok=True)
    linked: list[LinkedFile] = []
    for item in walk_tree(source, max_depth):
        made = target / item.relative
        if item.kind == "dir":
            made.mkdir(exist_ok=True)
        elif item.kind == "link":
            os.symlink(os.readlink(item.path), made)
        elif item.kind == "file":
            how = share_file(item.path, made)
            state = os.lstat(item.path)
            linked.append(LinkedFile(made, item.path, state.st_ino, state.st_size, state.st_mtime_ns, how, state.st_ctime_ns))
    return linked


def share_file(source: Path, target: Path) -> str:
    """Hard link ``target`` to ``source``; else a reflink; else a copy. Returns which."""
    try:
        os.link(source, target, follow_symlinks=False)
        return "link"
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    return clone_file(source, target)


def clone_file(source: Path, target: Path) -> str:
    """A copy of ``source`` at ``target`` that shares no inode with it: a reflink (copy on write)
    where the file system has them, else a plain copy. Returns which."""
    try:
        import fcntl

        with open(source, "rb") as src, open(target, "xb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        shutil.copystat(source, target, follow_symlinks=False)
        return "reflink"
    except OSError:
        target.unlink(missing_ok=True)
    shutil.copy2(source, target, follow_symlinks=False)
    return "copy"


def clone_tree(source: Path, target: Path, max_depth: int = MAX_TREE_DEPTH) -> None:
    """:func:`copy_tree`, each regular file a :func:`clone_file`: nothing written into ``target``
    reaches ``source``, and the reverse."""
    copy_tree(source, target, max_depth, copy_file=clone_file)


def make_writable(top: Path) -> None:
    """Give the owner write permission on every file and folder below ``top`` (a private copy
    of read-only files, made to be written)."""
    for item in walk_tree(top):
        if item.kind in ("file", "dir"):
            mode = os.lstat(item.path).st_mode
            os.chmod(item.path, (mode | 0o200) & 0o7777)


def disk_usage(top: Path) -> int:
    """The bytes ``top`` takes on disk: real blocks (``st_blocks``), each file counted once
    however many hard links it has, links not followed; 0 for a missing folder."""
    if not top.is_dir():
        return 0
    seen: set[tuple[int, int]] = set()
    total = os.lstat(top).st_blocks * 512
    for item in walk_tree(top, max_depth=1 << 16):
        state = os.lstat(item.path)
        if (state.st_dev, state.st_ino) in seen:
            continue
        seen.add((state.st_dev, state.st_ino))
        total += state.st_blocks * 512
    return total


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, however deep, never following a symbolic link.

    No recursion and no long paths: the folders inside are emptied into ``path`` level by level,
    with two folders open at a time; a folder its owner made unreadable is made readable first.
    A missing ``path`` is no error; a symbolic link or a file there is removed itself.
    """
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        os.unlink(path)
        return
    try:
        _empty_folder(top)
    finally:
        os.close(top)
    os.rmdir(path)


def _empty_folder(top: int) -> None:
    """Remove everything in the open folder ``top``: files at once, and each folder inside after
    moving what it holds up into ``top`` (under fresh names), until only files were left."""
    while True:
        with os.scandir(top) as entries:
            listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        folders = [name for name, is_dir in listed if is_dir]
        for name, is_dir in listed:
            if not is_dir:
                os.unlink(name, dir_fd=top)
        if not folders:
            return
        for name in folders:
            inner = _open_folder(name, top)
            try:
                with os.scandir(inner) as entries:
                    names = [entry.name for entry in entries]
                for child in names:
                    os.rename(child, f".removing-{uuid.uuid4().hex}", src_dir_fd=inner, dst_dir_fd=top)
            finally:
                os.close(inner)
            os.rmdir(name, dir_fd=top)


def _open_folder(name: str, parent: int) -> int:
    """Open a folder being removed, made readable and writable for its owner first."""
    try:
        os.chmod(name, 0o700, dir_fd=parent)
    except OSError:
        pass
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, a regular file reached without following a link, of at most
    ``max_bytes``: opened without blocking (a FIFO never hangs), checked on the open descriptor,
    read no further than the bound (a link to ``/dev/zero`` or a file that grows reads no more).
    Anything else is an :class:`OSError` saying what it is."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        if info.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"it is larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(errno.EFBIG, f"it is larger than {max_bytes} bytes")
    return data
