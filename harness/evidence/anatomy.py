"""The anatomy of saved model files, read on the host with h5py: which groups hold which arrays.

Supported: Keras 3 ``.weights.h5`` (variables under ``.../vars/0..n``), legacy HDF5 ``.h5``
(``model_weights/<layer>`` with a ``weight_names`` attribute, plus ``keras_version`` and
``backend``), and ``.keras`` zips (``config.json``, ``metadata.json``, ``model.weights.h5``).

Reading is read-only and metadata-only: shapes and dtypes, never array data, never anything
executed. Files over :data:`MAX_BYTES` are refused without being read. A file that is not what
it claims gives an :class:`AnatomyError` (one sentence) or, inside a run, a recorded error.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

from harness.errors import AnatomyError
from harness.evidence.model import ArrayRecord, FileRecord, GroupRecord

MAX_BYTES = 512 * 1024 * 1024
MAX_ARRAYS = 5000
MAX_JSON_BYTES = 16 * 1024 * 1024
SAVED_SUFFIXES = (".h5", ".hdf5", ".keras")
_NUMERIC = re.compile(r"^\d+$")


def group_shapes(group: GroupRecord) -> list[tuple[int, ...]]:
    return [tuple(a.shape) for a in group.arrays]


def group_span(path: str, arrays: list[ArrayRecord]) -> str:
    """``layers/gru/cell/vars/0..2`` for numbered variables, else the group path."""
    names = [a.path.rsplit("/", 1)[-1] for a in arrays]
    if names and all(_NUMERIC.match(n) for n in names):
        return f"{path}/{names[0]}..{names[-1]}" if len(names) > 1 else f"{path}/{names[0]}"
    return path


def _group(path: str, arrays: list[ArrayRecord], name: str | None) -> GroupRecord:
    return GroupRecord(path=path, arrays=arrays, name=name, span=group_span(path, arrays))


def read_anatomy(path: Path, max_bytes: int = MAX_BYTES) -> FileRecord:
    """The anatomy of one file; raises :class:`AnatomyError` when it cannot be read."""
    if path.is_symlink() or not path.is_file():
        raise AnatomyError(f"{str(path)!r} is not a regular file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise AnatomyError(f"{str(path)!r} is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.1f} MiB cap; it was not read.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK"):
        return _read_keras_zip(path, size, max_bytes)
    if head != b"\x89HDF\r\n\x1a\n":
        raise AnatomyError(f"{str(path)!r} is neither an HDF5 file nor a .keras zip.")
    with open(path, "rb") as handle:
        anatomy = _read_hdf5(handle, str(path), size)
    return anatomy


def anatomy_or_error(path: Path, shown: str, max_bytes: int = MAX_BYTES) -> FileRecord:
    """Like :func:`read_anatomy` but never raises: errors are recorded (for cells)."""
    try:
        anatomy = read_anatomy(path, max_bytes)
    except AnatomyError as exc:
        size = path.stat().st_size if path.is_file() else 0
        anatomy = FileRecord(path=shown, format="unreadable", size=size, error=str(exc).replace(str(path), shown))
    except ImportError:
        anatomy = FileRecord(path=shown, format="unknown", size=path.stat().st_size, error="h5py is not installed on the host")
    anatomy.path = shown
    return anatomy


def saved_files(folder: Path) -> list[Path]:
    """The saved model files below a folder (no symlinks followed), sorted."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = [p for p in folder.rglob("*") if p.suffix in SAVED_SUFFIXES and p.is_file() and not p.is_symlink()]
    return sorted(found)


def format_anatomy(anatomy: FileRecord) -> str:
    """The anatomy as text, one line per group and array."""
    lines = [f"{anatomy.path}: {anatomy.format}, {anatomy.size} bytes"]
    meta = [f"{k} {v}" for k, v in (("keras", anatomy.keras_version), ("backend", anatomy.backend),
                                    ("saved", anatomy.date_saved)) if v]
    if meta:
        lines.append("  written by " + ", ".join(meta))
    if anatomy.error:
        lines.append(f"  error: {anatomy.error}")
    for group in anatomy.groups:
        label = f"  {group.path}" + (f"  (name: {group.name})" if group.name else "")
        lines.append(label)
        for array in group.arrays:
            lines.append(f"    {array.path.rsplit('/', 1)[-1]:<24} {tuple(array.shape)!s:<16} {array.dtype}")
    if anatomy.truncated:
        lines.append(f"  … more than {MAX_ARRAYS} arrays; the rest are not listed")
    return "\n".join(lines)


# --------------------------------------------------------------------------- readers


def _read_hdf5(handle: Any, shown: str, size: int) -> FileRecord:
    import h5py

    try:
        file = h5py.File(handle, "r")
    except (OSError, ValueError) as exc:
        raise AnatomyError(f"{shown!r} is a damaged or truncated HDF5 file ({_first_line(exc)}).") from None
    with file:
        anatomy = FileRecord(path=shown, format="hdf5", size=size)
        attrs = file.attrs
        anatomy.keras_version = _attr_text(attrs, "keras_version")
        anatomy.backend = _attr_text(attrs, "backend")
        if "model_weights" in file:
            anatomy.format = "legacy h5 (whole model)"
            weights = file["model_weights"]
            anatomy.keras_version = anatomy.keras_version or _attr_text(weights.attrs, "keras_version")
            anatomy.backend = anatomy.backend or _attr_text(weights.attrs, "backend")
            _legacy_groups(weights, anatomy)
        elif "layer_names" in attrs:
            anatomy.format = "legacy h5 (weights)"
            _legacy_groups(file, anatomy)
        else:
            anatomy.format = "keras 3 weights (.weights.h5)"
            _keras3_groups(file, anatomy)
        return anatomy


def _legacy_groups(root: Any, anatomy: FileRecord) -> None:
    import h5py

    for layer_name in _attr_list(root.attrs, "layer_names"):
        if layer_name not in root:
            continue
        group = root[layer_name]
        arrays = []
        for weight_name in _attr_list(group.attrs, "weight_names"):
            item = group.get(weight_name)
            if isinstance(item, h5py.Dataset):
                arrays.append(ArrayRecord(f"{group.name.lstrip('/')}/{weight_name}", list(item.shape), str(item.dtype)))
        anatomy.arrays.extend(arrays)
        if arrays:
            anatomy.groups.append(_group(group.name.lstrip("/"), arrays, layer_name))
        if len(anatomy.arrays) > MAX_ARRAYS:
            anatomy.truncated = True
            return


def _keras3_groups(file: Any, anatomy: FileRecord) -> None:
    import h5py

    holders: dict[str, list[ArrayRecord]] = {}
    names: dict[str, str | None] = {}

    def visit(name: str, item: Any) -> Any:
        if isinstance(item, h5py.Dataset):
            parent = name.rsplit("/", 1)[0] if "/" in name else ""
            holders.setdefault(parent, []).append(ArrayRecord(name, list(item.shape), str(item.dtype)))
            if parent not in names:
                names[parent] = _attr_text(file[parent].attrs, "name") if parent else None
            if sum(len(v) for v in holders.values()) > MAX_ARRAYS:
                anatomy.truncated = True
                return True
        return None

    file.visititems(visit)
    for parent in sorted(holders):
        arrays = sorted(holders[parent], key=lambda a: _order_key(a.path.rsplit("/", 1)[-1]))
        anatomy.arrays.extend(arrays)
        anatomy.groups.append(_group(parent, arrays, names.get(parent)))


def _read_keras_zip(path: Path, size: int, max_bytes: int) -> FileRecord:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise AnatomyError(f"{str(path)!r} looks like a zip but cannot be opened as one.") from None
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        anatomy = FileRecord(path=str(path), format=".keras zip", size=size)
        metadata = _zip_json(archive, members, "metadata.json", path)
        if isinstance(metadata, dict):
            anatomy.keras_version = _text(metadata.get("keras_version"))
            anatomy.backend = _text(metadata.get("backend"))
            anatomy.date_saved = _text(metadata.get("date_saved"))
        weights = members.get("model.weights.h5")
        if weights is None:
            raise AnatomyError(f"{str(path)!r} is a zip without model.weights.h5, so not a .keras model file.")
        if weights.file_size > max_bytes:
            raise AnatomyError(f"{str(path)!r}: its model.weights.h5 is {weights.file_size / 2**20:.1f} MiB, over the cap; not read.")
        inner = _read_hdf5(io.BytesIO(archive.read(weights)), f"{path}!model.weights.h5", weights.file_size)
        anatomy.arrays, anatomy.groups, anatomy.truncated = inner.arrays, inner.groups, inner.truncated
        return anatomy


def _zip_json(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str, path: Path) -> Any:
    info = members.get(name)
    if info is None or info.file_size > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(archive.read(info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise AnatomyError(f"{str(path)!r}: its {name} is not valid JSON.") from None


def _order_key(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if _NUMERIC.match(name) else (1, name)


def _attr_text(attrs: Any, key: str) -> str | None:
    if key not in attrs:
        return None
    return _text(attrs[key])


def _attr_list(attrs: Any, key: str) -> list[str]:
    if key not in attrs:
        return []
    value = attrs[key]
    items: Iterable[Any] = value if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
    return [t for t in (_text(v) for v in items) if t]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
