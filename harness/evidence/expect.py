"""Expected verdicts: the expectations file, read without trusting it, written stably, and a run
compared with it.

An expectations file is TOML (``version = 1``). ``[expect.<scenario>]`` tables hold one key per
cell: the pairing's *key* for a single-env cell, ``"<saver key> -> <loader key>"`` for a
cross-version cell. A pairing's key is its label (:attr:`~harness.plan.pairings.PairingSpec.label`,
derived from the spec as it was asked for, e.g. ``keras-3.5.0_tensorflow-2.16.1`` or
``keras-latest_tensorflow-latest``), so it stays the same across runs of the same pairings even
when "latest" moves; only when two pairings of one run share a label (an imported save of the same
spec, resolved earlier to other versions) does the later one take its concrete id. A value is a
verdict, or an inline table ``{ verdict = "...", exception = "...", reason = "...", until =
"YYYY-MM-DD" }``. ``exception`` is the type of the exception a cell of any verdict but ``passed``
carried when the file was written; a cell then matches only with that verdict and that type (an
entry without one, as files written before it was recorded have, compares the verdict alone). The
``[pairings]`` table records, for review, the spec and the concrete id each key stood for when the
file was written; comparing never depends on it.

Writing is deterministic: the same results (and the same carried-over reasons) give the same
bytes. Reading checks every field and raises :class:`BadInput` with one sentence naming the file
and the bad value.
"""

from __future__ import annotations

import datetime
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from harness.errors import BadInput
from harness.evidence.claims import STATUSES, judge_all
from harness.evidence.codec import visible, write_atomic
from harness.evidence.model import SAFE_ID, VERDICTS, Cell, PairingRecord, Results, Verdict
from harness.plan.pairings import PairingSpec
from harness.plan.scenarios import SCENARIO_ID

FORMAT_VERSION = 1
MAX_EXPECT_BYTES = 16 * 2**20
#: Between a cross-version cell's saver key and loader key.
ARROW = " -> "
_ENTRY_FIELDS = ("verdict", "exception", "reason", "until")
_NOTE_FIELDS = ("spec", "id")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HEADER = """\
# Expected verdicts of a keras-compat matrix (checked with: matrix --expect FILE; see README, "Expected verdicts, and a gate").
# [expect.<scenario>]: "<pairing>" for a single-env cell, "<saved with> -> <loaded with>" for a cross-version cell.
# A value is a verdict, or { verdict = "...", exception = "TypeError", reason = "why", until = "YYYY-MM-DD" }:
# exception, the type a failing cell raised, must match too; past until, the entry fails the gate.
"""


class ExpectKey(NamedTuple):
    """Names one cell in an expectations file: its scenario, its saver's key (None for a
    single-env cell) and its pairing's key."""

    scenario: str
    saved_with: str | None
    pairing: str

    @property
    def cell(self) -> str:
        """The key of the cell inside its scenario's table: ``pairing`` or ``saver -> pairing``."""
        return f"{self.saved_with}{ARROW}{self.pairing}" if self.saved_with is not None else self.pairing


@dataclass(frozen=True)
class Expectation:
    """The verdict a cell is expected to have, and for a verdict other than ``passed`` the type of
    the exception it carried (``exception``; None: not recorded, only the verdict counts);
    ``reason`` says why, and past ``until`` (the last day it holds) the expectation has expired."""

    verdict: str
    exception: str | None = None
    reason: str | None = None
    until: datetime.date | None = None

    def expired(self, today: datetime.date) -> bool:
        return self.until is not None and today > self.until

    def holds_for(self, cell: Cell, verdicts_only: bool = False) -> bool:
        """Whether ``cell`` is as expected: the same verdict and, unless ``verdicts_only`` or no
        exception type is recorded, the same exception type (:func:`exception_of`)."""
        if self.verdict != cell.verdict:
            return False
        return verdicts_only or self.exception is None or self.exception == exception_of(cell)

    def label(self, verdicts_only: bool = False) -> str:
        """The expectation in a table of changes: its verdict, then its exception type in
        parentheses when one is recorded and compared (``error (TypeError)``)."""
        return _label(self.verdict, None if verdicts_only else self.exception)


@dataclass(frozen=True)
class PairingNote:
    """What a pairing key stood for when the file was written: the spec asked for and the
    concrete id it was."""

    spec: str
    id: str


@dataclass
class Expectations:
    """A whole expectations file."""

    cells: dict[ExpectKey, Expectation] = field(default_factory=dict)
    pairings: dict[str, PairingNote] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)  # "<scenario>: <claim>" -> its status


# ---------------------------------------------------------------------------- pairing keys


def pairing_key(record: PairingRecord) -> str:
    """The label of the pairing as it was asked for; its id when the record says too little to
    derive one (no requirement, no wheel, or ones that do not parse)."""
    asked = record.requested
    try:
        label = PairingSpec(text=asked.spec, requirements=tuple(asked.requirements), wheels=tuple(asked.wheels),
                            backend=asked.backend, python=asked.python).label
    except ValueError:  # an unparsable requirement or wheel name in a record read back
        return record.id
    return label if label and SAFE_ID.match(label) else record.id


def pairing_keys(results: Results) -> dict[str, str]:
    """Pairing id → key for every pairing of a run. The run's own pairings come first, then the
    imported savers; a pairing whose label an earlier one took is keyed by its id."""
    keys: dict[str, str] = {}
    ordered = [p for p in results.pairings if p.source is None] + [p for p in results.pairings if p.source is not None]
    for record in ordered:
        key = pairing_key(record)
        keys[record.id] = record.id if key in keys.values() else key
    return keys


def exception_of(cell: Cell) -> str | None:
    """The exception type an expectation records for a cell: the one its record carries, for any
    verdict but ``passed``; None for a passed cell or one that carries none."""
    if cell.verdict == Verdict.PASSED:
        return None
    return cell.exception_type or None


def cell_label(cell: Cell, verdicts_only: bool = False) -> str:
    """A cell in a table of changes, as its expectation would be written: its verdict, then its
    exception type in parentheses (:func:`exception_of`) unless ``verdicts_only``."""
    return _label(cell.verdict, None if verdicts_only else exception_of(cell))


def _label(verdict: str, exception: str | None) -> str:
    return f"{verdict} ({exception})" if exception else verdict


def cell_keys(results: Results) -> dict[ExpectKey, Cell]:
    """Every cell of a run by its key in an expectations file."""
    keys = pairing_keys(results)
    return {ExpectKey(c.scenario, keys[c.saved_with] if c.saved_with is not None else None, keys[c.pairing]): c
            for c in results.cells}


def expectations_of(results: Results, previous: Expectations | None = None) -> Expectations:
    """The expectations a run's cells make: each cell's verdict and exception type
    (:func:`exception_of`). An entry of ``previous`` (the file being replaced) that the cell holds
    (:meth:`Expectation.holds_for`) keeps its reason and date."""
    kept = previous.cells if previous is not None else {}
    cells = {}
    for key, cell in cell_keys(results).items():
        old = kept.get(key)
        exception = exception_of(cell)
        if old is not None and old.holds_for(cell):
            cells[key] = replace(old, exception=exception)
        else:
            cells[key] = Expectation(cell.verdict, exception)
    by_id = {p.id: p for p in results.pairings}
    notes = {key: PairingNote(spec=by_id[pid].requested.spec, id=pid) for pid, key in pairing_keys(results).items()}
    return Expectations(cells=cells, pairings=notes, claims=claim_statuses(results))


def claim_statuses(results: Results) -> dict[str, str]:
    """Each claim of the run's scenarios (``"<scenario>: <claim>"``) and its status, judged from the run's cells."""
    statuses: dict[str, str] = {}
    for judged in judge_all([results]):
        key = f"{judged.scenario}: {judged.statement}"
        statuses[key if key not in statuses else f"{key} ({judged.claim.says})"] = judged.status
    return statuses


class ClaimChange(NamedTuple):
    """A claim whose status differs from the file's (None: the file or the run lacks it)."""

    claim: str
    was: str | None
    now: str | None


def claim_changes(results: Results, expected: Expectations) -> list[ClaimChange]:
    """The claims whose status is not the one the file records, sorted."""
    now = claim_statuses(results)
    return [ClaimChange(key, expected.claims.get(key), now.get(key)) for key in sorted(set(now) | set(expected.claims))
            if expected.claims.get(key) != now.get(key)]


# ---------------------------------------------------------------------------- comparison


class Change(NamedTuple):
    """A cell that fails the gate. ``kind``: ``changed`` (another verdict, or the same one with
    another exception type than recorded), ``new`` (no expectation), ``gone`` (an expectation
    matching no cell of the run) or ``expired`` (as expected, but past its date). ``was``/``now``
    are the expectation's and the cell's labels (:meth:`Expectation.label`, :func:`cell_label`),
    None where there is none."""

    kind: str
    key: ExpectKey
    was: str | None
    now: str | None
    reason: str


@dataclass
class Comparison:
    """A run against an expectations file: what fails the gate, how many cells matched, how many
    expectations lay outside the run's selection, and the pairing keys now naming other versions."""

    changes: list[Change] = field(default_factory=list)
    matched: int = 0
    outside: int = 0
    moved: list[tuple[str, str, str]] = field(default_factory=list)

    def by_pairing(self, kind: str) -> dict[str, int]:
        """Pairing key → how many changes of ``kind`` involve it (as the loader or the saver)."""
        counts: dict[str, int] = {}
        for change in self.changes:
            if change.kind == kind:
                for key in {change.key.pairing, change.key.saved_with} - {None}:
                    counts[str(key)] = counts.get(str(key), 0) + 1
        return counts

    def counts(self) -> dict[str, int]:
        """How many changes of each kind, in a fixed order, leaving out the kinds with none."""
        kinds = ("changed", "new", "gone", "expired")
        return {k: n for k in kinds if (n := sum(1 for c in self.changes if c.kind == k))}


def compare(results: Results, expected: Expectations, today: datetime.date, verdicts_only: bool = False) -> Comparison:
    """Compare a run's cells with the expectations, as of ``today`` (UTC): a cell matches an
    expectation it holds (:meth:`Expectation.holds_for`; with ``verdicts_only``, the exception
    types recorded are neither compared nor shown).

    An expectation the run has no cell for is ``gone``, unless the run was narrowed (``--only``,
    ``--tag``: its scenario is not in the run; ``--shard``: any cell the run does not hold): then
    it is outside the run and only counted.
    """
    found = cell_keys(results)
    result = Comparison(moved=_moved_keys(results, expected))
    for key, cell in found.items():
        change = _cell_change(key, cell, expected.cells.get(key), today, verdicts_only)
        if change is None:
            result.matched += 1
        else:
            result.changes.append(change)
    for key, expectation in expected.cells.items():
        if key in found:
            continue
        if _outside_selection(results, key):
            result.outside += 1
            continue
        why = "no cell of this run" + (f"; it was expected because: {expectation.reason}" if expectation.reason else "")
        result.changes.append(Change("gone", key, expectation.label(verdicts_only), None, why))
    result.changes.sort(key=lambda c: (c.key.scenario, c.key.cell))
    return result


def _cell_change(key: ExpectKey, cell: Cell, expectation: Expectation | None, today: datetime.date,
                 verdicts_only: bool) -> Change | None:
    now = cell_label(cell, verdicts_only)
    if expectation is None:
        return Change("new", key, None, now, cell.reason)
    was = expectation.label(verdicts_only)
    if not expectation.holds_for(cell, verdicts_only):
        return Change("changed", key, was, now, cell.reason)
    if expectation.expired(today):
        why = f"expected until {expectation.until}" + (f" ({expectation.reason})" if expectation.reason else "")
        return Change("expired", key, was, now, f"{why}: renew the date or remove the entry")
    return None


def _outside_selection(results: Results, key: ExpectKey) -> bool:
    """Whether a run narrowed by ``--only``/``--tag`` or ``--shard`` left this cell out on purpose."""
    if results.run.shard is not None:  # a shard holds a slice of the cells: any other one is outside it
        return True
    options = results.run.options
    narrowed = bool(options.get("only") or options.get("tags"))
    return narrowed and results.scenario(key.scenario) is None


def _moved_keys(results: Results, expected: Expectations) -> list[tuple[str, str, str]]:
    """``(key, id then, id now)`` for each pairing key whose concrete id differs from the one the
    file recorded (``keras-latest_tensorflow-latest`` after a release)."""
    return sorted((key, expected.pairings[key].id, pid) for pid, key in pairing_keys(results).items()
                  if key in expected.pairings and expected.pairings[key].id != pid)


# ---------------------------------------------------------------------------- verdict lists


def parse_verdicts(text: str, what: str = "--fail-on") -> tuple[Verdict, ...]:
    """``"crashed,timeout"`` → the verdicts named; :class:`BadInput` for an empty list or a name
    that is not a verdict."""
    return verdict_list([part.strip() for part in text.split(",")], what)


def verdict_list(names: Sequence[Any], what: str) -> tuple[Verdict, ...]:
    """The verdicts named (in the order of :class:`Verdict`, each once); :class:`BadInput` when
    the list is empty or holds anything that is not a verdict's name."""
    if not names:
        raise BadInput(f"{what} names no verdict; verdicts: {', '.join(VERDICTS)}.")
    for name in names:
        if name not in VERDICTS:
            raise BadInput(f"{what}: {str(name)[:80]!r} is not a verdict; verdicts: {', '.join(VERDICTS)}.")
    return tuple(v for v in Verdict if v.value in names)


# ---------------------------------------------------------------------------- writing


def expectations_text(expectations: Expectations) -> str:
    """The file's text: a header, ``version``, ``[pairings]``, then one table per scenario, all sorted."""
    lines = [HEADER.rstrip("\n"), f"version = {FORMAT_VERSION}", ""]
    if expectations.pairings:
        lines.append("[pairings]")
        for name, note in sorted(expectations.pairings.items()):
            lines.append(f"{_toml_string(name)} = {{ spec = {_toml_string(note.spec)}, id = {_toml_string(note.id)} }}")
        lines.append("")
    by_scenario: dict[str, list[tuple[str, Expectation]]] = {}
    for key, expectation in expectations.cells.items():
        by_scenario.setdefault(key.scenario, []).append((key.cell, expectation))
    if expectations.claims:
        lines.append("[claims]")
        lines.extend(f"{_toml_string(claim)} = {_toml_string(status)}" for claim, status in sorted(expectations.claims.items()))
        lines.append("")
    for scenario in sorted(by_scenario):
        lines.append(f"[expect.{_toml_key(scenario)}]")
        lines.extend(f"{_toml_string(cell)} = {_entry_text(e)}" for cell, e in sorted(by_scenario[scenario], key=lambda item: item[0]))
        lines.append("")
    return "\n".join(lines)


def write_expectations(path: Path, expectations: Expectations) -> None:
    """Write the file atomically (a reader sees the old file or the new one)."""
    data = expectations_text(expectations).encode("utf-8")
    write_atomic(path, lambda handle: handle.write(data))


def _entry_text(expectation: Expectation) -> str:
    if expectation.exception is None and expectation.reason is None and expectation.until is None:
        return _toml_string(expectation.verdict)
    parts = [f"verdict = {_toml_string(expectation.verdict)}"]
    if expectation.exception is not None:
        parts.append(f"exception = {_toml_string(expectation.exception)}")
    if expectation.reason is not None:
        parts.append(f"reason = {_toml_string(expectation.reason)}")
    if expectation.until is not None:
        parts.append(f"until = {_toml_string(expectation.until.isoformat())}")
    return "{ " + ", ".join(parts) + " }"


def _toml_key(text: str) -> str:
    """A table name: bare when TOML allows it (a scenario id always is)."""
    return text if _BARE_KEY.match(text) else _toml_string(text)


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped, the rest as is."""
    out = []
    for char in visible(text):
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------------------- reading


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``, or ``tomli`` before Python 3.11); :class:`ValueError` with
    the parser's message when it is not TOML (or nests deeper than the parser can follow),
    :class:`BadInput` when no parser is installed."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.9 and 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise BadInput("Reading TOML needs the tomli package on Python < 3.11: python -m pip install tomli.") from None
    try:
        return tomllib.loads(text)
    except RecursionError:  # arrays or tables nested past what the parser can follow (a TOML bomb)
        raise ValueError("it nests arrays or tables deeper than the parser can follow") from None


def read_expectations(path: Path) -> Expectations:
    """Read and check an expectations file; :class:`BadInput` in one sentence for a file that is
    missing, too large, not UTF-8 TOML, of another version, or holds a bad key or value."""
    where = f"The expectations file {str(path)!r}"
    try:
        if not path.is_file():
            raise BadInput(f"{where} does not exist or is not a regular file.")
        if path.stat().st_size > MAX_EXPECT_BYTES:
            raise BadInput(f"{where} is larger than {MAX_EXPECT_BYTES // 2**20} MiB.")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{where} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise BadInput(f"{where} is not UTF-8 text.") from None
    try:
        data = parse_toml(text)
    except ValueError as exc:
        raise BadInput(f"{where} is not valid TOML ({exc}).") from None
    return expectations_from_dict(data, where)


def expectations_from_dict(data: dict[str, Any], where: str) -> Expectations:
    """Build :class:`Expectations` from parsed, untrusted TOML, checking every key and value."""
    _only_fields(data, ("version", "pairings", "claims", "expect"), where, "at the top level")
    if data.get("version") != FORMAT_VERSION:
        raise BadInput(f"{where}: version must be {FORMAT_VERSION} (it is {data.get('version')!r}).")
    pairings = _table(data.get("pairings", {}), where, "[pairings]")
    scenarios = _table(data.get("expect", {}), where, "[expect]")
    result = Expectations(pairings={_pairing_name(k, where): _note(v, f"{where}: [pairings] {k!r}") for k, v in pairings.items()})
    for claim, status in _table(data.get("claims", {}), where, "[claims]").items():
        if status not in STATUSES:
            raise BadInput(f"{where}: [claims] {claim!r} has the status {status!r}; a status is one of {', '.join(STATUSES)}.")
        result.claims[claim] = status
    for scenario, cells in scenarios.items():
        if not SCENARIO_ID.match(scenario):
            raise BadInput(f"{where}: [expect.{scenario}] does not name a scenario (a Python identifier).")
        for cell, value in _table(cells, where, f"[expect.{scenario}]").items():
            key = _expect_key(scenario, cell, f"{where}: [expect.{scenario}]")
            result.cells[key] = _expectation(value, f"{where}: [expect.{scenario}] {cell!r}")
    return result


def _table(value: Any, where: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"{where}: {name} must be a table.")
    return value


def _only_fields(table: dict[str, Any], known: Sequence[str], where: str, place: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise BadInput(f"{where}: unknown key {unknown[0]!r} {place}; known keys: {', '.join(known)}.")


def _pairing_name(text: str, where: str) -> str:
    if not SAFE_ID.match(text) or len(text) > 300:
        raise BadInput(f"{where}: {text[:80]!r} is not a pairing key (a label such as keras-3.5.0_tensorflow-2.16.1).")
    return text


def _expect_key(scenario: str, cell: str, where: str) -> ExpectKey:
    parts = cell.split(ARROW)
    if len(parts) > 2:
        raise BadInput(f"{where}: {cell[:120]!r} is neither \"PAIRING\" nor \"SAVED_WITH{ARROW}PAIRING\".")
    names = [_pairing_name(p, where) for p in parts]
    return ExpectKey(scenario, names[0] if len(names) == 2 else None, names[-1])


def _note(value: Any, where: str) -> PairingNote:
    table = _table(value, where, "the entry")
    _only_fields(table, _NOTE_FIELDS, where, "in the entry")
    spec, pid = table.get("spec"), table.get("id")
    if not isinstance(spec, str) or not isinstance(pid, str):
        raise BadInput(f"{where}: spec and id must both be strings.")
    return PairingNote(spec=spec, id=pid)


def _expectation(value: Any, where: str) -> Expectation:
    table = {"verdict": value} if isinstance(value, str) else value
    if not isinstance(table, dict):
        raise BadInput(f"{where} must be a verdict or a table with verdict, exception, reason and until.")
    _only_fields(table, _ENTRY_FIELDS, where, "in the entry")
    verdict = table.get("verdict")
    if verdict not in VERDICTS:
        raise BadInput(f"{where}: {str(verdict)[:80]!r} is not a verdict; verdicts: {', '.join(VERDICTS)}.")
    exception = table.get("exception")
    if exception is not None:
        if not (isinstance(exception, str) and exception.strip()):
            raise BadInput(f"{where}: exception must be the name of an exception type, such as \"TypeError\".")
        if verdict == Verdict.PASSED:
            raise BadInput(f"{where}: a passed cell raised no exception; drop its exception type.")
    reason = table.get("reason")
    if reason is not None and not (isinstance(reason, str) and reason.strip()):
        raise BadInput(f"{where}: reason must be a non-empty string.")
    return Expectation(verdict=str(verdict), exception=exception, reason=reason, until=_date(table.get("until"), where))


def _date(value: Any, where: str) -> datetime.date | None:
    """``until``: a TOML date or a ``"YYYY-MM-DD"`` string (never a time of day)."""
    if value is None:
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise BadInput(f"{where}: until must be a date such as \"2027-06-01\", not {str(value)[:40]!r}.")
