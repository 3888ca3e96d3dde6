"""The JSON form of the result model, and reading it back without trusting it.

Reading never trusts a file: every field is checked against the model's types and anything
else (a truncated file, a wrong type, another schema version, NaN, a path where an id belongs)
raises :class:`ResultsError` with one sentence naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import typing
from enum import Enum
from pathlib import Path
from typing import Any, Union

from harness.errors import ResultsError
from harness.evidence.model import SAFE_ID, SCHEMA_VERSION, VERDICTS, Cell, PairingRecord, Results, RunInfo, ScenarioRecord
from harness.plan.pairings import BACKENDS
from harness.plan.scenarios import LINK, SCENARIO_ID

MAX_RESULTS_BYTES = 256 * 1024 * 1024


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


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader sees the old file or the new one, never a half-written one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, allow_nan=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_results(path: Path, results: Results) -> None:
    """Write a results.json atomically."""
    write_json_atomic(path, to_dict(results))


def read_json_file(path: Path, what: str = "results file") -> Any:
    """Read untrusted JSON: size-capped, regular files only, one-sentence errors."""
    try:
        if path.is_symlink() or not path.is_file():
            raise ResultsError(f"The {what} {str(path)!r} is not a regular file.")
        if path.stat().st_size > MAX_RESULTS_BYTES:
            raise ResultsError(f"The {what} {str(path)!r} is larger than {MAX_RESULTS_BYTES // 2**20} MiB.")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ResultsError(f"Cannot read the {what} {str(path)!r}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise ResultsError(f"The {what} {str(path)!r} is not UTF-8 text.") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"The {what} {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except (RecursionError, ValueError) as exc:
        raise ResultsError(f"The {what} {str(path)!r} cannot be read: {str(exc).splitlines()[0][:200]}.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"it holds {name}, which is not a number JSON allows")


def read_results(path: Path) -> Results:
    """Load and validate a results.json (see :func:`results_from_dict`)."""
    return results_from_dict(read_json_file(path), str(path))


def results_from_dict(data: Any, where: str) -> Results:
    """Build :class:`Results` from untrusted data, checking every field's type."""
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: the top level must be a JSON object.")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise ResultsError(
            f"{where}: schema version {schema!r} is not supported; this harness reads schema {SCHEMA_VERSION}."
        )
    results = build_model(Results, data, where)
    check_records(results.run, results.pairings, results.scenarios, where)
    for cell in results.cells:
        check_cell(cell, where)
    return results


def cell_from_dict(data: Any, where: str) -> Cell:
    if isinstance(data, dict) and data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ResultsError(f"{where}: schema version {data.get('schema')!r} is not supported; this harness reads schema {SCHEMA_VERSION}.")
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
        for link in scenario.links:
            if not LINK.match(link):
                raise ResultsError(f"{where}: scenario {scenario.id!r} has a link that is not http(s): {link[:80]!r}.")
        if not (math.isfinite(scenario.rtol) and math.isfinite(scenario.atol)):
            raise ResultsError(f"{where}: scenario {scenario.id!r} has a tolerance that is not a finite number.")


def check_cell(cell: Cell, where: str) -> None:
    if cell.verdict not in VERDICTS:
        raise ResultsError(f"{where}: cell {cell.key!r} has the unknown verdict {cell.verdict!r}.")
    _check_id(cell.scenario, SCENARIO_ID, where, "cell scenario")
    for value in (cell.pairing, cell.saved_with):
        if value is not None:
            _check_id(value, SAFE_ID, where, "cell pairing")


def _check_id(value: str, pattern: re.Pattern[str], where: str, what: str) -> None:
    if not pattern.match(value) or len(value) > 300:
        raise ResultsError(f"{where}: the {what} {value[:80]!r} is not a plain name.")


def build_model(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ResultsError(f"{where}: expected an object for {cls.__name__}.")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ResultsError(f"{where}: {cls.__name__} lacks the field {f.name!r}.")
            continue
        kwargs[f.name] = _check(hints[f.name], data[f.name], f"{where}: {cls.__name__}.{f.name}")
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
