"""The matrix: expand pairings x scenarios into cells, run them env by env, and keep every result.

The pipeline of :func:`run_matrix` is short: read the scenarios, parse and resolve the pairings,
import earlier saves if asked, expand the cells, then run in two phases. Phase one, per pairing:
create or reuse its env, start one worker (one framework import), run the single-env cells and
the cross-version saves, and load each save in its own pairing. Phase two, per pairing: load
every other pairing's saves. ``--jobs`` runs that many pairings at once. Each finished cell is
written to the run folder at once (:class:`harness.store.RunStore`) and reported on a progress
line.
"""

from __future__ import annotations

import platform
import shutil
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from harness.artifacts import SaveState, existing_save, import_saves, record_save
from harness.envs import Env, default_envs_dir, ensure_env, resolve_pairing
from harness.errors import BadInput, InstallError, WorkerError
from harness.mapping import file_evidence
from harness.pairings import DEFAULT_PAIRINGS, Pairing, PairingSpec, parse_pairing
from harness.progress import Progress, format_duration
from harness.results import Cell, PairingRecord, Requested, Results, RunInfo, ScenarioRecord
from harness.runner import Decision, PhaseOutcome, Worker, decide_verdict
from harness.scenarios import Scenario, discover_scenarios, select_scenarios, unmet_requirement
from harness.store import RunStore

DEFAULT_TIMEOUT_S = 300.0
MAX_IDLE_WORKERS = 8
CROSS_MODES = ("all", "same")


@dataclass
class MatrixOptions:
    """Everything a matrix run needs; the command line fills it in."""

    scenario_dirs: list[Path]
    pairings: list[str] = field(default_factory=list)
    only: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    out: Path | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    jobs: int = 1
    envs_dir: Path | None = None
    isolation: str = "fork"
    cross: str = "all"
    load_artifacts: list[Path] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    exclude_newer: str | None = None
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedCell:
    """A cell to run; ``saved_with`` names the pairing whose save a cross-version cell loads."""

    scenario: Scenario
    pairing: Pairing
    saved_with: str | None = None

    @property
    def key(self) -> str:
        return f"{self.scenario.id}|{self.saved_with or ''}|{self.pairing.id}"


def plan_keys(
    scenarios: Sequence[tuple[str, str]], pairings: Sequence[str], cross: str = "all", extra_savers: Sequence[str] = ()
) -> list[tuple[str, str | None, str]]:
    """Every cell of a matrix as ``(scenario, saved_with, pairing)``, scenario by scenario.

    ``scenarios`` are ``(id, kind)`` pairs. A single-env scenario gives one cell per pairing; a
    cross-version scenario gives, per loading pairing, one cell per saving pairing: every pairing
    of the run (``cross="all"``: an N x N grid) or only itself (``cross="same"``), plus the
    ``extra_savers`` whose saves were imported from earlier runs.
    """
    keys: list[tuple[str, str | None, str]] = []
    for scenario, kind in scenarios:
        for pairing in pairings:
            if kind == "run":
                keys.append((scenario, None, pairing))
                continue
            savers = list(pairings) if cross == "all" else [pairing]
            keys.extend((scenario, saver, pairing) for saver in [*savers, *extra_savers])
    return keys


def expand_cells(
    scenarios: Sequence[Scenario], pairings: Sequence[Pairing], cross: str = "all", extra_savers: Sequence[str] = ()
) -> list[PlannedCell]:
    """:func:`plan_keys` with the scenario and pairing objects."""
    by_scenario = {s.id: s for s in scenarios}
    by_pairing = {p.id: p for p in pairings}
    keys = plan_keys([(s.id, s.kind) for s in scenarios], [p.id for p in pairings], cross, extra_savers)
    return [PlannedCell(by_scenario[s], by_pairing[p], saver) for s, saver, p in keys]


def shard_cells(plan: Sequence[PlannedCell], index: int, count: int) -> list[PlannedCell]:
    """Shard ``index`` of ``count`` (1-based): a deterministic, near-equal slice of the cells.

    Cells are ordered pairing by pairing, so each shard spans as few pairings (envs) as possible;
    the shards together hold every cell exactly once.
    """
    ordered = sorted(plan, key=lambda c: (c.pairing.id, c.scenario.id, c.saved_with or ""))
    start, end = (index - 1) * len(ordered) // count, index * len(ordered) // count
    return ordered[start:end]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` → ``(2, 3)``; anything else is :class:`BadInput`."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BadInput(f"--shard {text!r} is not of the form K/N, e.g. 2/3.") from None
    if not 1 <= index <= count:
        raise BadInput(f"--shard {text!r}: K must be between 1 and N.")
    return index, count


def default_out_dir() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    root = Path(__file__).resolve().parent.parent / "reports" / "runs"
    candidate = root / stamp
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{stamp}-{suffix}"
    return candidate


def load_scenarios(dirs: Sequence[Path], only: Sequence[str] = (), tags: Sequence[str] = ()) -> list[Scenario]:
    """Discover, check and select scenarios; none at all is bad input."""
    scenarios = select_scenarios(discover_scenarios(dirs), only, tags)
    if not scenarios:
        raise BadInput(f"No scenario found in {', '.join(str(d) for d in dirs)}.")
    return scenarios


def parse_pairings(texts: Sequence[str]) -> list[PairingSpec]:
    return [parse_pairing(t) for t in (texts or DEFAULT_PAIRINGS)]


def run_matrix(options: MatrixOptions, stream: TextIO | None = None) -> tuple[Results, RunStore]:
    """Run a whole matrix and return its results and run folder.

    Raises :class:`BadInput` before anything is installed when scenarios, pairings or imported
    artifacts are bad. When interrupted (Ctrl-C, SIGTERM) it returns what finished, with
    ``run.complete`` false.
    """
    scenarios = load_scenarios(options.scenario_dirs, options.only, options.tags)
    specs = parse_pairings(options.pairings)
    if options.envs_dir is not None and options.envs_dir.exists() and not options.envs_dir.is_dir():
        raise BadInput(f"--envs-dir {str(options.envs_dir)!r} is not a folder.")
    import_saves(options.load_artifacts, scenarios, None, set())  # check them all before creating anything
    store = RunStore.create(options.out or default_out_dir())
    run = MatrixRun(options, scenarios, store, stream or sys.stdout)
    return run.execute(specs), store


def resume_matrix(
    folder: Path, jobs: int | None = None, envs_dir: Path | None = None, stream: TextIO | None = None
) -> tuple[Results, RunStore]:
    """Run the cells of a run folder that are missing or were interrupted; keep the others.

    The run's own record decides everything (scenarios, pairings with their exact pins,
    options, shard), so the final results are those an uninterrupted run would have given.
    Raises :class:`BadInput` when the folder is not a run or its scenarios changed since.
    """
    store = RunStore.open(folder)
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


def options_from_record(run: RunInfo, envs_dir: Path | None) -> MatrixOptions:
    """The options a recorded run was started with (checked: the record is untrusted)."""
    from harness.errors import ResultsError

    recorded = run.options

    def strings(key: str) -> list[str]:
        value = recorded.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ResultsError(f"The run's option {key!r} is not a list of strings.")
        return value

    dirs = [Path(d) for d in strings("scenario_dirs")]
    for folder in dirs:
        if ".." in folder.parts or not folder.is_absolute():
            raise ResultsError(f"The run's scenarios folder {str(folder)!r} is not a plain absolute path.")
    timeout, cross, isolation = recorded.get("timeout"), recorded.get("cross"), recorded.get("isolation")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ResultsError("The run's timeout is not a positive number.")
    if cross not in CROSS_MODES or isolation not in ("fork", "spawn"):
        raise ResultsError("The run's cross or isolation option is not one this harness knows.")
    jobs = recorded.get("jobs", 1)
    return MatrixOptions(
        scenario_dirs=dirs,
        only=strings("only"),
        tags=strings("tags"),
        timeout=float(timeout),
        jobs=jobs if isinstance(jobs, int) and not isinstance(jobs, bool) and jobs > 0 else 1,
        envs_dir=envs_dir,
        isolation=str(isolation),
        cross=str(cross),
        shard=parse_shard(run.shard) if run.shard else None,
    )


def pairing_from_record(record: PairingRecord) -> Pairing:
    """The exact pairing a recorded run installed (its pins, not "latest" again)."""
    from harness.pairings import unresolved_pairing

    spec = parse_pairing(record.requested.spec)
    if not record.pins:
        return unresolved_pairing(spec, record.install_error or "it was never resolved")
    return Pairing(spec=spec, pins=tuple(record.pins), versions=dict(record.versions), id=record.id)


def scenario_record(scenario: Scenario) -> ScenarioRecord:
    return ScenarioRecord(
        id=scenario.id,
        title=scenario.title,
        path=str(scenario.path),
        kind=scenario.kind,
        description=scenario.description,
        links=list(scenario.links),
        signature=scenario.signature,
        tags=list(scenario.tags),
        requires=dict(scenario.requires),
        save_requires=dict(scenario.save_requires) if scenario.save_requires is not None else None,
        rtol=scenario.rtol,
        atol=scenario.atol,
        sha256=scenario.sha256,
    )


class MatrixRun:
    """One execution of the matrix into one run folder."""

    def __init__(
        self, options: MatrixOptions, scenarios: list[Scenario], store: RunStore, stream: TextIO,
        run_info: RunInfo | None = None,
    ):
        self.options = options
        self.scenarios = scenarios
        self.store = store
        self.stream = stream
        self.envs_dir = options.envs_dir or default_envs_dir()
        self.pairings: list[Pairing] = []
        self.imported: list[PairingRecord] = []
        self.records: dict[str, PairingRecord] = {}
        self.envs: dict[str, Env] = {}
        self.install_errors: dict[str, str] = {}
        self.workers: dict[str, Worker] = {}
        self.saves: dict[tuple[str, str], SaveState] = {}
        self.running: dict[str, PlannedCell] = {}
        self.todo: set[str] = set()
        self.phase_two = False
        self.needed_saves: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.progress = Progress(0, stream)
        self.run_info = RunInfo(
            id=uuid.uuid4().hex[:12],
            started=_now(),
            python=platform.python_version(),
            platform=platform.platform(),
            command=list(options.command),
            options={
                "timeout": options.timeout,
                "jobs": options.jobs,
                "isolation": options.isolation,
                "cross": options.cross,
                "only": list(options.only),
                "tags": list(options.tags),
                "scenario_dirs": [str(d) for d in options.scenario_dirs],
                "load_artifacts": [str(d) for d in options.load_artifacts],
            },
            shard=f"{options.shard[0]}/{options.shard[1]}" if options.shard else None,
        )
        self._previous_s = 0.0
        if run_info is not None:
            self._previous_s = run_info.duration_s or 0.0
            run_info.resumed.append(_now())
            self.run_info = run_info
        self._started = time.monotonic()

    # ------------------------------------------------------------------ pipeline

    def execute(self, specs: list[PairingSpec]) -> Results:
        """A fresh run: resolve the pairings, import earlier saves, run this shard's cells."""
        return self._guarded(lambda: self._start(specs))

    def resume(self, records: list[PairingRecord]) -> Results:
        """A resumed run: the recorded pairings; only cells missing or interrupted are run."""
        return self._guarded(lambda: self._restart(records))

    def _start(self, specs: list[PairingSpec]) -> list[PlannedCell]:
        self.pairings = self._resolve(specs)
        self.records = {p.id: _pairing_record(p) for p in self.pairings}
        self._import_artifacts()
        self._save_meta()
        return self._selected(self.plan())

    def _restart(self, records: list[PairingRecord]) -> list[PlannedCell]:
        self.pairings = [pairing_from_record(r) for r in records if r.source is None]
        self.records = {r.id: r for r in records if r.source is None}
        self.imported = [r for r in records if r.source is not None]
        for record in self.imported:
            for scenario in self.scenarios:
                if scenario.kind == "cross":
                    save = existing_save(self.store, scenario, record.id, same_text=False)
                    if save is not None:
                        self.saves[(scenario.id, record.id)] = save
        done = {c.key for c in self.store.read_cells() if c.verdict != "interrupted"}
        selected = self._selected(self.plan())
        todo = [c for c in selected if c.key not in done]
        self.progress.note(f"resuming {self.store.root}: {len(selected) - len(todo)} of {len(selected)} cells already done")
        return todo

    def _selected(self, plan: list[PlannedCell]) -> list[PlannedCell]:
        if self.options.shard is None:
            return plan
        index, count = self.options.shard
        chosen = {c.key for c in shard_cells(plan, index, count)}
        return [c for c in plan if c.key in chosen]

    def _guarded(self, make_todo: Callable[[], list[PlannedCell]]) -> Results:
        previous = _install_sigterm_handler()
        try:
            todo = make_todo()
            self._run(todo)
            return self._finish(complete=True)
        except KeyboardInterrupt:
            self._interrupt()
            return self._finish(complete=False)
        finally:
            self._close_workers()
            signal.signal(signal.SIGTERM, previous)

    def _run(self, todo: list[PlannedCell]) -> None:
        self.todo = {c.key for c in todo}
        self.phase_two = any(c.saved_with not in (None, c.pairing.id) for c in todo)
        self.needed_saves = {(c.scenario.id, c.saved_with) for c in todo if c.saved_with is not None}
        involved = {c.pairing.id for c in todo} | {saver for _, saver in self.needed_saves}
        pairings = [p for p in self.pairings if p.id in involved]
        self.progress = Progress(len(todo), self.stream)
        shard = f" (shard {self.run_info.shard})" if self.run_info.shard else ""
        self.progress.note(
            f"running {len(todo)} cells{shard}: {len(self.scenarios)} scenarios x {len(self.pairings)} pairings "
            f"(jobs {self.options.jobs}, timeout {self.options.timeout:g} s) into {self.store.root}"
        )
        self._in_pool(self._phase_one, pairings)
        if self._needs_phase_two():
            self._in_pool(self._phase_two, pairings)

    def plan(self) -> list[PlannedCell]:
        return expand_cells(self.scenarios, self.pairings, self.options.cross, [p.id for p in self.imported])

    def _resolve(self, specs: list[PairingSpec]) -> list[Pairing]:
        def resolve(spec: PairingSpec) -> Pairing:
            pairing = resolve_pairing(spec, self.options.exclude_newer)
            if not spec.is_pinned:
                shown = pairing.id if pairing.resolve_error is None else "could not be resolved"
                self.progress.note(f"resolved {spec.text!r}: {shown}")
            return pairing

        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs)) as pool:
            resolved = list(pool.map(resolve, specs))
        unique: dict[str, Pairing] = {}
        for pairing in resolved:
            if pairing.id in unique:
                self.progress.note(f"pairing {pairing.spec.text!r} is the same as {unique[pairing.id].spec.text!r}; running it once")
                continue
            unique[pairing.id] = pairing
        return list(unique.values())

    def _import_artifacts(self) -> None:
        if not self.options.load_artifacts:
            return
        imported = import_saves(self.options.load_artifacts, self.scenarios, self.store, set(self.records))
        self.imported = imported.pairings
        self.saves.update(imported.saves)
        for record in self.imported:
            self.progress.note(f"loading the saves of {record.id} from run {record.source}")

    def _in_pool(self, task: Callable[[Pairing], None], pairings: list[Pairing]) -> None:
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.options.jobs, len(pairings))))
        futures = [pool.submit(task, p) for p in pairings]
        try:
            for future in futures:
                while True:
                    try:
                        future.result(timeout=0.5)
                        break
                    except FutureTimeout:
                        continue
        except BaseException:
            self.stopping.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _needs_phase_two(self) -> bool:
        return self.phase_two

    # ------------------------------------------------------------------ phases

    def _phase_one(self, pairing: Pairing) -> None:
        env = self._ensure_env(pairing)
        if env is None:
            self._mark_install_failed(pairing)
            return
        for scenario in self.scenarios:
            if self.stopping.is_set():
                return
            unmet = unmet_requirement(scenario.requires, env.packages, env.modules)
            if scenario.kind == "run":
                self._run_if_todo(PlannedCell(scenario, pairing), unmet)
                continue
            if (scenario.id, pairing.id) in self.needed_saves:
                self._save(scenario, pairing, save_unmet(scenario, env))
            self._run_if_todo(PlannedCell(scenario, pairing, pairing.id), unmet)
        if len(self.workers) > MAX_IDLE_WORKERS or not self._needs_phase_two():
            self._close_worker(pairing.id)

    def _phase_two(self, pairing: Pairing) -> None:
        env = self.envs.get(pairing.id)
        if env is None:
            return
        for planned in self.plan():
            if self.stopping.is_set():
                return
            if planned.pairing.id == pairing.id and planned.saved_with not in (None, pairing.id):
                self._run_if_todo(planned, unmet_requirement(planned.scenario.requires, env.packages, env.modules))
        self._close_worker(pairing.id)

    def _run_if_todo(self, planned: PlannedCell, unmet: str | None) -> None:
        if planned.key in self.todo:
            self._run_cell(planned, unmet)

    def _ensure_env(self, pairing: Pairing) -> Env | None:
        started = time.monotonic()
        try:
            env = ensure_env(pairing, self.envs_dir, self.options.exclude_newer)
        except InstallError as exc:
            with self.lock:
                self.install_errors[pairing.id] = str(exc)
                self.records[pairing.id].install_error = str(exc)
            self._save_meta()
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no message"
            self.progress.note(f"env {pairing.id}: install failed after {time.monotonic() - started:.1f} s: {last}")
            return None
        with self.lock:
            self.envs[pairing.id] = env
            record = self.records[pairing.id]
            record.packages = dict(env.packages)
            record.python = env.python
            record.env_key = env.key
            record.env_reused = env.reused
            record.install_s = 0.0 if env.reused else round(time.monotonic() - started, 3)
        how = "reused" if env.reused else f"installed in {time.monotonic() - started:.1f} s"
        self.progress.note(f"env {pairing.id}: {how} (python {env.python}, {len(env.packages)} packages)")
        self._save_meta()
        return env

    def _worker(self, pairing: Pairing) -> Worker:
        with self.lock:
            worker = self.workers.get(pairing.id)
            if worker is None:
                env = self.envs[pairing.id]
                worker = Worker(env, pairing.spec.backend, preload_modules(pairing, env),
                                self.store.logs_dir / f"worker-{pairing.id}.log", self.options.isolation)
                self.workers[pairing.id] = worker
        if self.options.isolation == "fork" and worker.import_s is None and worker.start_error is None:
            try:
                worker.start()
            except WorkerError as exc:
                self.progress.note(f"worker {pairing.id}: {exc}")
                return worker
            with self.lock:
                self.records[pairing.id].import_s = worker.import_s
            errors = "; ".join(f"{m}: {e}" for m, e in worker.preload_errors.items())
            self.progress.note(
                f"worker {pairing.id}: imported {', '.join(worker.preload) or 'nothing'} in {worker.import_s:.1f} s"
                + (f" (import failed: {errors})" if errors else "")
            )
            self._save_meta()
        return worker

    # ------------------------------------------------------------------ cells

    def _save(self, scenario: Scenario, pairing: Pairing, unmet: str | None) -> None:
        if unmet is not None:
            self.saves[(scenario.id, pairing.id)] = SaveState(unmet=unmet)
            return
        if self.stopping.is_set():  # no new work (and no new worker) once a stop began
            return
        kept = existing_save(self.store, scenario, pairing.id)
        if kept is not None:  # a resumed run reuses the save it already made
            self.saves[(scenario.id, pairing.id)] = kept
            return
        folder = self.store.artifact_dir(scenario.id, pairing.id)
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "files").mkdir(parents=True)
        request = {
            "op": "save",
            "scenario": str(scenario.path),
            "scenario_id": scenario.id,
            "workdir": str(folder / "files"),
            "result": str(folder / "save.result.json"),
            "output": str(folder / "save.output.log"),
            "values_out": str(folder / "reference"),
            "rtol": scenario.rtol,
            "atol": scenario.atol,
        }
        outcome = self._worker(pairing).run_phase(request, self.options.timeout)
        if self.stopping.is_set():  # a save cut short by the stop is not evidence; a resume makes it again
            return
        self.saves[(scenario.id, pairing.id)] = record_save(self.store, scenario, pairing.id, outcome)

    def _run_cell(self, planned: PlannedCell, unmet: str | None) -> None:
        signature = planned.scenario.signature
        if unmet is not None:
            self._finish_cell(planned, decide_verdict(signature, unmet=unmet))
            return
        save: SaveState | None = None
        if planned.saved_with is not None:
            save = self.saves.get((planned.scenario.id, planned.saved_with))
            early = self._save_decision(planned, save)
            if early is not None:
                self._finish_cell(planned, early, save=save)
                return
        with self.lock:
            if self.stopping.is_set():
                return
            self.running[planned.key] = planned
        outcome = self._run_phase(planned)
        decision = decide_verdict(signature, save=save.outcome if save else None, saved_with=planned.saved_with, outcome=outcome)
        self._finish_cell(planned, decision, outcome, save)

    def _save_decision(self, planned: PlannedCell, save: SaveState | None) -> Decision | None:
        """The verdict of a cross-version cell whose save is missing or failed (else None)."""
        signature, saver = planned.scenario.signature, planned.saved_with
        if save is None or saver in self.install_errors:
            return decide_verdict(signature, install_error=f"the saving pairing {saver} could not be installed")
        if save.unmet is not None:
            return decide_verdict(signature, unmet=f"the saving pairing {saver} does not save it: {save.unmet}")
        if save.outcome is not None and not save.outcome.ok:
            return decide_verdict(signature, save=save.outcome, saved_with=saver)
        return None

    def _run_phase(self, planned: PlannedCell) -> PhaseOutcome:
        scenario, pairing = planned.scenario, planned.pairing
        workdir = self.store.fresh_workdir(scenario.id, pairing.id, planned.saved_with)
        op = "run" if planned.saved_with is None else "load"
        paths = self.store.cell_paths(scenario.id, pairing.id, planned.saved_with, op)
        request: dict[str, Any] = {
            "op": op,
            "scenario": str(scenario.path),
            "scenario_id": scenario.id,
            "workdir": str(workdir),
            "result": str(paths["result"]),
            "output": str(paths["output"]),
            "rtol": scenario.rtol,
            "atol": scenario.atol,
        }
        if planned.saved_with is not None:
            artifact = self.store.artifact_dir(scenario.id, planned.saved_with)
            shutil.copytree(artifact / "files", workdir, symlinks=True, dirs_exist_ok=True)
            request["reference"] = str(artifact / "reference")
        return self._worker(pairing).run_phase(request, self.options.timeout)

    def _finish_cell(
        self,
        planned: PlannedCell,
        decision: Decision,
        outcome: PhaseOutcome | None = None,
        save: SaveState | None = None,
    ) -> None:
        cell = build_cell(planned.scenario.id, planned.pairing.id, planned.saved_with, decision, outcome, save)
        if outcome is not None:
            workdir = self.store.workdir_path(planned.scenario.id, planned.pairing.id, planned.saved_with)
            cell.workdir = self.store.relative(workdir)
            cell.files, cell.mapping, cell.mapping_text = file_evidence(workdir, cell.probe, self._shown)
        with self.lock:
            if self.stopping.is_set():  # what ended because of the stop is not this cell's verdict
                return
            self.running.pop(planned.key, None)
            self.store.write_cell(cell)
        self.progress.cell_finished(cell)

    def _shown(self, path: Path) -> str:
        """A path as the report shows it: relative to the run folder when inside it."""
        try:
            return str(path.resolve().relative_to(self.store.root.resolve()))
        except ValueError:
            return str(path)

    def _mark_install_failed(self, pairing: Pairing) -> None:
        error = self.install_errors[pairing.id]
        for planned in self.plan():
            if planned.pairing.id != pairing.id or planned.key not in self.todo:
                continue
            cell = build_cell(planned.scenario.id, pairing.id, planned.saved_with,
                              decide_verdict(planned.scenario.signature, install_error=error), None, None)
            cell.message = error
            with self.lock:
                if self.stopping.is_set():
                    return
                self.store.write_cell(cell)
            self.progress.cell_finished(cell)

    # ------------------------------------------------------------------ ending

    def _interrupt(self) -> None:
        with self.lock:
            self.stopping.set()
            running = list(self.running.values())
        self._close_workers(kill=True)
        for planned in running:
            decision = decide_verdict(planned.scenario.signature, interrupted=True)
            self.store.write_cell(build_cell(planned.scenario.id, planned.pairing.id, planned.saved_with, decision, None, None))
        self.progress.note(f"interrupted: {len(running)} running cells marked as interrupted")

    def _finish(self, complete: bool) -> Results:
        self.run_info.finished = _now()
        self.run_info.duration_s = round(self._previous_s + time.monotonic() - self._started, 3)
        self.run_info.complete = complete
        self._save_meta()
        results = self.store.assemble((p.scenario.id, p.pairing.id, p.saved_with) for p in self._selected(self.plan()))
        self.store.write_results(results)
        if complete:
            self.progress.note(f"finished {len(results.cells)} cells in {format_duration(self.run_info.duration_s)}")
        return results

    def _save_meta(self) -> None:
        with self.lock:
            records = [self.records[p.id] for p in self.pairings if p.id in self.records] + self.imported
            self.store.write_meta(self.run_info, records, [scenario_record(s) for s in self.scenarios])

    def _close_worker(self, pairing_id: str) -> None:
        with self.lock:
            worker = self.workers.pop(pairing_id, None)
        if worker is not None:
            worker.close()

    def _close_workers(self, kill: bool = False) -> None:
        with self.lock:
            workers = list(self.workers.values())
            self.workers.clear()
        for worker in workers:
            if kill:
                worker.terminate()
            else:
                worker.close()


# --------------------------------------------------------------------------- cells from facts


def build_cell(
    scenario: str,
    pairing: str,
    saved_with: str | None,
    decision: Decision,
    outcome: PhaseOutcome | None,
    save: SaveState | None,
) -> Cell:
    """A cell record from a decision and the evidence of the phase that decided it."""
    cell = Cell(scenario=scenario, pairing=pairing, saved_with=saved_with, verdict=decision.verdict.value, reason=decision.reason)
    deciding = outcome
    if save is not None and save.outcome is not None:
        cell.save = save.evidence
        if not save.outcome.ok:
            deciding = save.outcome
    if deciding is not None:
        result = deciding.result
        cell.exception_type = result.get("exception_type")
        cell.message = result.get("message")
        cell.traceback = result.get("traceback")
        cell.exit_status = deciding.exit_status
        cell.signal = deciding.signal
        cell.output_tail = deciding.output_tail
        cell.duration_s = deciding.duration_s
        cell.started = deciding.started
        comparison = result.get("comparison") or {}
        cell.compared = bool(comparison.get("compared"))
        cell.compared_count = int(comparison.get("count") or 0)
        cell.max_abs_diff = comparison.get("max_abs_diff")
        cell.mismatch = comparison.get("mismatch")
        cell.warnings = [str(w) for w in result.get("warnings") or []]
        probe = result.get("probe")
        cell.probe = probe if isinstance(probe, dict) else None
    return cell


def save_unmet(scenario: Scenario, env: Env) -> str | None:
    """Why a cross-version scenario does not save in this env (its SAVE_REQUIRES, else REQUIRES)."""
    if scenario.save_requires is None:
        return unmet_requirement(scenario.requires, env.packages, env.modules)
    return unmet_requirement(scenario.save_requires, env.packages, env.modules, "SAVE_REQUIRES")


#: Modules worth importing once per env when a requested distribution provides them.
FRAMEWORK_MODULES = ("keras", "tensorflow", "jax", "torch")


def preload_modules(pairing: Pairing, env: Env) -> list[str]:
    """The modules the worker imports once: for each requested distribution, the framework it
    provides (``tf-nightly`` → ``tensorflow``), else its module of the same name, else nothing
    (a stray top-level folder of a wheel is never imported)."""
    modules: list[str] = []
    for name in pairing.spec.names:
        provided = sorted(m for m, dists in env.modules.items() if name in dists)
        chosen = [m for m in FRAMEWORK_MODULES if m in provided] or [m for m in provided if m == name.replace("-", "_")]
        modules.extend(m for m in chosen if m not in modules)
    return modules


def _pairing_record(pairing: Pairing) -> PairingRecord:
    spec = pairing.spec
    return PairingRecord(
        id=pairing.id,
        requested=Requested(spec=spec.text, requirements=list(spec.requirements), wheels=list(spec.wheels),
                            backend=spec.backend, python=spec.python),
        versions=dict(pairing.versions),
        pins=list(pairing.pins),
        backend=spec.backend,
        install_error=pairing.resolve_error,
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _install_sigterm_handler() -> Any:
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)
