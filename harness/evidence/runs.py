"""Runs read back and merged: a run folder or results.json as results, and shards joined into one.

Everything read here is untrusted (files from other machines, CI artifacts): it goes through the
checked readers of :mod:`harness.evidence.codec` and :mod:`harness.evidence.run_folder`, and a merge refuses parts
that do not belong together with one sentence saying why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from harness.errors import ResultsError
from harness.evidence.codec import read_results
from harness.evidence.model import UNFINISHED, Cell, PairingRecord, Results, RunInfo
from harness.evidence.run_folder import RESULTS_FILE, RunStore
from harness.plan.cells import CellKey, plan_keys


def load_run(path: Path) -> Results:
    """Results from a results.json file, or from a run folder's cell files (the durable truth:
    a run killed before writing results.json is rebuilt from whatever finished)."""
    if path.is_dir() and not path.is_symlink():
        if RunStore.is_run_folder(path):
            store = RunStore.open(path)
            run, pairings, scenarios = store.read_meta()
            return store.assemble(expected_keys_of(Results(run=run, pairings=pairings, scenarios=scenarios)))
        return read_results(path / RESULTS_FILE)
    return read_results(path)


def expected_keys_of(results: Results) -> list[CellKey]:
    """Every cell the run's record promises."""
    own = [p.id for p in results.pairings if p.source is None]
    imported = [p.id for p in results.pairings if p.source is not None]
    cross = str(results.run.options.get("cross", "all"))
    return plan_keys([(s.id, s.kind) for s in results.scenarios], own, cross, imported)


def missing_cells(results: Results) -> list[CellKey]:
    present = {c.key for c in results.cells}
    return [k for k in expected_keys_of(results) if k not in present]


@dataclass(frozen=True)
class Conflict:
    """A cell that several parts of a merge hold with different final verdicts.

    ``sides`` lists every part holding it (name, verdict), earliest run first; ``shown`` is the
    part whose cell the merged results keep (the earliest run's), named in that cell's reason.
    """

    key: CellKey
    sides: tuple[tuple[str, str], ...]
    shown: str

    @property
    def says(self) -> str:
        """What each part says, e.g. ``shard-a says passed; shard-b says reproduced``."""
        return "; ".join(f"{name} says {verdict}" for name, verdict in self.sides)

    @property
    def text(self) -> str:
        """One line: the cell, and what each part says about it."""
        where = f"{self.key.saved_with} -> {self.key.pairing}" if self.key.saved_with else self.key.pairing
        return f"{self.key.scenario} @ {where}: {self.says}"

    def record(self) -> dict[str, Any]:
        """The conflict as the merged run's record keeps it (``run.options.merge_conflicts``)."""
        return {"cell": self.key.text, "parts": [{"part": name, "verdict": verdict} for name, verdict in self.sides],
                "shown": self.shown}


@dataclass
class Merged:
    """What a merge gives: the joined results, the promised cells no part has, and the cells
    the parts disagree on."""

    results: Results
    missing: list[CellKey] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def merge_results(parts: Sequence[tuple[str, Results]]) -> Merged:
    """One results object from shards of the same run configuration.

    Refuses (:class:`ResultsError`) parts with different scenario sets (ids and file hashes),
    different pairings, or different cross-version modes. The outcome never depends on the
    order the parts are given in: they are taken earliest run first. A cell present in several
    parts is kept once: a finished verdict wins over ``interrupted``; when finished verdicts
    differ, that is a :class:`Conflict`: the earliest run's cell is kept, its reason names
    every part's verdict, and the run's record lists the conflict (``merge_conflicts``).
    """
    if not parts:
        raise ResultsError("Nothing to merge.")
    _refuse_repeated_runs(parts)
    parts = sorted(parts, key=lambda part: (part[1].run.started, part[1].run.id, part[0]))
    first_name, first = parts[0]
    scenario_set = sorted((s.id, s.sha256) for s in first.scenarios)
    pairing_set = sorted(p.id for p in first.pairings)
    cross = first.run.options.get("cross")
    for name, part in parts[1:]:
        if sorted((s.id, s.sha256) for s in part.scenarios) != scenario_set:
            raise ResultsError(f"{name} and {first_name} are shards of different scenario sets; they cannot be merged.")
        if sorted(p.id for p in part.pairings) != pairing_set:
            raise ResultsError(f"{name} and {first_name} have different pairings; they cannot be merged.")
        if part.run.options.get("cross") != cross:
            raise ResultsError(f"{name} and {first_name} were run with different --cross modes; they cannot be merged.")
    pairings = [_best_record([p for _, part in parts for p in part.pairings if p.id == pid]) for pid in
                [p.id for p in first.pairings]]
    holders: dict[CellKey, list[tuple[str, Cell]]] = {}
    for name, part in parts:
        for cell in part.cells:
            holders.setdefault(cell.key, []).append((name, cell))
    cells: list[Cell] = []
    conflicts: list[Conflict] = []
    for held in holders.values():
        cell, conflict = _one_cell(held)
        cells.append(cell)
        if conflict is not None:
            conflicts.append(conflict)
    runs = [part.run for _, part in parts]
    options = {**first.run.options, "merged_from": [f"{name} (run {part.run.id}, shard {part.run.shard})" for name, part in parts]}
    if conflicts:
        options["merge_conflicts"] = [c.record() for c in conflicts]
    run = RunInfo(
        id="merged-" + hashlib.sha256(" ".join(sorted(r.id for r in runs)).encode()).hexdigest()[:8],
        started=min(r.started for r in runs),
        finished=max((r.finished or r.started) for r in runs),
        duration_s=max((r.duration_s or 0.0) for r in runs),
        python=first.run.python,
        platform=first.run.platform,
        command=list(first.run.command),
        options=options,
        complete=all(r.complete for r in runs),
    )
    merged = Results(run=run, pairings=pairings, scenarios=list(first.scenarios), cells=[])
    order = {k: i for i, k in enumerate(expected_keys_of(merged))}
    merged.cells = sorted(cells, key=lambda c: order.get(c.key, len(order)))
    missing = missing_cells(merged)
    if missing:
        merged.run = replace(merged.run, complete=False)
    conflicts.sort(key=lambda c: order.get(c.key, len(order)))
    return Merged(merged, missing, conflicts)


def _one_cell(held: list[tuple[str, Cell]]) -> tuple[Cell, Conflict | None]:
    """The cell a merge keeps of those several parts hold (earliest run first), and the conflict
    when their finished verdicts differ."""
    finished = [(name, cell) for name, cell in held if cell.verdict not in UNFINISHED]
    if not finished:
        return held[0][1], None
    shown_name, shown = finished[0]
    if len({cell.verdict for _, cell in finished}) == 1:
        return shown, None
    conflict = Conflict(shown.key, tuple((name, str(cell.verdict)) for name, cell in finished), shown_name)
    reason = f"the merged parts disagree on this cell ({conflict.says}); shown: {shown_name}'s"
    return replace(shown, reason=f"{reason}. {shown.reason}" if shown.reason else reason), conflict


def _refuse_repeated_runs(parts: Sequence[tuple[str, Results]]) -> None:
    """Refuse a run given twice (two copies of one run folder): each shard is its own run."""
    seen: dict[str, str] = {}
    for name, part in parts:
        if part.run.id in seen:
            raise ResultsError(f"{name} and {seen[part.run.id]} are the same run (run id {part.run.id}); give each shard once.")
        seen[part.run.id] = name


def _best_record(records: list[PairingRecord]) -> PairingRecord:
    """The record that knows most (a shard that installed the env knows its packages)."""
    return max(records, key=lambda r: (bool(r.packages), r.import_s is not None))


def merge_folders(folders: Sequence[Path]) -> Merged:
    """Read every part (run folders or results.json files) and merge them (:func:`merge_results`);
    a path given more than once (however spelt) is refused before anything is read."""
    seen: dict[Path, Path] = {}
    for folder in folders:
        real = folder.resolve()
        if real in seen:
            raise ResultsError(f"{str(folder)!r} is given more than once (as {str(seen[real])!r}); give each shard once.")
        seen[real] = folder
    return merge_results([(str(folder), load_run(folder)) for folder in folders])
