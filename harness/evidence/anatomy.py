"""The anatomy of saved model files, read on the host with h5py: which groups hold which arrays.

Supported: Keras 3 ``.weights.h5`` (variables under ``.../vars/0..n``), legacy HDF5 ``.h5``
(``model_weights/<layer>`` with a ``weight_names`` attribute, plus ``keras_version`` and
``backend``), ``.keras`` zips (``config.json``, ``metadata.json``, ``model.weights.h5``), and
TensorFlow SavedModel folders (:func:`read_saved_model`: the writer's versions only).

Reading is read-only and metadata-only: shapes and dtypes, never array data, never anything
executed, and no link followed (a soft or external link where Keras writes a group or an array
makes the file unreadable). Files over :data:`MAX_BYTES` are refused without being read; a zip
member is read in chunks, counting the bytes it really inflates to, up to the same cap. A file
that is not what it claims (whatever h5py, zipfile or json raise for it) gives an
:class:`AnatomyError` (one sentence) or, inside a run, a recorded error. Paths are shown with
what UTF-8 cannot carry escaped.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

from harness.errors import AnatomyError
from harness.evidence.codec import visible
from harness.evidence.model import ArrayRecord, FileRecord, GroupRecord
from harness.paths import walk_tree

MAX_BYTES = 512 * 1024 * 1024
MAX_ARRAYS = 5000
MAX_JSON_BYTES = 16 * 1024 * 1024
SAVED_SUFFIXES = (".h5", ".hdf5", ".keras")
#: How much of a zip member is inflated at a time.
_CHUNK = 1 << 16
#: The compression methods a .keras file's members use (stored, deflated); others are not inflated.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
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
    """The anatomy of one file; raises :class:`AnatomyError` when it cannot be read, whatever
    the reason (ImportError when h5py is missing)."""
    shown = visible(str(path))
    if path.is_symlink() or not path.is_file():
        raise AnatomyError(f"{shown!r} is not a regular file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise AnatomyError(f"{shown!r} is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.1f} MiB cap; it was not read.")
    with open(path, "rb") as handle:
        head = handle.read(8)
        if not head.startswith(b"PK") and head != b"\x89HDF\r\n\x1a\n":
            raise AnatomyError(f"{shown!r} is neither an HDF5 file nor a .keras zip.")
        try:
            if head.startswith(b"PK"):
                return _read_keras_zip(handle, shown, size, max_bytes)
            handle.seek(0)
            return _read_hdf5(handle, shown, size)
        except (AnatomyError, ImportError):
            raise
        except Exception as exc:  # h5py, zipfile, zlib and json raise many kinds for a hostile file
            raise AnatomyError(f"{shown!r} cannot be read ({type(exc).__name__}: {_first_line(exc)}).") from None


#: The files of a SavedModel folder read for the writer's versions, and how much of each.
_SAVED_MODEL_PB = "saved_model.pb"
_KERAS_METADATA_PB = "keras_metadata.pb"
_MAX_PB_BYTES = 64 * 1024 * 1024
#: ``"keras_version": "2.15.0"`` in the JSON that tf.keras 2 keeps in ``keras_metadata.pb``.
_KERAS_VERSION_JSON = re.compile(rb'"keras_version":\s*"([0-9A-Za-z.+-]{1,40})"')
#: ``MetaInfoDef.tensorflow_version`` (field 5, a string) followed by ``tensorflow_git_version``
#: (field 6) in ``saved_model.pb``.
_TF_VERSION_PB = re.compile(rb"\x2a([\x03-\x28])")


def is_saved_model(path: Path) -> bool:
    """Whether ``path`` is a SavedModel folder: a real folder (no link) holding ``saved_model.pb``."""
    return path.is_dir() and not path.is_symlink() and (path / _SAVED_MODEL_PB).is_file()


def read_saved_model(folder: Path, max_bytes: int = MAX_BYTES) -> FileRecord:
    """The anatomy of a TensorFlow SavedModel folder (tf.keras 2's ``model.save(dir)``,
    ``tf.saved_model.save``, Keras 3's ``model.export``): its size, and the writer's versions
    where the folder records them: Keras's from ``keras_metadata.pb`` (tf.keras 2 only), and
    TensorFlow's from ``saved_model.pb``. Nothing in it is run or deserialised; only regular files
    are read, no link is followed. :class:`AnatomyError` for a folder that is none, or too large."""
    shown = visible(str(folder))
    if not is_saved_model(folder):
        raise AnatomyError(f"{shown!r} is not a SavedModel folder (no {_SAVED_MODEL_PB} in it).")
    size = 0
    try:
        for item in walk_tree(folder):
            if item.kind == "file":
                size += os.lstat(item.path).st_size
            elif item.kind != "dir":
                raise AnatomyError(f"{shown!r} holds {item.relative.as_posix()!r}, which is not a regular file or folder.")
            if size > max_bytes:
                raise AnatomyError(f"{shown!r} is over the {max_bytes / 2**20:.1f} MiB cap; it was not read.")
    except OSError as exc:
        raise AnatomyError(f"{shown!r} cannot be read ({exc.strerror or exc}).") from None
    record = FileRecord(path=shown, format="tensorflow SavedModel", size=size)
    metadata = _bounded_bytes(folder / _KERAS_METADATA_PB)
    found = _KERAS_VERSION_JSON.search(metadata) if metadata else None
    record.keras_version = found.group(1).decode("ascii") if found else None
    record.tensorflow_version = _tensorflow_version(_bounded_bytes(folder / _SAVED_MODEL_PB))
    return record


def _bounded_bytes(path: Path) -> bytes:
    """The bytes of a regular file (no link) of at most :data:`_MAX_PB_BYTES`; b"" otherwise."""
    try:
        if path.is_symlink() or not path.is_file():
            return b""
        with open(path, "rb") as handle:
            data = handle.read(_MAX_PB_BYTES + 1)
    except OSError:
        return b""
    return data if len(data) <= _MAX_PB_BYTES else b""


def _tensorflow_version(data: bytes) -> str | None:
    """The TensorFlow version a ``saved_model.pb`` was written by: a length-prefixed string of
    field 5 that reads as a version, followed by field 6 (the git version)."""
    for match in _TF_VERSION_PB.finditer(data):
        start, length = match.end(), match.group(1)[0]
        text, after = data[start:start + length], data[start + length:start + length + 1]
        if after == b"\x32" and re.fullmatch(rb"\d+\.\d+\.\d+[0-9A-Za-z.+-]*", text):
            return text.decode("ascii")
    return None


def anatomy_or_error(path: Path, shown: str, max_bytes: int = MAX_BYTES) -> FileRecord:
    """Like :func:`read_anatomy` but never raises for what the file holds: an unreadable file is
    recorded as such, with the error (for cells)."""
    shown = visible(shown)
    try:
        anatomy = read_anatomy(path, max_bytes)
    except ImportError:
        anatomy = FileRecord(path=shown, format="unknown", size=_size(path), error="h5py is not installed on the host")
    except Exception as exc:  # AnatomyError, or the file vanished or cannot be opened
        error = str(exc) if isinstance(exc, AnatomyError) else f"{type(exc).__name__}: {_first_line(exc)}"
        anatomy = FileRecord(path=shown, format="unreadable", size=_size(path), error=error.replace(visible(str(path)), shown))
    anatomy.path = shown
    return anatomy


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def saved_files(folder: Path) -> list[Path]:
    """The saved model files below a folder (no symlinks followed), sorted.

    Raises :class:`~harness.paths.TreeTooDeep` for a tree deeper than the walk goes, and
    :class:`OSError` for one that cannot be listed.
    """
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(item.path for item in walk_tree(folder) if item.kind == "file" and item.path.suffix in SAVED_SUFFIXES)


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
        weights = _hard_linked(file, "model_weights", shown)
        if weights is not None:
            anatomy.format = "legacy h5 (whole model)"
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
        group = _hard_linked(root, layer_name, anatomy.path)
        if not isinstance(group, h5py.Group):
            continue
        arrays = []
        for weight_name in _attr_list(group.attrs, "weight_names"):
            item = _hard_linked(group, weight_name, anatomy.path)
            if isinstance(item, h5py.Dataset):
                arrays.append(ArrayRecord(f"{group.name.lstrip('/')}/{weight_name}", list(item.shape), str(item.dtype)))
        anatomy.arrays.extend(arrays)
        if arrays:
            anatomy.groups.append(_group(group.name.lstrip("/"), arrays, layer_name))
        if len(anatomy.arrays) > MAX_ARRAYS:
            anatomy.truncated = True
            return


def _hard_linked(group: Any, name: str, shown: str) -> Any:
    """The object ``name`` links to in ``group`` through hard links only (None when missing);
    :class:`AnatomyError` for a soft or external link, which Keras never writes and which can
    dangle, loop or point into another file."""
    import h5py

    parent = group
    for part in [p for p in name.split("/") if p]:
        link = parent.get(part, getlink=True) if isinstance(parent, h5py.Group) else None
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise AnatomyError(f"{shown!r}: {name!r} is reached through a {type(link).__name__}, which Keras never writes; "
                               "it is not followed.")
        parent = parent[part]
    return parent


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


def _read_keras_zip(handle: Any, shown: str, size: int, max_bytes: int) -> FileRecord:
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile:
        raise AnatomyError(f"{shown!r} looks like a zip but cannot be opened as one.") from None
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        anatomy = FileRecord(path=shown, format=".keras zip", size=size)
        metadata = _zip_json(archive, members, "metadata.json", shown)
        if isinstance(metadata, dict):
            anatomy.keras_version = _text(metadata.get("keras_version"))
            anatomy.backend = _text(metadata.get("backend"))
            anatomy.date_saved = _text(metadata.get("date_saved"))
        weights = members.get("model.weights.h5")
        if weights is None:
            raise AnatomyError(f"{shown!r} is a zip without model.weights.h5, so not a .keras model file.")
        if weights.file_size > max_bytes:
            raise AnatomyError(f"{shown!r}: its model.weights.h5 is {weights.file_size / 2**20:.1f} MiB, over the cap; not read.")
        data = _read_member(archive, weights, max_bytes, shown)
        inner = _read_hdf5(io.BytesIO(data), f"{shown}!model.weights.h5", len(data))
        anatomy.arrays, anatomy.groups, anatomy.truncated = inner.arrays, inner.groups, inner.truncated
        return anatomy


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, shown: str) -> bytes:
    """A zip member's bytes, inflated a chunk at a time and counted as they come: more than
    ``cap`` bytes (whatever the member declares) is an :class:`AnatomyError`, as is a
    compression method a .keras file does not use (their inflation cannot be bounded here)."""
    if info.compress_type not in _ZIP_METHODS:
        raise AnatomyError(f"{shown!r}: its {info.filename} uses zip compression method {info.compress_type}, "
                           "which .keras files do not use; not read.")
    data = io.BytesIO()
    with archive.open(info) as member:
        for chunk in iter(lambda: member.read(_CHUNK), b""):
            if data.tell() + len(chunk) > cap:
                raise AnatomyError(f"{shown!r}: its {info.filename} inflates to more than {cap / 2**20:.1f} MiB; "
                                   "it was not read further.")
            data.write(chunk)
    return data.getvalue()


def _zip_json(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str, shown: str) -> Any:
    info = members.get(name)
    if info is None or info.file_size > MAX_JSON_BYTES:
        return None
    text = _read_member(archive, info, MAX_JSON_BYTES, shown)
    try:
        return json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AnatomyError(f"{shown!r}: its {name} is not valid JSON (or is nested too deeply to read).") from None


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
