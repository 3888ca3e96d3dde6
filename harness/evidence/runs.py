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
    """One results object from the parts of one matrix: shards of a run, or the stages of a run
    split across machines (a part per pairing and stage).

    Refuses (:class:`ResultsError`) parts with different scenario sets (ids and file hashes) and a
    run given twice. The merged run's pairings are every part's own pairings (in the order they
    first appear); a saver a part imported from another run is the same pairing as a part's own
    one of that id, whose record is kept; the other imported savers stay imported. Its plan is the
    parts' own when they all have the same pairings and ``--cross`` mode (shards of one run), else
    every pairing's saves loaded in every pairing (``all``): a part that is missing shows as
    missing cells. The outcome never depends on the order the parts are given in: they are taken
    earliest run first. A cell present in several parts is kept once: a finished verdict wins over
    ``interrupted``; when finished verdicts differ, that is a :class:`Conflict`: the earliest
    run's cell is kept, its reason names every part's verdict, and the run's record lists the
    conflict (``merge_conflicts``).
    """
    if not parts:
        raise ResultsError("Nothing to merge.")
    _refuse_repeated_runs(parts)
    parts = sorted(parts, key=lambda part: (part[1].run.started, part[1].run.id, part[0]))
    _refuse_other_scenarios(parts)
    first = parts[0][1]
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
    options = {**first.run.options, "cross": _merged_cross([part for _, part in parts]),
               "merged_from": [f"{name} (run {part.run.id}, shard {part.run.shard})" for name, part in parts]}
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
    merged = Results(run=run, pairings=_merged_pairings([part for _, part in parts]), scenarios=list(first.scenarios), cells=[])
    order = {k: i for i, k in enumerate(expected_keys_of(merged))}
    merged.cells = sorted(cells, key=lambda c: order.get(c.key, len(order)))
    missing = missing_cells(merged)
    if missing:
        merged.run = replace(merged.run, complete=False)
    conflicts.sort(key=lambda c: order.get(c.key, len(order)))
    return Merged(merged, missing, conflicts)


def _refuse_other_scenarios(parts: Sequence[tuple[str, Results]]) -> None:
    """Refuse parts whose scenario sets (ids and file hashes) differ from the first part's."""
    first_name, first = parts[0]
    scenario_set = sorted((s.id, s.sha256) for s in first.scenarios)
    for name, part in parts[1:]:
        if sorted((s.id, s.sha256) for s in part.scenarios) != scenario_set:
            raise ResultsError(f"{name} and {first_name} are shards of different scenario sets; they cannot be merged.")


def _merged_cross(parts: Sequence[Results]) -> str:
    """The merged run's ``--cross`` mode: the parts' own when they all have the same pairings and
    the same mode (shards of one run), else ``all`` (the full grid of every part's pairings)."""
    modes = {str(part.run.options.get("cross", "all")) for part in parts}
    pairing_sets = {tuple(sorted(p.id for p in part.pairings)) for part in parts}
    return modes.pop() if len(modes) == 1 and len(pairing_sets) == 1 else "all"


def _merged_pairings(parts: Sequence[Results]) -> list[PairingRecord]:
    """Every part's own pairings, in the order they first appear (each the record that knows most),
    then the savers imported from runs that no part has as its own pairing."""
    records = [p for part in parts for p in part.pairings]
    own = [p.id for p in records if p.source is None]
    imported = [p.id for p in records if p.source is not None and p.id not in own]
    return [_best_record([p for p in records if p.id == pid]) for pid in dict.fromkeys([*own, *imported])]


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
    """The record that knows most: a part's own record before another run's imported one, then one
    that installed the env (it knows the packages)."""
    return max(records, key=lambda r: (r.source is None, bool(r.packages), r.import_s is not None))


def savers_without_saves(run_dirs: Sequence[Path], taken: set[str]) -> list[PairingRecord]:
    """The pairings of earlier run folders that left no save to import (their env could not be
    installed, or no scenario saves there), as imported savers (``source`` set) of this run,
    leaving out the ids in ``taken`` (this run's pairings and the savers already imported). Each
    folder is read with the checked readers; a folder that is not a run is :class:`ResultsError`."""
    found: list[PairingRecord] = []
    for run_dir in run_dirs:
        if run_dir.is_symlink() or not RunStore.is_run_folder(run_dir):
            raise ResultsError(f"{str(run_dir)!r} is not a run folder.")
        run, pairings, _ = RunStore.open(run_dir).read_meta()
        for record in pairings:
            if record.id not in taken:
                taken.add(record.id)
                found.append(replace(record, source=f"{run.id} ({run_dir})"))
    return found


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
