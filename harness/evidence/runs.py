"""Runs read back and merged: a run folder or results.json as results, and shards joined into one.

Everything read here is untrusted (files from other machines, CI artifacts): it goes through the
checked readers of :mod:`harness.evidence.codec` and :mod:`harness.evidence.run_folder`, and a merge refuses parts
that do not belong together with one sentence saying why.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Sequence

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


def merge_results(parts: Sequence[tuple[str, Results]]) -> Results:
    """One results object from shards of the same run configuration.

    Refuses (:class:`ResultsError`) parts with different scenario sets (ids and file hashes),
    different pairings, or different cross-version modes. A cell present in several parts is
    kept once (a finished verdict wins over ``interrupted``).
    """
    if not parts:
        raise ResultsError("Nothing to merge.")
    _refuse_repeated_runs(parts)
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
    cells: dict[CellKey, Cell] = {}
    for _, part in parts:
        for cell in part.cells:
            kept = cells.get(cell.key)
            if kept is None or (kept.verdict in UNFINISHED and cell.verdict not in UNFINISHED):
                cells[cell.key] = cell
    runs = [part.run for _, part in parts]
    run = RunInfo(
        id="merged-" + hashlib.sha256(" ".join(sorted(r.id for r in runs)).encode()).hexdigest()[:8],
        started=min(r.started for r in runs),
        finished=max((r.finished or r.started) for r in runs),
        duration_s=max((r.duration_s or 0.0) for r in runs),
        python=first.run.python,
        platform=first.run.platform,
        command=list(first.run.command),
        options={**first.run.options, "merged_from": [f"{name} (run {part.run.id}, shard {part.run.shard})" for name, part in parts]},
        complete=all(r.complete for r in runs),
    )
    merged = Results(run=run, pairings=pairings, scenarios=list(first.scenarios), cells=[])
    order = {k: i for i, k in enumerate(expected_keys_of(merged))}
    merged.cells = sorted(cells.values(), key=lambda c: order.get(c.key, len(order)))
    if missing_cells(merged):
        merged.run = replace(merged.run, complete=False)
    return merged


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


def merge_folders(folders: Sequence[Path]) -> tuple[Results, list[CellKey]]:
    """Merge the runs in ``folders`` (run folders or results files); a path given more than once
    (however spelt) is refused before anything is read."""
    seen: dict[Path, Path] = {}
    for folder in folders:
        real = folder.resolve()
        if real in seen:
            raise ResultsError(f"{str(folder)!r} is given more than once (as {str(seen[real])!r}); give each shard once.")
        seen[real] = folder
    parts = [(str(folder), load_run(folder)) for folder in folders]
    merged = merge_results(parts)
    return merged, missing_cells(merged)
