"""The worker script and its client speak the same protocol version (the worker is never
imported by the harness, so its constant is read from its source)."""

from __future__ import annotations

import ast
from pathlib import Path

from harness.paths import WORKER_SCRIPT
from harness.run import client


def _worker_constant(name: str) -> object:
    tree = ast.parse(WORKER_SCRIPT.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"worker.py defines no {name}")


def test_the_worker_and_the_client_speak_the_same_protocol() -> None:
    assert _worker_constant("PROTOCOL_VERSION") == client.PROTOCOL_VERSION



def test_after_a_stop_a_phase_starts_no_worker(tmp_path: Path) -> None:
    """A phase that asks for its pairing's worker after a stop closed every worker (it slipped
    past the engine's check) gets one that starts nothing: the phase ends as worker_lost at once,
    and no process (framework import) is started for it."""
    from harness.envs.install import Env
    from harness.evidence.run_folder import RunStore
    from harness.plan.pairings import Pairing, parse_pairing
    from harness.run.workers import WorkerPool

    store = RunStore.create(tmp_path / "run")
    notes: list[str] = []
    pool = WorkerPool(store, "fork", notes.append, lambda pairing_id, seconds: None)
    pool.close_all(kill=True)
    spec = parse_pairing("harness-fake==1.0")
    pairing = Pairing(spec=spec, pins=("harness-fake==1.0",), versions={"harness-fake": "1.0"}, id="harness-fake-1.0")
    env = Env(key="k", path=tmp_path / "no-env", python_path=tmp_path / "no-env" / "bin" / "python", python="3.11.7",
              packages={}, modules={}, reused=True)
    worker = pool.get(pairing, env)
    outcome = worker.run_phase({"op": "run", "result": str(tmp_path / "r.json"), "output": str(tmp_path / "o.log")}, 5.0)
    assert outcome.status == "worker_lost" and "stopped" in outcome.detail
    assert notes == [] and worker.import_s is None and not (tmp_path / "no-env").exists()
