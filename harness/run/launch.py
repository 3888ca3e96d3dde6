"""Starting a matrix run, or resuming one: check everything that can be checked before anything is
installed, claim the run folder, and hand over to the engine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from harness.errors import BadInput
from harness.evidence.model import Results
from harness.evidence.run_folder import RunStore
from harness.evidence.saves import import_saves
from harness.paths import new_output_folder
from harness.plan.pairings import DEFAULT_PAIRINGS, PairingSpec, parse_pairing
from harness.plan.scenarios import load_scenarios
from harness.run.engine import MatrixRun
from harness.run.options import MatrixOptions, options_from_record


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
    if options.envs_dir is not None and options.envs_dir.exists() and not options.envs_dir.is_dir():
        raise BadInput(f"--envs-dir {str(options.envs_dir)!r} is not a folder.")
    import_saves(options.load_artifacts, scenarios, None, set())  # check them all before creating anything
    store = RunStore.create((options.out or new_output_folder()).absolute())  # the worker runs in other folders
    if options.generated:
        options.scenario_dirs = [write_generated(store, options.generated)]
        scenarios = load_scenarios(options.scenario_dirs)
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


def resume_matrix(
    folder: Path, jobs: int | None = None, envs_dir: Path | None = None, stream: TextIO | None = None
) -> tuple[Results, RunStore]:
    """Run the cells of a run folder that are missing or were interrupted; keep the others.

    The run's own record decides everything (scenarios, pairings with their exact pins,
    options, shard), so the final results are those an uninterrupted run would have given.
    Raises :class:`BadInput` when the folder is not a run or its scenarios changed since.
    """
    store = RunStore.open(folder.absolute())
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
