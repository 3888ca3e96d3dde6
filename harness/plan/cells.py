"""The cells of a matrix: their keys, the expansion of scenarios x pairings, and shards.

Pure: nothing here reads a file or starts a process. A cell is named by a :class:`CellKey`
``(scenario, saved_with, pairing)``, one field order everywhere; ``saved_with`` is the pairing
whose save a cross-version cell loads (None for a single-env cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

from harness.errors import BadInput
from harness.plan.pairings import Pairing
from harness.plan.scenarios import Scenario

#: How cross-version scenarios pick their savers: every pairing of the run, only the loader itself,
#: only the savers imported from other runs (``--load-artifacts``: no single-env cell and no save
#: of this run's own; the second stage of a run split across machines), or the pairing listed just
#: before the loader and the loader itself (``adjacent``: consecutive releases, as an atlas runs them).
CROSS_MODES = ("all", "same", "imported", "adjacent")


class CellKey(NamedTuple):
    """Names one cell of a run; :attr:`text` is its stable string form."""

    scenario: str
    saved_with: str | None
    pairing: str

    @property
    def text(self) -> str:
        """``scenario|saved_with|pairing`` (empty ``saved_with`` for a single-env cell)."""
        return f"{self.scenario}|{self.saved_with or ''}|{self.pairing}"


@dataclass(frozen=True)
class PlannedCell:
    """A cell to run; ``saved_with`` names the pairing whose save a cross-version cell loads."""

    scenario: Scenario
    pairing: Pairing
    saved_with: str | None = None

    @property
    def key(self) -> CellKey:
        return CellKey(self.scenario.id, self.saved_with, self.pairing.id)


def plan_keys(
    scenarios: Sequence[tuple[str, str]], pairings: Sequence[str], cross: str = "all", extra_savers: Sequence[str] = ()
) -> list[CellKey]:
    """Every cell of a matrix, scenario by scenario.

    ``scenarios`` are ``(id, kind)`` pairs. A single-env scenario gives one cell per pairing
    (none with ``cross="imported"``); a cross-version scenario gives, per loading pairing, one
    cell per saving pairing: the pairings of :func:`own_savers`, then the ``extra_savers`` whose
    saves were imported from earlier runs.
    """
    keys: list[CellKey] = []
    for scenario, kind in scenarios:
        for pairing in pairings:
            if kind == "run":
                if cross != "imported":
                    keys.append(CellKey(scenario, None, pairing))
                continue
            savers = [*own_savers(cross, pairings, pairing), *extra_savers]
            keys.extend(CellKey(scenario, saver, pairing) for saver in savers)
    return keys


def own_savers(cross: str, pairings: Sequence[str], loader: str) -> list[str]:
    """The pairings of the run itself whose saves ``loader`` loads: every one (``"all"``: an
    N x N grid), only itself (``"same"``), none (``"imported"``: only imported saves), or the
    pairing listed just before it, then itself (``"adjacent"``; the first pairing loads only its
    own save)."""
    if cross == "all":
        return list(pairings)
    if cross == "adjacent":
        place = list(pairings).index(loader)
        return [pairings[place - 1], loader] if place > 0 else [loader]
    return [loader] if cross == "same" else []


def expand_cells(
    scenarios: Sequence[Scenario], pairings: Sequence[Pairing], cross: str = "all", extra_savers: Sequence[str] = ()
) -> list[PlannedCell]:
    """:func:`plan_keys` with the scenario and pairing objects."""
    by_scenario = {s.id: s for s in scenarios}
    by_pairing = {p.id: p for p in pairings}
    keys = plan_keys([(s.id, s.kind) for s in scenarios], [p.id for p in pairings], cross, extra_savers)
    return [PlannedCell(by_scenario[k.scenario], by_pairing[k.pairing], k.saved_with) for k in keys]


def shard_cells(plan: Sequence[PlannedCell], index: int, count: int) -> list[PlannedCell]:
    """Shard ``index`` of ``count`` (1-based): a deterministic, near-equal slice of the cells.

    Cells are ordered pairing by pairing, so each shard spans as few pairings (envs) as possible;
    the shards together hold every cell exactly once.
    """
    ordered = sorted(plan, key=lambda c: (c.pairing.id, c.scenario.id, c.saved_with or ""))
    start, end = (index - 1) * len(ordered) // count, index * len(ordered) // count
    return ordered[start:end]


def select_shard(plan: Sequence[PlannedCell], shard: tuple[int, int] | None) -> list[PlannedCell]:
    """The cells of ``plan`` in ``shard`` (all of them without one), in plan order."""
    if shard is None:
        return list(plan)
    chosen = {c.key for c in shard_cells(plan, *shard)}
    return [c for c in plan if c.key in chosen]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/3"`` → ``(2, 3)``; anything else is :class:`BadInput`."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BadInput(f"--shard {text!r} is not of the form K/N, e.g. 2/3.") from None
    if not 1 <= index <= count:
        raise BadInput(f"--shard {text!r}: K must be between 1 and N.")
    return index, count
