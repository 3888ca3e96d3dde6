"""The engine: run a matrix's cells env by env into one run folder, and keep every result.

A run has two phases. Phase one, per pairing: create or reuse its env, start one worker (one
framework import), run the single-env cells and the cross-version saves, and load each save in
its own pairing (right after the save, in the same task). Phase two, per pairing, once phase one
has ended everywhere: load every other pairing's saves. ``--jobs N`` is the number of phases
(cells and saves) in flight in the whole run: every phase runs on one of the run's N cell slots,
so N phases of one pairing run side by side in its one worker (each in its own forked child),
and up to N pairings are set up at once. Each finished cell is written to the run folder at once
(:class:`~harness.evidence.run_folder.RunStore`) and reported on a progress line. A stop (Ctrl-C,
SIGTERM) kills the workers, marks the running cells ``interrupted`` and keeps the rest.
"""

from __future__ import annotations

import platform
import signal
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from pathlib import Path
from typing import Any, Callable, TextIO

from harness.clock import format_duration, utc_now
from harness.envs.install import Env, ensure_env, resolve_pairing
from harness.errors import InstallError
from harness.evidence.mapping import file_evidence
from harness.evidence.model import UNFINISHED, PairingRecord, Results, RunInfo, Verdict
from harness.evidence.phase import PhaseOutcome
from harness.evidence.records import cell_record, pairing_from_record, pairing_record, scenario_record
from harness.evidence.run_folder import RunStore
from harness.evidence.runs import savers_without_saves
from harness.evidence.saves import SaveState, existing_save, import_saves, record_save
from harness.paths import copy_tree, default_envs_dir, remove_tree
from harness.plan.cells import CellKey, PlannedCell, expand_cells, select_shard
from harness.plan.pairings import Pairing, PairingSpec
from harness.plan.scenarios import Scenario, unmet_requirement
from harness.run.options import MatrixOptions
from harness.run.progress import Progress
from harness.run.verdict import Decision, decide_verdict
from harness.run.workers import WorkerPool


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
        self.envs_dir = (options.envs_dir or default_envs_dir()).absolute()
        self.pairings: list[Pairing] = []
        self.imported: list[PairingRecord] = []
        self.records: dict[str, PairingRecord] = {}
        self.envs: dict[str, Env] = {}
        self.saves: dict[tuple[str, str], SaveState] = {}
        self.running: dict[CellKey, PlannedCell] = {}
        self.todo: set[CellKey] = set()
        self.phase_two = False
        self.needed_saves: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.progress = Progress(0, stream)
        self._slots = ThreadPoolExecutor(max_workers=1)  # the cell slots, made anew by each _run
        self.workers = WorkerPool(store, options.isolation, lambda text: self.progress.note(text), self._imported)
        self.run_info = RunInfo(
            id=uuid.uuid4().hex[:12], started=utc_now(), python=platform.python_version(), platform=platform.platform(),
            command=list(options.command), options=options.record(), shard=options.shard_text,
        )
        self._previous_s = 0.0
        if run_info is not None:
            self._previous_s = run_info.duration_s or 0.0
            run_info.resumed.append(utc_now())
            self.run_info = run_info
        self._started = time.monotonic()

    # ------------------------------------------------------------------ pipeline

    def execute(self, specs: list[PairingSpec]) -> Results:
        """A fresh run: resolve the pairings, import earlier saves, run this shard's cells."""
        return self._guarded(lambda: self._start(specs))

    def resume(self, records: list[PairingRecord]) -> Results:
        """A resumed run: the recorded pairings; only cells missing or interrupted are run."""
        return self._guarded(lambda: self._restart(records))

    def plan(self) -> list[PlannedCell]:
        """Every cell of this run's shard, in plan order."""
        cells = expand_cells(self.scenarios, self.pairings, self.options.cross, [p.id for p in self.imported])
        return select_shard(cells, self.options.shard)

    def _start(self, specs: list[PairingSpec]) -> list[PlannedCell]:
        self.pairings = self._resolve(specs)
        self.records = {p.id: pairing_record(p) for p in self.pairings}
        self._import_artifacts()
        self._save_meta()
        return self.plan()

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
        done = {c.key for c in self.store.read_cells() if c.verdict not in UNFINISHED}
        selected = self.plan()
        todo = [c for c in selected if c.key not in done]
        self.progress.note(f"resuming {self.store.root}: {len(selected) - len(todo)} of {len(selected)} cells already done")
        return todo

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
            self.workers.close_all()
            signal.signal(signal.SIGTERM, previous)

    def _run(self, todo: list[PlannedCell]) -> None:
        self.todo = {c.key for c in todo}
        self.phase_two = any(c.saved_with not in (None, c.pairing.id) for c in todo)
        self.needed_saves = {(c.scenario.id, c.saved_with) for c in todo if c.saved_with is not None}
        involved = {c.pairing.id for c in todo} | {saver for _, saver in self.needed_saves}
        pairings = [p for p in self.pairings if p.id in involved]
        self.progress = Progress(len(todo), self.stream, envs=len(pairings), jobs=self.options.jobs)
        shard = f" (shard {self.run_info.shard})" if self.run_info.shard else ""
        single = sum(1 for c in todo if c.saved_with is None)
        self.progress.note(
            f"running {len(todo)} cells{shard} ({single} single-env, {len(todo) - single} cross-version) of "
            f"{len(self.scenarios)} scenarios on {len(self.pairings)} pairings "
            f"(jobs {self.options.jobs}, timeout {self.options.timeout:g} s) into {self.store.root}"
        )
        self._slots = ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="cell")
        try:
            self._in_pool(self._phase_one, pairings)
            if self.phase_two:  # some cell loads what another pairing saved
                self._in_pool(self._phase_two, pairings)
        except BaseException:
            self._slots.shutdown(wait=False, cancel_futures=True)
            raise
        self._slots.shutdown(wait=True)

    def _resolve(self, specs: list[PairingSpec]) -> list[Pairing]:
        def resolve(spec: PairingSpec) -> Pairing:
            pairing = resolve_pairing(spec, self.options.exclude_newer, lambda text: self.progress.note(f"resolving {spec.text!r}: {text}"))
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
        if self.options.cross == "imported":  # every saver of the loaded runs has its cells, also one that saved nothing
            unsaved = savers_without_saves(self.options.load_artifacts, {*self.records, *(r.id for r in self.imported)})
            for record in unsaved:
                self.progress.note(f"pairing {record.id} of run {record.source} left no saves")
            self.imported += unsaved

    def _in_pool(self, task: Callable[[Pairing], None], pairings: list[Pairing]) -> None:
        """Run ``task`` for each pairing, up to ``--jobs`` pairings at once (their phases share the
        run's cell slots, see :meth:`_in_slots`)."""
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.options.jobs, len(pairings))))
        futures = [pool.submit(task, p) for p in pairings]
        try:
            _wait_all(futures)
        except BaseException:
            self.stopping.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _in_slots(self, pairing: Pairing, env: Env, tasks: list[Callable[[], None]], starts_worker: bool) -> None:
        """Run a pairing's tasks on the run's cell slots (each task runs its phases one after the
        other, so at most ``--jobs`` phases are in flight in the run) and wait for them all; a
        task's exception is raised here. ``starts_worker``: some task will run a phase, so the
        pairing's worker is started first, here, and its framework import holds no cell slot."""
        if starts_worker and not self.stopping.is_set():
            self.workers.get(pairing, env)
        _wait_all([self._slots.submit(self._unless_stopping, task) for task in tasks])

    def _unless_stopping(self, task: Callable[[], None]) -> None:
        if not self.stopping.is_set():
            task()

    # ------------------------------------------------------------------ phases

    def _phase_one(self, pairing: Pairing) -> None:
        env = self._ensure_env(pairing)
        if env is None:
            self._mark_install_failed(pairing)
            return
        tasks: list[Callable[[], None]] = [partial(self._scenario_one, scenario, pairing, env) for scenario in self.scenarios]
        starts = any(
            (PlannedCell(s, pairing, None if s.kind == "run" else pairing.id).key in self.todo and run_unmet(s, pairing, env) is None)
            or ((s.id, pairing.id) in self.needed_saves and save_unmet(s, pairing, env) is None)
            for s in self.scenarios
        )
        self._in_slots(pairing, env, tasks, starts)
        if self.stopping.is_set():
            return
        if self.workers.crowded() or not self.phase_two:
            self.workers.close(pairing.id)

    def _scenario_one(self, scenario: Scenario, pairing: Pairing, env: Env) -> None:
        """Phase one of a scenario in a pairing: its single-env cell, or its save (when a cell
        loads it) and then its load in the same pairing."""
        unmet = run_unmet(scenario, pairing, env)
        if scenario.kind == "run":
            self._run_if_todo(PlannedCell(scenario, pairing), unmet)
            return
        if (scenario.id, pairing.id) in self.needed_saves:
            self._save(scenario, pairing, env, save_unmet(scenario, pairing, env))
        if self.stopping.is_set():
            return
        self._run_if_todo(PlannedCell(scenario, pairing, pairing.id), unmet)

    def _phase_two(self, pairing: Pairing) -> None:
        env = self.envs.get(pairing.id)
        if env is None:
            return
        loads = [p for p in self.plan() if p.pairing.id == pairing.id and p.saved_with not in (None, pairing.id)
                 and p.key in self.todo]
        tasks: list[Callable[[], None]] = [
            partial(self._run_if_todo, planned, run_unmet(planned.scenario, pairing, env)) for planned in loads
        ]
        self._in_slots(pairing, env, tasks, any(run_unmet(p.scenario, pairing, env) is None for p in loads))
        if self.stopping.is_set():
            return
        self.workers.close(pairing.id)

    def _run_if_todo(self, planned: PlannedCell, unmet: str | None) -> None:
        if planned.key in self.todo:
            self._run_cell(planned, unmet)

    def _ensure_env(self, pairing: Pairing) -> Env | None:
        started = time.monotonic()
        try:
            env = ensure_env(pairing, self.envs_dir, self.options.exclude_newer,
                             lambda text: self.progress.note(f"env {pairing.id}: {text}"))
        except InstallError as exc:
            with self.lock:
                self.records[pairing.id].install_error = str(exc)
            self._save_meta()
            self.progress.set_up(time.monotonic() - started, env_ready=True)
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "no message"
            self.progress.note(f"env {pairing.id}: install failed after {time.monotonic() - started:.1f} s: {last}")
            return None
        with self.lock:
            self.envs[pairing.id] = env
            record = self.records[pairing.id]
            record.install_error = None
            record.packages = dict(env.packages)
            record.python = env.python
            record.env_key = env.key
            record.env_reused = env.reused
            record.install_s = 0.0 if env.reused else round(time.monotonic() - started, 3)
        self.progress.set_up(time.monotonic() - started, env_ready=True)
        how = "reused" if env.reused else f"installed in {time.monotonic() - started:.1f} s"
        self.progress.note(f"env {pairing.id}: {how} (python {env.python}, {len(env.packages)} packages)")
        self._save_meta()
        return env

    def _imported(self, pairing_id: str, seconds: float) -> None:
        self.progress.set_up(seconds)
        with self.lock:
            self.records[pairing_id].import_s = seconds
        self._save_meta()

    # ------------------------------------------------------------------ cells

    def _save(self, scenario: Scenario, pairing: Pairing, env: Env, unmet: str | None) -> None:
        if unmet is not None:
            self.saves[(scenario.id, pairing.id)] = SaveState(unmet=unmet)
            return
        if self.stopping.is_set():  # no new work (and no new worker) once a stop began
            return
        kept = existing_save(self.store, scenario, pairing.id)
        if kept is not None:  # a resumed run reuses the save it already made
            self.saves[(scenario.id, pairing.id)] = kept
            return
        folder = self.store.save_folder(scenario.id, pairing.id)
        remove_tree(folder.root)
        folder.files.mkdir(parents=True)
        request = {
            "op": "save",
            "scenario": str(scenario.path),
            "scenario_id": scenario.id,
            "workdir": str(folder.files),
            "result": str(folder.result),
            "output": str(folder.output),
            "values_out": str(folder.reference),
            **self._limits(scenario),
        }
        outcome = self.workers.get(pairing, env).run_phase(request, self.options.timeout)
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
        try:
            request = self._phase_request(planned)
        except Exception as exc:  # what an earlier attempt left there: this cell's error, not the run's end
            self._finish_cell(planned, self._host_failure("prepare the cell's work folder", exc), save=save)
            return
        outcome = self.workers.get(planned.pairing, self.envs[planned.pairing.id]).run_phase(request, self.options.timeout)
        decision = decide_verdict(signature, save=save.outcome if save else None, saved_with=planned.saved_with, outcome=outcome)
        self._finish_cell(planned, decision, outcome, save)

    def _save_decision(self, planned: PlannedCell, save: SaveState | None) -> Decision | None:
        """The verdict of a cross-version cell whose save is missing or failed (else None)."""
        signature, saver = planned.scenario.signature, planned.saved_with or ""
        own = self.records.get(saver)
        record = own or next((r for r in self.imported if r.id == saver), None)
        if save is None and own is None and record is not None and record.install_error is None:
            return missing_import(planned.scenario, record)
        if save is None or (record is not None and record.install_error is not None):
            return decide_verdict(signature, install_error=f"the saving pairing {saver} could not be installed")
        if save.unmet is not None:
            return decide_verdict(signature, unmet=f"the saving pairing {saver} does not save it: {save.unmet}")
        if save.outcome is not None and not save.outcome.ok:
            return decide_verdict(signature, save=save.outcome, saved_with=saver)
        return None

    def _phase_request(self, planned: PlannedCell) -> dict[str, Any]:
        """The worker's request for the cell's phase, with a fresh work folder (holding a copy of
        the save, for a load) and fresh phase files."""
        scenario = planned.scenario
        workdir = self.store.fresh_workdir(planned.key)
        op = "run" if planned.saved_with is None else "load"
        paths = self.store.phase_paths(planned.key, op)
        request: dict[str, Any] = {
            "op": op,
            "scenario": str(scenario.path),
            "scenario_id": scenario.id,
            "workdir": str(workdir),
            "result": str(paths.result),
            "output": str(paths.output),
            **self._limits(scenario),
        }
        if planned.saved_with is not None:
            saved = self.store.save_folder(scenario.id, planned.saved_with)
            copy_tree(saved.files, workdir)
            request["reference"] = str(saved.reference)
        return request

    def _limits(self, scenario: Scenario) -> dict[str, Any]:
        """What every phase request of a scenario carries besides its paths."""
        return {"rtol": scenario.rtol, "atol": scenario.atol, "signature": scenario.signature,
                "max_output": self.options.max_output}

    def _finish_cell(
        self, planned: PlannedCell, decision: Decision, outcome: PhaseOutcome | None = None, save: SaveState | None = None,
    ) -> None:
        saved = save if save is not None and save.outcome is not None else None
        cell = cell_record(planned.key, decision.verdict, decision.reason, outcome,
                           saved.evidence if saved else None, saved.outcome if saved else None)
        if outcome is not None:
            workdir = self.store.workdir_path(planned.key)
            cell.workdir = self.store.relative(workdir)
            try:
                cell.files, cell.mapping, cell.mapping_text = file_evidence(workdir, cell.probe, self.store.shown)
            except Exception as exc:  # what the scenario left (a tree too deep to walk): its own cell's error
                failed = self._host_failure("read the cell's work folder", exc, decision)
                cell.verdict, cell.reason = failed.verdict.value, failed.reason
        with self.lock:
            if self.stopping.is_set():  # what ended because of the stop is not this cell's verdict
                return
            self.running.pop(planned.key, None)
            self.store.write_cell(cell)
        self.progress.cell_finished(cell)

    def _host_failure(self, step: str, exc: Exception, decided: Decision | None = None) -> Decision:
        """A cell whose own host-side step failed is ``error``, saying which step, why, and what
        the cell showed before it (``decided``)."""
        if isinstance(exc, OSError) and exc.strerror:
            where = exc.filename if isinstance(exc.filename, str) else None
            why = exc.strerror + (f" ({self.store.shown(Path(where))})" if where else "")
        else:
            why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'}"
        before = f" (before that: {decided.verdict.value}, {decided.reason})" if decided is not None else ""
        return Decision(Verdict.ERROR, f"the harness could not {step}: {why[:300]}{before}")

    def _mark_install_failed(self, pairing: Pairing) -> None:
        error = self.records[pairing.id].install_error or "install failed"
        for planned in self.plan():
            if planned.pairing.id != pairing.id or planned.key not in self.todo:
                continue
            decision = decide_verdict(planned.scenario.signature, install_error=error)
            cell = cell_record(planned.key, decision.verdict, decision.reason)
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
        self.workers.close_all(kill=True)
        for planned in running:
            decision = decide_verdict(planned.scenario.signature, interrupted=True)
            self.store.write_cell(cell_record(planned.key, decision.verdict, decision.reason))
        self.progress.note(f"interrupted: {len(running)} running cells marked as interrupted")

    def _finish(self, complete: bool) -> Results:
        self.run_info.finished = utc_now()
        self.run_info.duration_s = round(self._previous_s + time.monotonic() - self._started, 3)
        self.run_info.complete = complete
        self._save_meta()
        results = self.store.assemble(p.key for p in self.plan())
        self.store.write_results(results)
        if complete:
            self.progress.note(f"finished {len(results.cells)} cells in {format_duration(self.run_info.duration_s)}")
        return results

    def _save_meta(self) -> None:
        with self.lock:
            records = [self.records[p.id] for p in self.pairings if p.id in self.records] + self.imported
            self.store.write_meta(self.run_info, records, [scenario_record(s) for s in self.scenarios])


def _wait_all(futures: list[Future[None]]) -> None:
    """Wait for every future in turn (waking twice a second, so a Ctrl-C reaches the main
    thread); the first exception of a task is raised."""
    for future in futures:
        while True:
            try:
                future.result(timeout=0.5)
                break
            except FutureTimeout:
                continue


def run_unmet(scenario: Scenario, pairing: Pairing, env: Env) -> str | None:
    """Why a scenario does not run in this env (its BACKENDS, its REQUIRES), or None."""
    return _unmet(scenario, pairing.spec.backend, env.packages, env.modules, save=False)


def save_unmet(scenario: Scenario, pairing: Pairing, env: Env) -> str | None:
    """Why a cross-version scenario does not save in this env (BACKENDS, then SAVE_REQUIRES, else REQUIRES)."""
    return _unmet(scenario, pairing.spec.backend, env.packages, env.modules, save=True)


def missing_import(scenario: Scenario, record: PairingRecord) -> Decision:
    """The verdict of a load whose saver, imported from another run, left no save of the scenario:
    ``skipped`` when the saver's recorded packages are outside what saving needs (as they were
    when that run skipped the save), else ``error``. Module names are not recorded, so a name met
    only through a module of another distribution (``keras`` through ``keras-nightly``) reads as
    not installed here."""
    unmet = _unmet(scenario, record.backend, record.packages, {}, save=True)
    if unmet is not None:
        return decide_verdict(scenario.signature, unmet=f"the saving pairing {record.id} does not save it: {unmet}")
    return Decision(Verdict.ERROR, f"the saving pairing {record.id} left no save of this scenario in run {record.source}")


def _unmet(scenario: Scenario, backend: str, packages: dict[str, str], modules: dict[str, list[str]], save: bool) -> str | None:
    """Why a scenario does not run (``save``: save) with this backend and these packages, or None."""
    if scenario.backends and backend not in scenario.backends:
        return f"BACKENDS {', '.join(scenario.backends)}, but the pairing's backend is {backend}"
    if save and scenario.save_requires is not None:
        return unmet_requirement(scenario.save_requires, packages, modules, "SAVE_REQUIRES")
    return unmet_requirement(scenario.requires, packages, modules)


def _install_sigterm_handler() -> Any:
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return signal.getsignal(signal.SIGTERM)
