"""A remapped copy of saved weights: the target model's own layout with every variable group filled
from the one group of the source file whose arrays have exactly its shapes.

The source is only ever opened read-only (the inner weights of a ``.keras`` zip too), and never
written through a name: the copy is built in a temporary file created exclusively (``O_EXCL``,
no link followed) under an unpredictable name in the target's folder, and put in place with a
hard link, which fails rather than replace anything already there.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.evidence.model import MappingRecord


def write_remapped(source: Path, own_layout: Path, entries: list[MappingRecord], out: Path) -> None:
    """Copy the target's own layout to ``out`` and fill each group from its matched source group.

    Raises :class:`BadInput` when ``out`` exists already (a link included) or is the source.
    """
    import h5py

    _refuse_target(source, out)
    descriptor, partial_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    partial = Path(partial_name)
    try:
        with os.fdopen(descriptor, "r+b") as handle:
            os.fchmod(handle.fileno(), 0o644)
            with open(own_layout, "rb") as layout:
                shutil.copyfileobj(layout, handle)
            handle.flush()
            handle.seek(0)
            with _open_source(source) as src, h5py.File(handle, "r+") as dst:
                for entry in entries:
                    assert entry.target_group and entry.source_group
                    target_arrays = _ordered_datasets(dst[entry.target_group])
                    source_arrays = _ordered_source(src, entry.source_group)
                    for target, array in zip(target_arrays, source_arrays):
                        target[...] = array[()]
            os.fsync(handle.fileno())
        _put_in_place(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def _refuse_target(source: Path, out: Path) -> None:
    if os.path.lexists(out):
        raise BadInput(f"{str(out)!r} exists already; it is never overwritten.")
    if out.resolve() == source.resolve():
        raise BadInput(f"{str(out)!r} is the file being read; it is never written.")


def _put_in_place(partial: Path, out: Path) -> None:
    """Give the finished copy its name, never replacing what is there (a file system without hard
    links gets a rename after one more check)."""
    try:
        os.link(partial, out, follow_symlinks=False)
    except FileExistsError:
        raise BadInput(f"{str(out)!r} appeared while the copy was written; it is never overwritten.") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        _refuse_target(partial, out)
        os.rename(partial, out)


class _open_source:
    """The source file's HDF5 content, read-only (the inner weights of a .keras zip too)."""

    def __init__(self, path: Path):
        self.path = path
        self.file: Any = None
        self.handle: Any = None

    def __enter__(self) -> Any:
        import h5py

        self.handle = open(self.path, "rb")
        try:
            if zipfile.is_zipfile(self.handle):
                with zipfile.ZipFile(self.handle) as archive:
                    self.file = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
            else:
                self.file = h5py.File(self.handle, "r")
        except BaseException:
            self.handle.close()
            raise
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        self.handle.close()


def _ordered_datasets(group: Any) -> list[Any]:
    import h5py

    items = [(name, item) for name, item in group.items() if isinstance(item, h5py.Dataset)]
    return [item for _, item in sorted(items, key=lambda pair: (0, int(pair[0])) if pair[0].isdigit() else (1, pair[0]))]


def _ordered_source(file: Any, group_path: str) -> list[Any]:
    group = file[group_path]
    names = group.attrs.get("weight_names")
    if names is not None and len(names):  # legacy h5: the order Keras wrote
        return [group[n.decode() if isinstance(n, bytes) else str(n)] for n in names]
    return _ordered_datasets(group)
