"""File anatomies stored once per distinct file: packing cells' file evidence into a table keyed
by the files' sha256, and unpacking it back.

Many cells hold the same file (every load of one save, for a start), and an anatomy lists every
array of a model: stored per cell, it was most of a run's results. The stored form of a cell keeps
``file_refs`` (the path it saw, and the digest); the anatomy itself is stored once, under that
digest, with the path of the first cell that held it. Unpacking gives each cell its own record
again, with its own path (also inside the error text, where an unreadable file's error names it),
so what reads the results sees what a cell saw, as before.

Pure functions: where the table lives (inside results.json, or side files in the run folder) is
decided by :mod:`harness.evidence.codec` and :mod:`harness.evidence.run_folder`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Iterable

from harness.evidence.model import Cell, FileRecord, FileRef

#: Where a distinct file's anatomy is kept in a run folder, relative to it.
ANATOMY_DIR = "anatomy"
#: What a digest is: 64 lowercase hex digits (it names a side file, so never anything else).
DIGEST = re.compile(r"^[0-9a-f]{64}$")


def side_name(digest: str) -> str:
    """``anatomy/<digest>.json``, the run-folder-relative side file of one anatomy."""
    if not DIGEST.match(digest):
        raise ValueError(f"not a sha256 digest: {digest[:80]!r}")
    return f"{ANATOMY_DIR}/{digest}.json"


def pack_cell(cell: Cell, table: dict[str, FileRecord]) -> Cell:
    """The stored form of a cell: its files as references; every hashed file's anatomy is added
    to ``table`` (kept as first seen)."""
    if not cell.files:
        return cell
    refs = []
    for record in cell.files:
        if record.sha256 and DIGEST.match(record.sha256):
            table.setdefault(record.sha256, record)
            refs.append(FileRef(path=record.path, sha256=record.sha256))
        else:
            refs.append(FileRef(path=record.path, record=record))
    return dataclasses.replace(cell, files=[], file_refs=refs)


def pack_cells(cells: Iterable[Cell]) -> tuple[list[Cell], dict[str, FileRecord]]:
    """Every cell's stored form, and the table of distinct anatomies they refer to."""
    table: dict[str, FileRecord] = {}
    packed = [pack_cell(cell, table) for cell in cells]
    return packed, table


def unpack_cell(cell: Cell, lookup: Callable[[str], FileRecord | None]) -> None:
    """Give a stored cell its files back whole (in place), each under the path the cell saw.
    ``lookup`` returns the anatomy of a digest, or None when it is nowhere to be found: the file
    is then shown with an error saying so, not dropped."""
    if not cell.file_refs:
        return
    files = list(cell.files)
    for ref in cell.file_refs:
        if ref.record is not None:
            files.append(dataclasses.replace(ref.record, path=ref.path))
            continue
        found = lookup(ref.sha256)
        if found is None:
            files.append(FileRecord(path=ref.path, format="unknown", sha256=ref.sha256 or None,
                                    error=f"its anatomy (sha256 {ref.sha256[:12]}…) is missing from the stored results"))
            continue
        files.append(as_seen(found, ref.path))
    cell.files, cell.file_refs = files, []


def as_seen(record: FileRecord, path: str) -> FileRecord:
    """A stored anatomy as the cell holding it at ``path`` saw it (its path, also in its error)."""
    error = record.error.replace(record.path, path) if record.error and record.path else record.error
    return dataclasses.replace(record, path=path, error=error)
