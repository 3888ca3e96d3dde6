"""The run folder: every file name in it, every finished cell on disk the moment it finishes, and
results.json built from them.

Layout of a run folder::

    run.json                 what was asked: options, pairings, scenarios (written at start, updated)
    cells/<slug>.json        one file per finished cell, written atomically
    cells/rejected/          files found in cells/ that are not this run's cells, set aside
    artifacts/<scenario>/<pairing>/files/   what a cross-version save wrote (never modified later):
                             each file a read-only hard link to its blob
    artifacts/<scenario>/<pairing>/manifest.json  each file of files/ with its size and sha256
    artifacts/<scenario>/<pairing>/save.json     how the save ended, with a content hash of files/
    artifacts/<scenario>/<pairing>/reference.json, reference.npz   the values save() returned
    blobs/sha256/<ab>/<abcd…>  every saved file's bytes, once per distinct content
    anatomy/<sha256>.json    the anatomy of one distinct saved file (cells and results.json name it)
    evidence/<sha256>.txt    a long cell text kept out of results.json past its size budget
    work/<slug>/             a cell's private work folder; a load's holds hard links to the save's
                             files (a LOAD_WRITES load gets a copy, removed once its evidence is taken)
    phases/<slug>/<op>/      a phase's result.json and output.log
    logs/worker-<pairing>.log   worker logs
    results.json, index.html, summary.md, junit.xml   written at the end
    expect.md                the run against its expected verdicts (--expect, --fail-on), when asked for

A run killed at any moment keeps every cell file already written; :meth:`RunStore.assemble`
rebuilds the results from whatever is there. A scenario can write anywhere, so a file in
``cells/`` that is not one of the run's cells is never the end of the run: it is left out and
named (and, by the run itself, set aside into ``cells/rejected/``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.errors import BadInput, ResultsError
from harness.evidence.anatomy import MAX_BYTES, anatomy_or_error
from harness.evidence.anatomy_table import as_seen, pack_cell, unpack_cell
from harness.evidence.blobs import BlobStore
from harness.evidence.codec import (
    READABLE_SCHEMAS,
    build_model,
    cell_from_dict,
    cell_misfit,
    check_records,
    read_anatomy_side,
    read_json_file,
    to_dict,
    visible,
    write_anatomy_side,
    write_json_atomic,
    write_results,
)
from harness.evidence.model import SCHEMA_VERSION, Cell, FileRecord, PairingRecord, Results, RunInfo, ScenarioRecord
from harness.paths import check_output_folder, remove_tree, walk_tree
from harness.plan.cells import CellKey

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
HTML_FILE, MARKDOWN_FILE, JUNIT_FILE = "index.html", "summary.md", "junit.xml"
EXPECT_FILE = "expect.md"
SAVE_RECORD = "save.json"
_SLUG_RE = re.compile(r"[^A-Za-z0-9._+-]+")


def cell_slug(key: CellKey) -> str:
    """A file-name-safe, unique name for a cell."""
    readable = f"{key.scenario}--{key.saved_with + '--' if key.saved_with else ''}{key.pairing}"
    digest = hashlib.sha256(readable.encode()).hexdigest()[:10]
    return f"{_SLUG_RE.sub('_', readable)[:150]}-{digest}"


def hash_tree(folder: Path) -> str:
    """A content hash of every regular file below ``folder`` (names and bytes).

    Raises :class:`~harness.paths.TreeTooDeep` for a tree deeper than the walk goes, and
    :class:`OSError` for one that cannot be read.
    """
    digest = hashlib.sha256()
    for item in walk_tree(folder):
        if item.kind != "file":
            continue
        digest.update(os.fsencode(item.relative) + b"\0")
        with open(item.path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class SaveFolder:
    """Where one cross-version save lives: ``root`` is ``artifacts/<scenario>/<pairing>``."""

    root: Path

    @property
    def files(self) -> Path:
        """What ``save(workdir)`` wrote; loads get a copy, never this folder itself."""
        return self.root / "files"

    @property
    def record(self) -> Path:
        return self.root / SAVE_RECORD

    @property
    def reference(self) -> Path:
        """The stem of the reference values (the worker adds ``.json`` and ``.npz``)."""
        return self.root / "reference"

    @property
    def reference_index(self) -> Path:
        return self.root / "reference.json"

    @property
    def result(self) -> Path:
        return self.root / "save.result.json"

    @property
    def output(self) -> Path:
        return self.root / "save.output.log"


@dataclass(frozen=True)
class PhasePaths:
    """The result and output files of one phase of a cell."""

    result: Path
    output: Path


class RunStore:
    """One run folder. Creating it refuses a folder that already holds something.

    ``owner`` is true for the run that writes the folder (a new run, or a resumed one): only the
    owner sets aside what does not belong in it. ``note`` receives one line for each file left
    out (stderr by default).
    """

    def __init__(self, root: Path, owner: bool = False, note: Callable[[str], None] = _to_stderr):
        self.root = root
        self.owner = owner
        self.note = note
        self.cells_dir = root / "cells"
        self.artifacts_dir = root / "artifacts"
        self.work_dir = root / "work"
        self.phases_dir = root / "phases"
        self.logs_dir = root / "logs"
        self.blobs = BlobStore(root / "blobs")
        self._anatomies: dict[str, FileRecord] = {}
        self._anatomy_lock = threading.Lock()

    @classmethod
    def create(cls, root: Path) -> RunStore:
        """Claim a new or empty folder for a new run.

        The claim is one ``mkdir`` of ``cells/``, which only one process can make: of runs racing
        for one folder exactly one gets it, and the others get :class:`BadInput`, as for a folder
        that already holds something.
        """
        check_output_folder(root)
        store = cls(root, owner=True)
        try:
            root.mkdir(parents=True, exist_ok=True)
            store.cells_dir.mkdir()
        except FileExistsError:
            raise BadInput(f"The output folder {str(root)!r} was just taken by another run; choose another --out.") from None
        except OSError as exc:
            raise BadInput(f"The output folder {str(root)!r} cannot be created: {exc.strerror}.") from None
        try:
            for folder in (store.artifacts_dir, store.work_dir, store.phases_dir, store.logs_dir):
                folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise BadInput(f"The output folder {str(root)!r} cannot be written: {exc.strerror}.") from None
        return store

    @classmethod
    def open(cls, root: Path, owner: bool = False) -> RunStore:
        """An existing run folder (its run.json must be readable); ``owner`` for a resumed run."""
        if root.is_symlink() or not (root / RUN_FILE).is_file():
            raise ResultsError(f"{str(root)!r} is not a run folder (no {RUN_FILE}).")
        return cls(root, owner=owner)

    @staticmethod
    def is_run_folder(folder: Path) -> bool:
        """A folder holding a run's record (it may lack results.json: a run killed early)."""
        return folder.is_dir() and not folder.is_symlink() and (folder / RUN_FILE).is_file()

    # ------------------------------------------------------------------ metadata

    def write_meta(self, run: RunInfo, pairings: list[PairingRecord], scenarios: list[ScenarioRecord]) -> None:
        write_json_atomic(
            self.root / RUN_FILE,
            {"schema": SCHEMA_VERSION, "run": to_dict(run), "pairings": to_dict(pairings), "scenarios": to_dict(scenarios)},
        )

    def read_meta(self) -> tuple[RunInfo, list[PairingRecord], list[ScenarioRecord]]:
        """The run's record, checked like any untrusted input (schema, types, plain ids)."""
        where = str(self.root / RUN_FILE)
        data = read_json_file(self.root / RUN_FILE, "run file")
        if not isinstance(data, dict):
            raise ResultsError(f"{where}: the top level must be a JSON object.")
        if isinstance(data.get("schema"), bool) or data.get("schema") not in READABLE_SCHEMAS:
            readable = " and ".join(str(v) for v in READABLE_SCHEMAS)
            raise ResultsError(f"{where}: schema version {data.get('schema')!r} is not supported; this harness reads schema {readable}.")
        run = build_model(RunInfo, data.get("run"), where)
        pairings = [build_model(PairingRecord, p, where) for p in _list(data.get("pairings"), where)]
        scenarios = [build_model(ScenarioRecord, s, where) for s in _list(data.get("scenarios"), where)]
        check_records(run, pairings, scenarios, where)
        return run, pairings, scenarios

    # ------------------------------------------------------------------ cells

    def write_cell(self, cell: Cell) -> None:
        """Persist a finished cell atomically (replacing an earlier file of the same cell). Its
        files' anatomies go to ``anatomy/`` once per distinct file; the cell file names them."""
        table: dict[str, FileRecord] = {}
        stored = pack_cell(cell, table)
        for record in table.values():
            write_anatomy_side(self.root, record)
        data = {"schema": SCHEMA_VERSION, **to_dict(stored)}
        write_json_atomic(self.cells_dir / f"{cell_slug(cell.key)}.json", data)

    def read_cells(self) -> list[Cell]:
        """Every cell of the run that its ``cells/`` folder holds.

        A ``*.json`` file there that is not one of the run's cells (unreadable, not a cell record,
        a cell of a scenario or pairing the run does not have, or a file not named as its cell's
        file is, such as a second file of one cell) is left out and named through ``note``; the
        run's owner also moves it into ``cells/rejected/``. Raises :class:`ResultsError` only when
        run.json is unreadable or ``cells/`` is a symbolic link.
        """
        _, pairings, scenarios = self.read_meta()
        return self._read_cells(pairings, scenarios)

    def _read_cells(self, pairings: list[PairingRecord], scenarios: list[ScenarioRecord]) -> list[Cell]:
        if self.cells_dir.is_symlink():
            raise ResultsError(f"{self.cells_dir}: a symbolic link where the cell files should be is refused.")
        if not self.cells_dir.is_dir():
            return []
        kinds = {s.id: s.kind for s in scenarios}
        pairing_ids = {p.id for p in pairings}
        cells: list[Cell] = []
        sides: dict[str, FileRecord | None] = {}

        def lookup(digest: str) -> FileRecord | None:
            if digest not in sides:
                sides[digest] = read_anatomy_side(self.root, digest)
            return sides[digest]

        for path in sorted(self.cells_dir.glob("*.json")):
            try:
                cell = cell_from_dict(read_json_file(path, "cell file"), str(path))
                problem = cell_misfit(cell, kinds, pairing_ids)
                if problem is None and path.name != f"{cell_slug(cell.key)}.json":
                    problem = f"it holds the cell {cell.key.text!r}, whose file is {cell_slug(cell.key)}.json"
                if problem is not None:
                    raise ResultsError(f"{path}: {problem}.")
            except ResultsError as exc:
                self._set_aside(path, str(exc))
                continue
            unpack_cell(cell, lookup)
            cells.append(cell)
        return cells

    def _set_aside(self, path: Path, problem: str) -> None:
        """Leave a file of ``cells/`` out, naming it; the owner moves it into ``cells/rejected/``."""
        where = "left out"
        if self.owner:
            rejected = self.cells_dir / "rejected"
            target = rejected / path.name
            suffix = 1
            try:
                rejected.mkdir(exist_ok=True)
                while os.path.lexists(target):
                    suffix += 1
                    target = rejected / f"{path.name}.{suffix}"
                os.rename(path, target)
                where = f"set aside as {self.relative(target)}"
            except OSError as exc:
                where = f"left out (it could not be set aside: {exc.strerror})"
        shown = self.relative(path)
        line = " ".join(visible(problem.replace(str(path), shown).replace(f"{shown}: ", "", 1)).split())
        self.note(f"harness: {shown} is not a cell of this run, {where}: {line}")

    def assemble(self, order: Iterable[CellKey] = ()) -> Results:
        """Build the run's results from run.json and the cell files, in ``order`` where given."""
        run, pairings, scenarios = self.read_meta()
        cells = {c.key: c for c in self._read_cells(pairings, scenarios)}
        ordered: list[Cell] = []
        for key in order:
            found = cells.pop(key, None)
            if found is not None:
                ordered.append(found)
        ordered.extend(cells[k] for k in sorted(cells, key=lambda k: k.text))
        return Results(run=run, pairings=pairings, scenarios=scenarios, cells=ordered)

    def write_results(self, results: Results) -> Path:
        """results.json in its stored form (anatomies once per distinct file; past the budget,
        the side files of ``anatomy/``)."""
        path = self.root / RESULTS_FILE
        write_results(path, results)
        return path

    def anatomy_of(self, path: Path, shown: str) -> FileRecord:
        """The anatomy of a saved file as a cell shows it (see
        :func:`~harness.evidence.anatomy.anatomy_or_error`), with the sha256 of its bytes. A
        file whose bytes were already read (another cell's link to the same save) is not read
        again. A file that cannot be hashed, or that is over the anatomy's cap (never read), has
        no digest."""
        try:
            digest: str | None = self.blobs.digest(path) if os.lstat(path).st_size <= MAX_BYTES else None
        except OSError:
            digest = None
        if digest is not None:
            with self._anatomy_lock:
                known = self._anatomies.get(digest)
            if known is not None:
                return as_seen(known, visible(shown))
        record = anatomy_or_error(path, shown)
        record.sha256 = digest
        if digest is not None:
            with self._anatomy_lock:
                self._anatomies.setdefault(digest, record)
        return record

    # ------------------------------------------------------------------ folders

    def phase_paths(self, key: CellKey, op: str) -> PhasePaths:
        """The result and output files of one phase of a cell, in a fresh, empty folder."""
        phase = self.phases_dir / cell_slug(key) / op
        remove_tree(phase)
        phase.mkdir(parents=True)
        return PhasePaths(result=phase / "result.json", output=phase / "output.log")

    def workdir_path(self, key: CellKey) -> Path:
        return self.work_dir / cell_slug(key)

    def fresh_workdir(self, key: CellKey) -> Path:
        """The cell's work folder, emptied of whatever an earlier attempt left (of any depth)."""
        work = self.workdir_path(key)
        remove_tree(work)
        work.mkdir(parents=True)
        return work

    def save_folder(self, scenario: str, pairing: str) -> SaveFolder:
        return SaveFolder(self.artifacts_dir / scenario / pairing)

    def worker_log(self, pairing: str) -> Path:
        return self.logs_dir / f"worker-{pairing}.log"

    def relative(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def shown(self, path: Path) -> str:
        """A path as the report shows it: relative to the run folder when inside it, with what
        UTF-8 cannot carry escaped (see :func:`~harness.evidence.codec.visible`)."""
        try:
            return visible(str(path.resolve().relative_to(self.root.resolve())))
        except (ValueError, OSError, RuntimeError):  # outside the run, or a link loop
            return visible(str(path))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ResultsError(f"{where}: expected a list.")
    return value
