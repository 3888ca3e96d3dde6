"""The workers of a run: one per pairing, started on first use (one framework import per env) and
closed when its pairing has nothing more to run.
"""

from __future__ import annotations

import threading
from typing import Callable

from harness.envs.install import Env
from harness.errors import WorkerError
from harness.evidence.run_folder import RunStore
from harness.plan.pairings import Pairing
from harness.run.client import Worker

#: Modules worth importing once per env when a requested distribution provides them.
FRAMEWORK_MODULES = ("keras", "tensorflow", "jax", "torch")
#: More idle workers than this are closed after their first phase, and started again if needed.
MAX_IDLE_WORKERS = 8


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


class WorkerPool:
    """The run's workers by pairing id. Thread-safe.

    ``note`` receives a progress line; ``imported`` is told each worker's import time once it
    has started (fork isolation).
    """

    def __init__(self, store: RunStore, isolation: str, note: Callable[[str], None],
                 imported: Callable[[str, float], None]):
        self.store = store
        self.isolation = isolation
        self.note = note
        self.imported = imported
        self._workers: dict[str, Worker] = {}
        self._starts: dict[str, threading.Lock] = {}  # one start (and its progress line) per worker
        self._stopped = False  # a stop closed every worker: none is started again
        self._lock = threading.Lock()

    def get(self, pairing: Pairing, env: Env) -> Worker:
        """The pairing's worker, started if it is not yet (a start that fails is noted and the
        worker returned: each phase then ends as ``worker_lost``). Several threads may ask at
        once: one starts it, the others wait for that start."""
        with self._lock:
            worker = self._workers.get(pairing.id)
            if worker is None:
                worker = Worker(env, pairing.spec.backend, preload_modules(pairing, env),
                                self.store.worker_log(pairing.id), self.isolation)
                if self._stopped:  # a phase that slipped past the stop: it ends as worker_lost, nothing starts
                    worker.stopped = True
                    return worker
                self._workers[pairing.id] = worker
            start = self._starts.setdefault(pairing.id, threading.Lock())
        with start:
            self._start(pairing, worker)
        return worker

    def _start(self, pairing: Pairing, worker: Worker) -> None:
        if self.isolation == "fork" and worker.import_s is None and worker.start_error is None and not worker.stopped:
            try:
                worker.start()
            except WorkerError as exc:
                self.note(f"worker {pairing.id}: {exc}")
                return
            errors = "; ".join(f"{m}: {e}" for m, e in worker.preload_errors.items())
            self.note(
                f"worker {pairing.id}: imported {', '.join(worker.preload) or 'nothing'} in {worker.import_s:.1f} s"
                + (f" (import failed: {errors})" if errors else "")
            )
            self.imported(pairing.id, worker.import_s or 0.0)

    def crowded(self) -> bool:
        """More workers are open than may stay idle."""
        with self._lock:
            return len(self._workers) > MAX_IDLE_WORKERS

    def close(self, pairing_id: str) -> None:
        with self._lock:
            worker = self._workers.pop(pairing_id, None)
            self._starts.pop(pairing_id, None)
        if worker is not None:
            worker.close()

    def close_all(self, kill: bool = False) -> None:
        """Close every worker; ``kill``: stop them at once, from any thread (a stop)."""
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
            self._stopped = self._stopped or kill
        for worker in workers:
            if kill:
                worker.terminate()
            else:
                worker.close()
