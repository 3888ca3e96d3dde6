"""The cell plan as tables: every cell of a matrix exactly once, and shards that add up to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.plan.cells import CellKey, PlannedCell, expand_cells, parse_shard, plan_keys, select_shard, shard_cells
from harness.plan.pairings import parse_pairing, pinned_pairing
from harness.plan.scenarios import Scenario

PAIRINGS = ["a", "b", "c"]


def test_single_env_scenarios_give_one_cell_per_pairing() -> None:
    assert plan_keys([("s", "run")], PAIRINGS) == [CellKey("s", None, "a"), CellKey("s", None, "b"), CellKey("s", None, "c")]


def test_cross_scenarios_give_the_full_grid_or_the_diagonal() -> None:
    grid = plan_keys([("x", "cross")], PAIRINGS, "all")
    assert len(grid) == 9 and len(set(grid)) == 9
    assert {(k.saved_with, k.pairing) for k in grid} == {(s, p) for s in PAIRINGS for p in PAIRINGS}
    assert plan_keys([("x", "cross")], PAIRINGS, "same") == [CellKey("x", p, p) for p in PAIRINGS]


def test_adjacent_loads_the_pairing_before_and_its_own() -> None:
    keys = plan_keys([("x", "cross"), ("s", "run")], PAIRINGS, "adjacent")
    assert keys == [CellKey("x", "a", "a"), CellKey("x", "a", "b"), CellKey("x", "b", "b"), CellKey("x", "b", "c"),
                    CellKey("x", "c", "c"), CellKey("s", None, "a"), CellKey("s", None, "b"), CellKey("s", None, "c")]


def test_imported_savers_add_a_row_to_every_loader() -> None:
    keys = plan_keys([("x", "cross"), ("s", "run")], ["a", "b"], "same", extra_savers=["old@run1"])
    assert keys == [CellKey("x", "a", "a"), CellKey("x", "old@run1", "a"), CellKey("x", "b", "b"),
                    CellKey("x", "old@run1", "b"), CellKey("s", None, "a"), CellKey("s", None, "b")]


def test_key_text_is_stable() -> None:
    assert CellKey("s", None, "a").text == "s||a"
    assert CellKey("x", "b", "a").text == "x|b|a"


def _plan(scenarios: int, pairings: int) -> list[PlannedCell]:
    made = [Scenario(id=f"s{i}", title="t", path=Path(f"/s{i}.py"), kind="cross" if i % 3 == 0 else "run")
            for i in range(scenarios)]
    paired = [pinned_pairing(parse_pairing(f"keras==3.{j}.0")) for j in range(pairings)]
    return expand_cells(made, paired, "all")


@pytest.mark.parametrize("scenarios, pairings", [(1, 1), (5, 3), (7, 2), (10, 4)])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_shards_hold_every_cell_exactly_once(scenarios: int, pairings: int, count: int) -> None:
    plan = _plan(scenarios, pairings)
    shards = [shard_cells(plan, index, count) for index in range(1, count + 1)]
    keys = [c.key for shard in shards for c in shard]
    assert sorted(keys, key=lambda k: k.text) == sorted((c.key for c in plan), key=lambda k: k.text)
    assert len(keys) == len(set(keys))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shards == [shard_cells(plan, index, count) for index in range(1, count + 1)]  # deterministic


def test_a_shard_keeps_plan_order_and_spans_few_pairings() -> None:
    plan = _plan(6, 3)
    chosen = select_shard(plan, (1, 3))
    assert [c.key for c in chosen] == [c.key for c in plan if c in chosen]
    assert len({c.pairing.id for c in chosen}) == 1
    assert select_shard(plan, None) == plan


@pytest.mark.parametrize("text, fragment", [("3", "K/N"), ("a/b", "K/N"), ("0/3", "between 1 and N"), ("4/3", "between 1 and N")])
def test_bad_shards(text: str, fragment: str) -> None:
    with pytest.raises(BadInput, match=fragment):
        parse_shard(text)
    assert parse_shard("2/3") == (2, 3)
