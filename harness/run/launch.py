"""Starting a matrix run, or resuming one: check everything that can be checked before anything is
installed, claim the run folder, and hand over to the engine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from harness.errors import BadInput
from harness.evidence.cache import cache_bound, cache_enabled
from harness.evidence.model import Results
from harness.evidence.run_folder import RunStore
from harness.evidence.saves import import_saves
from harness.paths import default_envs_dir, new_output_folder, remove_tree
from harness.plan.pairings import DEFAULT_PAIRINGS, PairingSpec, parse_pairing
from harness.plan.scenarios import load_scenarios
from harness.run.engine import MatrixRun
from harness.run.options import FRESH_ALL, MatrixOptions, options_from_record


def parse_pairings(texts: list[str]) -> list[PairingSpec]:
    """The pairings asked for, or the defaults; :class:`BadInput` names a bad one."""
    return [parse_pairing(t) for t in (texts or DEFAULT_PAIRINGS)]


def run_matrix(options: MatrixOptions, stream: TextIO | None = None) -> tuple[Results, RunStore]:
    """Run a whole matrix and return its results and run folder.

    Raises :class:`BadInput` before anything is installed when scenarios, pairings or imported
    artifacts are bad. When interrupted (Ctrl-C, SIGTERM) it returns what finished, with
    ``run.complete`` false.
    """
    scenarios = load_scenarios(options.scenario_dirs, options.only, options.tags) if not options.generated else []
    specs = parse_pairings(options.pairings)
    check_envs_dir(options.envs_dir)
    cache_bound(), cache_enabled()
    unknown = sorted({name for name in options.fresh if name != FRESH_ALL} - {s.id for s in scenarios})
    if unknown and not options.generated:
        raise BadInput(f"--fresh {unknown[0]!r} is not a scenario of this run.")
    import_saves(options.load_artifacts, scenarios, None, set())  # check them all before creating anything
    store = claim_run_folder(options.out)
    if options.generated:
        options.scenario_dirs = [write_generated(store, options.generated)]
        try:
            scenarios = load_scenarios(options.scenario_dirs, options.only)
        except BadInput:  # an --only naming no generated scenario: the folder just made holds nothing yet
            remove_tree(store.root)
            raise
    run = MatrixRun(options, scenarios, store, stream or sys.stdout)
    return run.execute(specs), store


def write_generated(store: RunStore, sources: dict[str, str]) -> Path:
    """Write generated scenario modules into the run's own ``scenarios/`` folder (a resumed run
    finds them there); returns the folder."""
    folder = store.root / "scenarios"
    folder.mkdir()
    for name, text in sources.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def claim_run_folder(out: Path | None, attempts: int = 100) -> RunStore:
    """The new run's folder, absolute (the worker runs in other folders): ``out``
    (:class:`BadInput` when another run holds it), else a new one under ``reports/runs/``, taking
    the next name when another run claims one first."""
    if out is not None:
        return RunStore.create(out.absolute())
    for _ in range(attempts - 1):
        candidate = new_output_folder().absolute()
        try:
            return RunStore.create(candidate)
        except BadInput:
            if not candidate.exists():  # not taken by another run: it cannot be made at all
                raise
    return RunStore.create(new_output_folder().absolute())


def resume_matrix(
    folder: Path, jobs: int | None = None, envs_dir: Path | None = None, stream: TextIO | None = None
) -> tuple[Results, RunStore]:
    """Run the cells of a run folder that are missing or were interrupted; keep the others.

    The run's own record decides everything (scenarios, pairings with their exact pins,
    options, shard), so the final results are those an uninterrupted run would have given.
    Raises :class:`BadInput` when the folder is not a run or its scenarios changed since.
    """
    check_envs_dir(envs_dir)
    cache_bound(), cache_enabled()
    store = RunStore.open(folder.absolute(), owner=True)
    run_info, records, recorded = store.read_meta()
    options = options_from_record(run_info, envs_dir)
    if jobs is not None:
        options.jobs = jobs
    scenarios = load_scenarios(options.scenario_dirs, options.only, options.tags)
    current = {s.id: s for s in scenarios}
    for record in recorded:
        scenario = current.get(record.id)
        if scenario is None or scenario.sha256 != record.sha256:
            raise BadInput(f"Scenario {record.id!r} changed or disappeared since the run started; it cannot be resumed.")
    if len(current) != len(recorded):
        extra = sorted(set(current) - {r.id for r in recorded})
        raise BadInput(f"Scenarios {', '.join(extra)} were added since the run started; it cannot be resumed.")
    run = MatrixRun(options, [current[r.id] for r in recorded], store, stream or sys.stdout, run_info)
    return run.resume(records), store


def check_envs_dir(envs_dir: Path | None) -> None:
    """Refuse (:class:`BadInput`), before anything is created, an envs folder (``--envs-dir``, else
    the default) that is not a folder or cannot be written: the folder itself, or, when it does not
    exist yet, the nearest folder above it that does."""
    folder = envs_dir if envs_dir is not None else default_envs_dir()
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--envs-dir {str(folder)!r} is not a folder.")
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"--envs-dir {str(folder)!r} cannot be made: {str(existing)!r} is not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"The envs folder {str(folder)!r} cannot be written (no permission, or a read-only file system); "
                       "choose another --envs-dir.")
