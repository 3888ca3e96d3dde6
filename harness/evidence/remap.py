"""A remapped copy of saved weights: the target model's own layout with every variable group filled
from the one group of the source file whose arrays have exactly its shapes.

The source is only ever opened read-only (the inner weights of a ``.keras`` zip too).
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

from harness.evidence.model import MappingRecord


def write_remapped(source: Path, own_layout: Path, entries: list[MappingRecord], out: Path) -> None:
    """Copy the target's own layout to ``out`` and fill each group from its matched source group."""
    import h5py

    partial = out.with_name(f".{out.name}.partial")
    shutil.copyfile(own_layout, partial)
    try:
        with _open_source(source) as src, h5py.File(partial, "r+") as dst:
            for entry in entries:
                assert entry.target_group and entry.source_group
                target_arrays = _ordered_datasets(dst[entry.target_group])
                source_arrays = _ordered_source(src, entry.source_group)
                for target, array in zip(target_arrays, source_arrays):
                    target[...] = array[()]
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


class _open_source:
    """The source file's HDF5 content, read-only (the inner weights of a .keras zip too)."""

    def __init__(self, path: Path):
        self.path = path
        self.file: Any = None

    def __enter__(self) -> Any:
        import h5py

        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                self.file = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        else:
            self.file = h5py.File(self.path, "r")
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()


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
