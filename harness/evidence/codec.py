"""The JSON form of the result model, and reading it back without trusting it.

Reading never trusts a file: every field is checked against the model's types and anything
else (a truncated file, a wrong type, another schema version, NaN or a number too large to be
finite, a path where an id belongs, a cell the run cannot have) raises :class:`ResultsError` with
one sentence naming the file and the problem. Text that UTF-8 cannot carry (a lone surrogate,
from an exception message or a file name) is kept with those characters escaped visibly
(``\\udc80`` as six characters), so everything read can be written and rendered.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import tempfile
import typing
from enum import Enum
from functools import partial
from pathlib import Path
from typing import IO, Any, Callable, Union

from harness.errors import ResultsError
from harness.evidence.anatomy_table import DIGEST, pack_cells, side_name, unpack_cell
from harness.evidence.model import (
    READABLE_SCHEMAS,
    SAFE_ID,
    SCHEMA_VERSION,
    VERDICTS,
    AnatomyEntry,
    Cell,
    FileRecord,
    PairingRecord,
    Results,
    RunInfo,
    ScenarioRecord,
    SideText,
)
from harness.paths import read_regular_file
from harness.plan.cells import CellKey
from harness.plan.claims import KINDS
from harness.plan.pairings import BACKENDS
from harness.plan.scenarios import LINK, SCENARIO_ID

MAX_RESULTS_BYTES = 256 * 1024 * 1024
#: What results.json should stay within: its anatomy table is kept inside it up to
#: :data:`ANATOMY_INLINE_BYTES`, the rest goes to side files beside it.
RESULTS_BUDGET_BYTES = 5 * 1024 * 1024
ANATOMY_INLINE_BYTES = 1024 * 1024
#: When results.json would still pass its budget, every cell text longer than this goes to a side
#: file ``evidence/<sha256>.txt`` (each distinct text once).
SIDE_TEXT_BYTES = 2048
TEXT_DIR = "evidence"
#: The cell texts that may be kept in side files (``save.`` ones are the save record's).
SIDE_FIELDS = ("output_tail", "traceback", "message", "save.output_tail", "save.traceback", "save.message")
_SIDE_TEXT = re.compile(r"^evidence/[0-9a-f]{64}\.txt$")
#: A JSON escape of a UTF-16 surrogate: the only way JSON text read as UTF-8 can hold a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def visible(text: str) -> str:
    """``text`` unchanged when UTF-8 can encode it, else with each character it cannot (a lone
    surrogate) replaced by its escape as plain text: ``"a\\udc80"`` becomes ``"a\\\\udc80"``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def to_dict(obj: Any) -> Any:
    """Plain JSON-ready data for a model object (dataclasses, lists, dicts)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Enum):
        return obj.value
    return obj


def write_atomic(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write a file so a reader sees the old file or the new one, never a part of it.

    ``write`` fills a temporary file created exclusively (``O_EXCL``, no link followed) under an
    unpredictable name next to ``path``, which then replaces ``path``; when anything fails the
    temporary file is removed.
    """
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (see :func:`write_atomic`); NaN and infinities are refused."""
    text = json.dumps(data, indent=1, allow_nan=False)
    write_atomic(path, lambda handle: handle.write(text.encode("ascii")))


def write_results(path: Path, results: Results, inline_bytes: int = ANATOMY_INLINE_BYTES,
                  budget: int = RESULTS_BUDGET_BYTES) -> None:
    """Write a results.json atomically, in its stored form (:func:`stored_results`); anatomies
    past ``inline_bytes`` are side files in ``anatomy/`` beside it, and when the file would still
    be larger than ``budget``, so are the cells' long texts (in ``evidence/``)."""
    stored = stored_results(results, path.parent, inline_bytes)
    if len(json.dumps(to_dict(stored), indent=1)) > budget:
        stored = dataclasses.replace(stored, cells=[_texts_aside(cell, path.parent) for cell in stored.cells])
    write_json_atomic(path, to_dict(stored))


def _texts_aside(cell: Cell, folder: Path) -> Cell:
    """A stored cell with its texts longer than :data:`SIDE_TEXT_BYTES` in side files."""
    sides = list(cell.side_texts)
    changes: dict[str, Any] = {}
    save_changes: dict[str, Any] = {}
    for name in SIDE_FIELDS:
        owner, _, attr = name.rpartition(".")
        holder = cell.save if owner else cell
        text = getattr(holder, attr, None) if holder is not None else None
        if not isinstance(text, str) or len(text.encode("utf-8", "backslashreplace")) <= SIDE_TEXT_BYTES:
            continue
        data = text.encode("utf-8", "backslashreplace")
        digest = hashlib.sha256(data).hexdigest()
        side = f"{TEXT_DIR}/{digest}.txt"
        target = folder / side
        if not target.is_file():
            target.parent.mkdir(exist_ok=True)
            write_atomic(target, partial(_write_bytes, data))
        sides.append(SideText(field=name, side=side))
        (save_changes if owner else changes)[attr] = ""
    if save_changes and cell.save is not None:
        changes["save"] = dataclasses.replace(cell.save, **save_changes)
    return dataclasses.replace(cell, side_texts=sides, **changes) if sides != cell.side_texts else cell


def _write_bytes(data: bytes, handle: IO[bytes]) -> None:
    handle.write(data)


def _texts_back(cell: Cell, folder: Path | None, where: str) -> None:
    """Put a stored cell's side texts back (in place); a missing one says where it was."""
    for item in cell.side_texts:
        if item.field not in SIDE_FIELDS or not _SIDE_TEXT.match(item.side):
            raise ResultsError(f"{where}: the cell {cell.key.text!r} names the side text {item.side[:80]!r} "
                               f"for {item.field[:40]!r}, which is not one.")
        text = f"(kept in {item.side}, which is missing)"
        if folder is not None:
            try:  # a regular file, no link, bounded: a FIFO or a link to /dev/zero is not the text
                data = read_regular_file(folder / item.side, MAX_RESULTS_BYTES)
                if hashlib.sha256(data).hexdigest() == item.side[len(TEXT_DIR) + 1:-4]:
                    text = data.decode("utf-8", "replace")
                else:
                    text = f"(kept in {item.side}, which does not hold this text)"
            except OSError:
                text = f"(kept in {item.side}, which is missing or is not a regular file)"
        owner, _, attr = item.field.rpartition(".")
        holder = cell.save if owner else cell
        if holder is not None:
            setattr(holder, attr, text)
    cell.side_texts = []


def stored_results(results: Results, folder: Path, inline_bytes: int = ANATOMY_INLINE_BYTES) -> Results:
    """The stored form of a run: cells refer to a table of distinct file anatomies by sha256.
    The table holds each anatomy itself until their JSON reaches ``inline_bytes``; each one after
    that is a side file ``anatomy/<sha256>.json`` in ``folder`` (written unless already there,
    as a run folder has them from its cells) and its entry names that file."""
    cells, table = pack_cells(results.cells)
    entries: dict[str, AnatomyEntry] = {}
    used = 0
    for digest in sorted(table):
        record = table[digest]
        size = len(json.dumps(to_dict(record)))
        if used + size <= inline_bytes:
            used += size
            entries[digest] = AnatomyEntry(record=record)
            continue
        write_anatomy_side(folder, record)
        entries[digest] = AnatomyEntry(side=side_name(digest))
    return dataclasses.replace(results, cells=cells, anatomies=entries, schema=SCHEMA_VERSION)


def write_anatomy_side(folder: Path, record: FileRecord) -> Path:
    """Keep one anatomy as ``anatomy/<sha256>.json`` in ``folder`` (a side file written once)."""
    digest = record.sha256 or ""
    path = folder / side_name(digest)
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        write_json_atomic(path, to_dict(record))
    return path


def read_anatomy_side(folder: Path, digest: str) -> FileRecord | None:
    """The anatomy of a digest from its side file in ``folder``, checked (it must be the
    record of that digest); None when it is missing or does not check out."""
    if not DIGEST.match(digest):
        return None
    path = folder / side_name(digest)
    try:
        record: FileRecord = build_model(FileRecord, read_json_file(path, "anatomy file"), str(path))
    except ResultsError:
        return None
    return record if record.sha256 == digest else None


def read_json_file(path: Path, what: str = "results file") -> Any:
    """Read untrusted JSON: size-capped, regular files only, one-sentence errors."""
    try:
        if path.is_symlink() or not path.is_file():
            raise ResultsError(f"The {what} {str(path)!r} is not a regular file.")
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise ResultsError(f"The {what} {str(path)!r} is larger than {MAX_RESULTS_BYTES // 2**20} MiB.")
        text = read_regular_file(path, MAX_RESULTS_BYTES).decode("utf-8")
    except OSError as exc:
        raise ResultsError(f"Cannot read the {what} {str(path)!r}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise ResultsError(f"The {what} {str(path)!r} is not UTF-8 text.") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"The {what} {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except (RecursionError, ValueError) as exc:
        raise ResultsError(f"The {what} {str(path)!r} cannot be read: {str(exc).splitlines()[0][:200]}.") from None
    return _visible_strings(data) if _SURROGATE_ESCAPE.search(text) else data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"it holds {name}, which is not a number JSON allows")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"it holds {literal[:40]}, which is not a finite number")
    return value


def _visible_strings(data: Any) -> Any:
    """Parsed JSON with every string and key passed through :func:`visible` (iteratively: the
    parser allows deeper nesting than a recursive walk would)."""
    if isinstance(data, str):
        return visible(data)
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            for index, value in enumerate(item):
                if isinstance(value, str):
                    item[index] = visible(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
        elif isinstance(item, dict):
            for key, value in list(item.items()):
                if isinstance(value, str):
                    value = visible(value)
                elif isinstance(value, (list, dict)):
                    stack.append(value)
                fixed = visible(key)
                if fixed != key:
                    del item[key]
                item[fixed] = value
    return data


def read_results(path: Path) -> Results:
    """Load and validate a results.json (see :func:`results_from_dict`); side files are read
    from its folder."""
    return results_from_dict(read_json_file(path), str(path), path.parent)


def _schema_error(where: str, schema: Any) -> ResultsError:
    readable = " and ".join(str(v) for v in READABLE_SCHEMAS)
    return ResultsError(f"{where}: schema version {schema!r} is not supported; this harness reads schema {readable}.")


def results_from_dict(data: Any, where: str, folder: Path | None = None) -> Results:
    """Build :class:`Results` from untrusted data, checking every field's type, with every
    cell's files whole again (from the anatomy table, and side files in ``folder``)."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: the top level must be a JSON object.")
    schema = data.get("schema")
    if isinstance(schema, bool) or schema not in READABLE_SCHEMAS:
        raise _schema_error(where, schema)
    results = build_model(Results, data, where)
    _unpack(results, folder, where)
    check_records(results.run, results.pairings, results.scenarios, where)
    kinds = {s.id: s.kind for s in results.scenarios}
    pairings = {p.id for p in results.pairings}
    seen: set[CellKey] = set()
    for cell in results.cells:
        check_cell(cell, where)
        problem = cell_misfit(cell, kinds, pairings)
        if problem is not None:
            raise ResultsError(f"{where}: {problem}.")
        if cell.key in seen:
            raise ResultsError(f"{where}: the cell {cell.key.text!r} appears more than once.")
        seen.add(cell.key)
    return results


def _unpack(results: Results, folder: Path | None, where: str) -> None:
    """Every cell's files whole again; a side file is read at most once."""
    inline: dict[str, FileRecord] = {}
    sides: dict[str, str] = {}
    for digest, entry in results.anatomies.items():
        if not DIGEST.match(digest):
            raise ResultsError(f"{where}: the anatomy table has a key that is not a sha256 digest: {digest[:80]!r}.")
        if entry.record is not None:
            inline[digest] = entry.record
        elif entry.side is not None:
            if entry.side != side_name(digest):
                raise ResultsError(f"{where}: the anatomy of {digest[:12]}… names the side file {entry.side[:80]!r}, "
                                   f"which is not {side_name(digest)}.")
            sides[digest] = entry.side
    read: dict[str, FileRecord | None] = {}

    def lookup(digest: str) -> FileRecord | None:
        if digest in inline:
            return inline[digest]
        if digest not in sides or folder is None:
            return None
        if digest not in read:
            read[digest] = read_anatomy_side(folder, digest)
        return read[digest]

    for cell in results.cells:
        unpack_cell(cell, lookup)
        _texts_back(cell, folder, where)
    results.anatomies = {}


def cell_from_dict(data: Any, where: str) -> Cell:
    """A stored cell record (its files still as references: see
    :func:`harness.evidence.anatomy_table.unpack_cell`)."""
    if isinstance(data, dict) and data.get("schema", SCHEMA_VERSION) not in READABLE_SCHEMAS:
        raise _schema_error(where, data.get("schema"))
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "schema"}
    cell = build_model(Cell, data, where)
    check_cell(cell, where)
    return cell


def check_records(run: RunInfo, pairings: list[PairingRecord], scenarios: list[ScenarioRecord], where: str) -> None:
    """What the types cannot say: ids are plain names (never paths), links are http(s),
    backends are known, tolerances are finite."""
    for pairing in pairings:
        _check_id(pairing.id, SAFE_ID, where, "pairing id")
        for name, value in (("backend", pairing.backend), ("requested backend", pairing.requested.backend)):
            if value not in BACKENDS:
                raise ResultsError(f"{where}: pairing {pairing.id!r} has the unknown {name} {value!r}.")
    for scenario in scenarios:
        _check_id(scenario.id, SCENARIO_ID, where, "scenario id")
        for link in [*scenario.links, *(c.link for c in scenario.claims)]:
            if not LINK.match(link):
                raise ResultsError(f"{where}: scenario {scenario.id!r} has a link that is not http(s): {link[:80]!r}.")
        for claim in scenario.claims:
            if claim.kind not in KINDS:
                raise ResultsError(f"{where}: scenario {scenario.id!r} has a claim of the unknown kind {claim.kind[:40]!r}.")
        if not (math.isfinite(scenario.rtol) and math.isfinite(scenario.atol)):
            raise ResultsError(f"{where}: scenario {scenario.id!r} has a tolerance that is not a finite number.")


def check_cell(cell: Cell, where: str) -> None:
    if cell.verdict not in VERDICTS:
        raise ResultsError(f"{where}: cell {cell.key!r} has the unknown verdict {cell.verdict!r}.")
    _check_id(cell.scenario, SCENARIO_ID, where, "cell scenario")
    for value in (cell.pairing, cell.saved_with):
        if value is not None:
            _check_id(value, SAFE_ID, where, "cell pairing")


def cell_misfit(cell: Cell, kinds: dict[str, str], pairings: set[str]) -> str | None:
    """Why a (well-formed) cell cannot belong to a run of these scenarios (id → kind) and
    pairings, or None when it can: it names a scenario or pairing the run does not have, or it is
    a cross-version cell of a single-env scenario (or the reverse)."""
    name = cell.key.text
    kind = kinds.get(cell.scenario)
    if kind is None:
        return f"the cell {name!r} names the scenario {cell.scenario!r} the run does not have"
    for pairing in (cell.pairing, cell.saved_with):
        if pairing is not None and pairing not in pairings:
            return f"the cell {name!r} names the pairing {pairing!r} the run does not have"
    if (cell.saved_with is not None) != (kind == "cross"):
        which = "is not a cross-version scenario" if kind != "cross" else "is a cross-version scenario"
        return f"the cell {name!r} does not fit its scenario, which {which}"
    return None


def _check_id(value: str, pattern: re.Pattern[str], where: str, what: str) -> None:
    if not pattern.match(value) or len(value) > 300:
        raise ResultsError(f"{where}: the {what} {value[:80]!r} is not a plain name.")


@functools.cache
def _fields_of(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type hint, required) of each field of a model class, worked out once per class."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    )


def build_model(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: expected an object for {cls.__name__}.")
    kwargs: dict[str, Any] = {}
    for name, hint, required in _fields_of(cls):
        if name not in data:
            if required:
                raise ResultsError(f"{where}: {cls.__name__} lacks the field {name!r}.")
            continue
        kwargs[name] = _check(hint, data[name], f"{where}: {cls.__name__}.{name}")
    return cls(**kwargs)


def _check(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check(inner[0], value, where)
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build_model(hint, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ResultsError(f"{where} must be a list.")
        return [_check(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ResultsError(f"{where} must be an object.")
        return {_check(args[0], k, where): _check(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ResultsError(f"{where} must be a number.")
        try:
            return float(value)
        except OverflowError:
            raise ResultsError(f"{where} is too large a number.") from None
    if hint is int or hint is bool or hint is str:
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ResultsError(f"{where} must be of type {hint.__name__}.")
        return value
    raise TypeError(f"unsupported type hint {hint!r}")  # a bug in this module, not bad input
