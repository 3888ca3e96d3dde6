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
import shutil
import signal
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, TextIO

from harness.clock import format_duration, utc_now
from harness.envs.install import Env, ensure_env, resolve_pairing
from harness.errors import InstallError
from harness.evidence.cache import (
    CachedPhase,
    CellCache,
    CellIngredients,
    HostEvidence,
    artifact_hash,
    cache_bound,
    cache_enabled,
    restore_save,
)
from harness.evidence.mapping import file_evidence
from harness.evidence.model import UNFINISHED, PairingRecord, Results, RunInfo, Verdict
from harness.evidence.phase import PhaseOutcome
from harness.evidence.records import cell_record, pairing_from_record, pairing_record, scenario_record
from harness.evidence.run_folder import RunStore
from harness.evidence.runs import savers_without_saves
from harness.evidence.saves import SaveState, existing_save, import_saves, record_save, save_manifest
from harness.paths import LinkedFile, TreeTooDeep, copy_tree, default_envs_dir, link_tree, make_writable, remove_tree, walk_tree
from harness.plan.cells import CellKey, PlannedCell, expand_cells, select_shard
from harness.plan.pairings import Pairing, PairingSpec
from harness.plan.scenarios import Scenario, unmet_requirement
from harness.run.options import MatrixOptions
from harness.run.progress import Progress
from harness.run.reuse import carry_evidence, phase_dependencies, phase_ingredients
from harness.run.verdict import Decision, decide_verdict
from harness.run.workers import WorkerPool


class SaveWrittenByLoad(RuntimeError):
    """A load wrote into the save it shares with every other load of it (through hard links)."""


@dataclass
class PreparedPhase:
    """A phase's request, with how its work folder holds the save (for a load): ``linked``, the
    files shared with the stored save (checked afterwards for writes), or ``private``, a copy of
    its own (a ``LOAD_WRITES`` scenario), removed once the cell's evidence is taken."""

    request: dict[str, Any]
    workdir: Path
    linked: list[LinkedFile] = field(default_factory=list)
    private: bool = False


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
        #: (scenario id, blob digest) that a load was found to have written into, with what it did
        #: (refused for later loads of that scenario; blobs are never shared across scenarios).
        self.damaged: dict[tuple[str, str], str] = {}
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
        self.cache = CellCache(self.envs_dir, enabled=cache_enabled())
        self._artifacts: dict[tuple[str, str], str | None] = {}

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

    def _in_slots(self, tasks: list[Callable[[], None]]) -> None:
        """Run a pairing's tasks on the run's cell slots (each task runs its phases one after the
        other, so at most ``--jobs`` phases are in flight in the run) and wait for them all; a
        task's exception is raised here. The pairing's worker is started by the first phase that
        needs it (a run whose cells all come from the cell cache imports nothing); the phases
        that need it meanwhile wait for that start in their slots."""
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
        groups: dict[tuple[str, str], list[Scenario]] = {}
        for scenario in self.scenarios:  # the formats of a module share one save phase: one task runs them in turn
            groups.setdefault(("module", scenario.module) if scenario.format is not None else ("id", scenario.id), []).append(scenario)
        tasks: list[Callable[[], None]] = [partial(self._scenarios_one, group, pairing, env) for group in groups.values()]
        self._in_slots(tasks)
        if self.stopping.is_set():
            return
        if self.workers.crowded() or not self.phase_two:
            self.workers.close(pairing.id)

    def _scenarios_one(self, scenarios: list[Scenario], pairing: Pairing, env: Env) -> None:
        for scenario in scenarios:
            if self.stopping.is_set():
                return
            self._scenario_one(scenario, pairing, env)

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
        self._in_slots(tasks)
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
        if (scenario.id, pairing.id) in self.saves:  # made already, by the save phase of its sibling formats
            return
        kept = existing_save(self.store, scenario, pairing.id)
        if kept is not None:  # a resumed run reuses the save it already made
            self.saves[(scenario.id, pairing.id)] = kept
            return
        key = self._ingredients("save", scenario, pairing, env)
        if self._reuse_save(key, scenario, pairing):
            return
        if scenario.format is not None:  # FORMATS: one save phase for every format still to be saved
            self._save_formats(scenario, pairing, env)
            return
        folder = self.store.save_folder(scenario.id, pairing.id)
        remove_tree(folder.root)
        folder.files.mkdir(parents=True)
        request = {
            "op": "save",
            "scenario": str(scenario.path),
            "scenario_id": scenario.module,
            "workdir": str(folder.files),
            "result": str(folder.result),
            "output": str(folder.output),
            "values_out": str(folder.reference),
            **self._limits(scenario),
        }
        outcome = self.workers.get(pairing, env).run_phase(request, self.options.timeout)
        if self.stopping.is_set():  # a save cut short by the stop is not evidence; a resume makes it again
            return
        self._keep_save(key, scenario, pairing, outcome)

    def _keep_save(self, key: CellIngredients | None, scenario: Scenario, pairing: Pairing, outcome: PhaseOutcome) -> None:
        """Record a save that ran here, and keep it in the cell cache (not a lost worker's, nor
        files the cache could not give back exactly)."""
        folder = self.store.save_folder(scenario.id, pairing.id)
        state = record_save(self.store, scenario, pairing.id, outcome)
        self.saves[(scenario.id, pairing.id)] = state
        sha = state.evidence.sha256 if state.evidence is not None else ""
        if key is not None and outcome.status != "worker_lost" and (not outcome.ok or (sha and _plain_tree(folder.files))):
            self.cache.store(key, outcome, HostEvidence(), self._source(), phase_dependencies(self.cache, scenario, outcome.reads),
                             folder.root, sha)

    def _reuse_save(self, key: CellIngredients | None, scenario: Scenario, pairing: Pairing) -> bool:
        """Take a save from the cell cache, its files put in this run's save folder; False on a miss
        (or with ``--fresh``, or for a scenario that is never cached), and the save runs."""
        if key is None or self.options.is_fresh(scenario.id):
            return False
        cached = self.cache.lookup(key)
        if cached is None or (cached.outcome.ok and cached.save_files is None):
            return False
        folder = self.store.save_folder(scenario.id, pairing.id)
        try:
            remove_tree(folder.root)
            folder.files.mkdir(parents=True)
            if cached.outcome.ok:
                restore_save(cached, folder.root)
        except OSError:
            return False
        state = record_save(self.store, scenario, pairing.id, cached.outcome, reused_from=cached.source)
        if cached.outcome.ok and (state.evidence is None or state.evidence.sha256 != cached.save_sha256):
            return False
        self.saves[(scenario.id, pairing.id)] = state
        return True

    def _save_formats(self, first: Scenario, pairing: Pairing, env: Env) -> None:
        """One save phase for ``first`` and every sibling format (same module, ``FORMATS``) that
        this run still has to save in ``pairing``: the worker calls ``save(workdir, format)`` for
        each in one process, each into the format's own save folder, and each format's save is
        recorded on its own (its result; the phase's output, copied into every folder)."""
        group = [first]
        for sibling in self.scenarios:
            key = (sibling.id, pairing.id)
            if sibling.module != first.module or sibling.id == first.id or key not in self.needed_saves or key in self.saves:
                continue
            kept = existing_save(self.store, sibling, pairing.id)
            if kept is not None:
                self.saves[key] = kept
            elif not self._reuse_save(self._ingredients("save", sibling, pairing, env), sibling, pairing):
                group.append(sibling)
        folders = [self.store.save_folder(s.id, pairing.id) for s in group]
        for folder in folders:
            remove_tree(folder.root)
            folder.files.mkdir(parents=True)
        targets = [{"format": s.format, "workdir": str(f.files), "result": str(f.result), "values_out": str(f.reference)}
                   for s, f in zip(group, folders)]
        request = {
            "op": "save",
            "scenario": str(first.path),
            "scenario_id": first.module,
            **targets[-1],  # the phase is done when the last format's result is there
            "output": str(folders[0].output),
            "formats": targets,
            **self._limits(first),
        }
        outcomes = self.workers.get(pairing, env).run_phases(request, self.options.timeout)
        if self.stopping.is_set():  # a save cut short by the stop is not evidence; a resume makes it again
            return
        for scenario, folder, outcome in zip(group, folders, outcomes):
            if folder is not folders[0] and folders[0].output.is_file():
                shutil.copyfile(folders[0].output, folder.output)
            self._keep_save(self._ingredients("save", scenario, pairing, env), scenario, pairing, outcome)

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
        damaged = self._damaged_save(planned)
        if damaged is not None:
            self._finish_cell(planned, self._host_failure("load the shared save", SaveWrittenByLoad(damaged)), save=save)
            return
        key = self._cell_ingredients(planned, save)
        if key is not None and not self.options.is_fresh(planned.scenario.id):
            cached = self.cache.lookup(key)
            if cached is not None:
                decision = decide_verdict(signature, save=save.outcome if save else None, saved_with=planned.saved_with,
                                          outcome=cached.outcome)
                self._finish_cell(planned, decision, cached.outcome, save, reused=cached)
                return
        with self.lock:
            if self.stopping.is_set():
                return
            self.running[planned.key] = planned
        try:
            prepared = self._phase_request(planned)
        except Exception as exc:  # what an earlier attempt left there: this cell's error, not the run's end
            self._finish_cell(planned, self._host_failure("prepare the cell's work folder", exc), save=save)
            return
        try:
            outcome = self.workers.get(planned.pairing, self.envs[planned.pairing.id]).run_phase(prepared.request, self.options.timeout)
            decision = decide_verdict(signature, save=save.outcome if save else None, saved_with=planned.saved_with, outcome=outcome)
            written = self._written_into_save(planned, prepared.linked)
            if written is not None:  # the harness's finding, not the phase's: never cached
                decision = self._host_failure("keep the shared save unchanged", SaveWrittenByLoad(written), decision)
            self._finish_cell(planned, decision, outcome, save, key=key if written is None else None)
        finally:
            if prepared.private:  # the copy served its cell; its evidence is taken
                try:
                    remove_tree(prepared.workdir)
                except OSError:
                    pass

    def _damaged_save(self, planned: PlannedCell) -> str | None:
        """Why a load cannot use its save: an earlier load wrote into bytes this save shares."""
        if planned.saved_with is None or not self.damaged:
            return None
        manifest = save_manifest(self.store.save_folder(planned.scenario.id, planned.saved_with))
        mine = {digest for scenario, digest in self.damaged if scenario == planned.scenario.id}
        hit = sorted(manifest.digests & mine) if manifest is not None else []
        if not hit:
            return None
        return f"an earlier load wrote into this save's files ({self.damaged[(planned.scenario.id, hit[0])]}), so it is refused"

    def _written_into_save(self, planned: PlannedCell, linked: list[LinkedFile]) -> str | None:
        """What a load wrote into the save files it was linked to (None when nothing changed).
        The changed bytes are taken out of the blob store, and later loads of any save holding
        them are refused (:meth:`_damaged_save`); a resumed run makes such saves again."""
        saved = self.store.save_folder(planned.scenario.id, planned.saved_with or "")
        manifest = save_manifest(saved)
        digests = {entry.path: entry.sha256 for entry in manifest.files} if manifest is not None else {}

        def relative(item: LinkedFile) -> str:
            return item.source.relative_to(saved.files).as_posix() if item.source.is_relative_to(saved.files) else item.source.name

        changed = [(item, why) for item in linked for why in [item.changed(digests.get(relative(item)))] if why is not None]
        if not changed:
            return None
        who = f"the load of scenario {planned.scenario.id} saved in {planned.saved_with} and loaded in {planned.pairing.id}"
        first, why = changed[0]
        with self.lock:
            for item, _ in changed:
                digest = digests.get(relative(item))
                if digest is not None:
                    self.damaged.setdefault((planned.scenario.id, digest), f"{who} wrote into {relative(item)}")
                    self.store.blobs.forget(digest, planned.scenario.id)
        return (f"{who} wrote into the shared save ({relative(first)}: {why}); a scenario whose load modifies or appends to "
                "the saved files must declare LOAD_WRITES = True, so each load gets a copy of its own")

    def _ingredients(self, kind: str, scenario: Scenario, pairing: Pairing, env: Env,
                     artifact: str | None = None) -> CellIngredients | None:
        """The cache key of a phase of ``scenario`` in ``pairing``'s env: everything that decides it."""
        return phase_ingredients(kind, scenario, pairing.spec.backend, env, self.options.timeout, self.options.isolation,
                                 self.options.max_output, artifact)

    def _cell_ingredients(self, planned: PlannedCell, save: SaveState | None) -> CellIngredients | None:
        """The cache key of a cell; None when it cannot be cached (a load of a save whose files
        could not be hashed)."""
        env = self.envs[planned.pairing.id]
        if planned.saved_with is None:
            return self._ingredients("run", planned.scenario, planned.pairing, env)
        artifact = self._artifact(planned.scenario.id, planned.saved_with, save)
        return None if artifact is None else self._ingredients("load", planned.scenario, planned.pairing, env, artifact)

    def _artifact(self, scenario_id: str, saver: str, save: SaveState | None) -> str | None:
        """What a load of this save reads, hashed once per save: its files and reference values."""
        with self.lock:
            if (scenario_id, saver) in self._artifacts:
                return self._artifacts[(scenario_id, saver)]
        sha = save.evidence.sha256 if save is not None and save.evidence is not None else ""
        value = artifact_hash(sha, self.store.save_folder(scenario_id, saver).root) if sha else None
        with self.lock:
            self._artifacts[(scenario_id, saver)] = value
        return value

    def _source(self) -> str:
        return f"run {self.run_info.id} ({self.store.root})"

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

    def _phase_request(self, planned: PlannedCell) -> PreparedPhase:
        """The worker's request for the cell's phase, with a fresh work folder and fresh phase
        files. A load's folder holds the save's files as read-only hard links to the stored save
        (checked afterwards: see :meth:`_written_into_save`), or, for a ``LOAD_WRITES`` scenario,
        a writable copy of its own."""
        scenario = planned.scenario
        workdir = self.store.fresh_workdir(planned.key)
        op = "run" if planned.saved_with is None else "load"
        paths = self.store.phase_paths(planned.key, op)
        request: dict[str, Any] = {
            "op": op,
            "scenario": str(scenario.path),
            "scenario_id": scenario.module,
            "workdir": str(workdir),
            "result": str(paths.result),
            "output": str(paths.output),
            **self._limits(scenario),
        }
        prepared = PreparedPhase(request=request, workdir=workdir)
        if planned.saved_with is not None:
            saved = self.store.save_folder(scenario.id, planned.saved_with)
            if scenario.load_writes:
                copy_tree(saved.files, workdir)
                make_writable(workdir)
                prepared.private = True
            else:
                prepared.linked = link_tree(saved.files, workdir)
            request["reference"] = str(saved.reference)
        return prepared

    def _limits(self, scenario: Scenario) -> dict[str, Any]:
        """What every phase request of a scenario carries besides its paths (``format``: the
        second argument of ``save``/``load`` of a scenario with ``FORMATS``, else None)."""
        return {"rtol": scenario.rtol, "atol": scenario.atol, "signature": scenario.signature,
                "max_output": self.options.max_output, "format": scenario.format}

    def _finish_cell(
        self, planned: PlannedCell, decision: Decision, outcome: PhaseOutcome | None = None, save: SaveState | None = None,
        key: CellIngredients | None = None, reused: CachedPhase | None = None,
    ) -> None:
        """Write a finished cell. ``key``: the cell ran here and its facts go into the cell cache
        (unless the worker was lost or the harness failed); ``reused``: it came from the cache,
        with the host evidence that was taken when it ran."""
        saved = save if save is not None and save.outcome is not None else None
        cell = cell_record(planned.key, decision.verdict, decision.reason, outcome,
                           saved.evidence if saved else None, saved.outcome if saved else None)
        cacheable = key is not None and outcome is not None and outcome.status != "worker_lost"
        if reused is not None:
            carry_evidence(cell, reused)
        elif outcome is not None:
            workdir = self.store.workdir_path(planned.key)
            cell.workdir = self.store.relative(workdir)
            try:
                cell.files, cell.mapping, cell.mapping_text = file_evidence(
                    workdir, cell.probe, self.store.shown, self.store.anatomy_of)
            except TreeTooDeep as exc:  # a limit of the harness's own walk: a note on the cell, never its verdict
                cell.reason = f"{cell.reason} (note: the harness did not read the work folder's files: {exc.strerror}, at {exc.filename})"
                cacheable = False
            except Exception as exc:  # what the scenario left that cannot be read at all: its own cell's error
                failed = self._host_failure("read the cell's work folder", exc, decision)
                cell.verdict, cell.reason = failed.verdict.value, failed.reason
                cacheable = False
        with self.lock:
            if self.stopping.is_set():  # what ended because of the stop is not this cell's verdict
                return
            self.running.pop(planned.key, None)
            self.store.write_cell(cell)
        if cacheable and key is not None and outcome is not None:
            self.cache.store(key, outcome, HostEvidence(cell.files, cell.mapping, cell.mapping_text), self._source(),
                             phase_dependencies(self.cache, planned.scenario, outcome.reads))
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
        stats = self.cache.stats
        for line in stats.rejected:
            self.progress.note(line)
        stale = stats.stale_line()
        if stale is not None:
            self.progress.note(stale)
        if stats.hits or stats.save_hits or stats.stored or stats.rejected:
            self.progress.note(f"cell cache: {stats.hits} cells and {stats.save_hits} saves reused, {stats.stored} entries "
                               f"stored, {len(stats.rejected)} ignored ({self.cache.root})")
        try:
            removed, freed = self.cache.prune(cache_bound()) if self.cache.enabled else (0, 0)
        except Exception as exc:  # the shared cache's upkeep never costs a run its results
            removed, freed = 0, 0
            self.progress.note(f"cell cache: not pruned this time ({type(exc).__name__}: {str(exc)[:200]})")
        if removed:
            self.progress.note(f"cell cache: pruned {removed} least recently used entries ({freed / 2**20:.1f} MiB)")
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


def _plain_tree(folder: Path) -> bool:
    """Only folders and regular files below ``folder`` (what the cell cache keeps exactly)."""
    try:
        return all(item.kind in ("dir", "file") for item in walk_tree(folder))
    except OSError:
        return False


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
