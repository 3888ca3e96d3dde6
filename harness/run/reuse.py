"""Cells taken from the cell cache (:mod:`harness.evidence.cache`): the key of a phase, built the
same way by every command that runs or looks up cells (a matrix, a bisect probe), and a cached
phase turned into a cell whose verdict is decided again from its facts.
"""

from __future__ import annotations

import functools
import hashlib
import os

from harness.envs.install import Env
from harness.evidence.cache import CachedPhase, CellCache, CellIngredients, Dependency, environment_of
from harness.evidence.model import Cell
from harness.evidence.phase import PhaseOutcome
from harness.evidence.records import cell_record
from harness.paths import WORKER_SCRIPT
from harness.plan.cells import CellKey
from harness.plan.scenarios import Scenario
from harness.run.verdict import decide_verdict


@functools.cache
def worker_protocol() -> str:
    """The worker's protocol, as the cache keys it: a hash of the worker script itself (any change
    to the worker is another protocol)."""
    return hashlib.sha256(WORKER_SCRIPT.read_bytes()).hexdigest()


def phase_ingredients(
    kind: str, scenario: Scenario, backend: str, env: Env, timeout: float, isolation: str, max_output: int,
    artifact: str | None = None,
) -> CellIngredients | None:
    """The cache key of one phase (``kind``: run, save or load) of ``scenario`` in ``env`` (its
    key, Python and installed packages), with this process's environment variables that matter;
    ``artifact``: what a load reads (see :func:`~harness.evidence.cache.artifact_hash`). None for
    a scenario that declares ``CACHE = False``: its phases are never reused."""
    if not scenario.cacheable:
        return None
    return CellIngredients(
        kind=kind, scenario=scenario.id, scenario_sha256=scenario.sha256, backend=backend, python=env.python,
        packages=tuple(sorted(env.packages.items())), rtol=scenario.rtol, atol=scenario.atol, signature=scenario.signature,
        timeout=float(timeout), isolation=isolation, max_output=max_output, protocol=worker_protocol(),
        artifact=artifact, env=env.key, environment=environment_of(scenario.env, dict(os.environ)),
    )


def phase_dependencies(cache: CellCache, scenario: Scenario, reads: list[str] | None) -> list[Dependency] | None:
    """The files a phase of ``scenario`` read that its key does not already cover (the scenario
    file and its hashed helpers are left out), with their hashes now; None when its reads are not
    known in full (it is then not cached)."""
    if reads is None:
        return None
    covered = {str(scenario.path), *(str(p) for p in scenario.helpers)}
    return cache.dependencies([path for path in reads if path not in covered])


def reused_cell(key: CellKey, cached: CachedPhase, signature: str | None, save: PhaseOutcome | None = None) -> Cell:
    """The cell a cached phase stands for: its verdict decided again from the phase's facts (and
    the save's, for a load), its host evidence as it was taken, and where it was measured."""
    decision = decide_verdict(signature, save=save, saved_with=key.saved_with, outcome=cached.outcome)
    cell = cell_record(key, decision.verdict, decision.reason, cached.outcome)
    carry_evidence(cell, cached)
    return cell


def carry_evidence(cell: Cell, cached: CachedPhase) -> None:
    """Give a cell rebuilt from a cached phase the host evidence taken when it ran, and its source."""
    cell.files, cell.mapping, cell.mapping_text = cached.evidence.files, cached.evidence.mapping, cached.evidence.mapping_text
    cell.reused_from = cached.source


def lookup_cell(cache: CellCache, key: CellKey, ingredients: CellIngredients, signature: str | None) -> Cell | None:
    """A single-env cell from the cache, or None."""
    cached = cache.lookup(ingredients)
    return None if cached is None else reused_cell(key, cached, signature)
