"""A run split across machines, as tables: the second stage's plan (``--cross imported``), the
merge of per-pairing stage parts into the full grid, and the verdict of a load whose imported
saver left no save."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.evidence.model import Cell, PairingRecord, Results, RunInfo, ScenarioRecord
from harness.evidence.runs import merge_results
from harness.plan.cells import CROSS_MODES, CellKey, own_savers, plan_keys
from harness.plan.scenarios import Scenario
from harness.run.engine import missing_import

SCENARIOS = (("s", "run"), ("x", "cross"))
PAIRINGS = ("a", "b", "c")


def test_the_imported_mode_plans_only_the_loads_of_imported_saves() -> None:
    assert "imported" in CROSS_MODES
    assert plan_keys(SCENARIOS, ["b"], "imported", extra_savers=["a", "c"]) == [CellKey("x", "a", "b"), CellKey("x", "c", "b")]
    assert plan_keys(SCENARIOS, ["b"], "imported") == []
    assert own_savers("imported", PAIRINGS, "b") == [] and own_savers("same", PAIRINGS, "b") == ["b"]
    assert own_savers("all", PAIRINGS, "b") == list(PAIRINGS)


def test_the_two_stages_plan_the_full_grid_between_them() -> None:
    """Stage 1 (``same``) and stage 2 (``imported``) of every pairing hold every cell of ``all`` once."""
    stages = [k for p in PAIRINGS for k in plan_keys(SCENARIOS, [p], "same")]
    stages += [k for p in PAIRINGS for k in plan_keys(SCENARIOS, [p], "imported", [o for o in PAIRINGS if o != p])]
    assert sorted(stages) == sorted(plan_keys(SCENARIOS, PAIRINGS, "all")) and len(stages) == len(set(stages))


def test_the_command_line_takes_cross_imported() -> None:
    args = build_parser().parse_args(["matrix", "--cross", "imported", "--load-artifacts", "stage1/a"])
    assert args.cross == "imported" and args.load_artifacts == [Path("stage1/a")]


def record(pid: str, source: str | None = None) -> PairingRecord:
    return PairingRecord(id=pid, packages={"harness-fake": pid}, python="3.11.7", source=source)


def part(run_id: str, started: str, cross: str, own: str, imported: tuple[str, ...] = ()) -> Results:
    """The results of one stage's run of pairing ``own``: stage 1 (``same``) runs its single-env
    cell and its diagonal; stage 2 (``imported``) loads the ``imported`` savers' saves."""
    keys = plan_keys(SCENARIOS, [own], cross, imported)
    return Results(
        run=RunInfo(id=run_id, started=started, python="3.11.7", platform="Linux", complete=True,
                    options={"timeout": 300.0, "isolation": "fork", "cross": cross}),
        pairings=[record(own), *(record(p, f"{p}-run (stage1/{p})") for p in imported)],
        scenarios=[ScenarioRecord(id=s, title=s, path=f"/x/{s}.py", kind=kind, sha256=f"sha-{s}") for s, kind in SCENARIOS],
        cells=[Cell(scenario=k.scenario, saved_with=k.saved_with, pairing=k.pairing, verdict="passed") for k in keys],
    )


def stages(pairings: tuple[str, ...] = PAIRINGS) -> list[tuple[str, Results]]:
    first = [(f"stage1-{p}", part(f"{p}-run", f"2026-01-01T00:0{n}:00Z", "same", p)) for n, p in enumerate(pairings)]
    second = [(f"stage2-{p}", part(f"{p}-run2", f"2026-01-01T01:0{n}:00Z", "imported", p, tuple(o for o in PAIRINGS if o != p)))
              for n, p in enumerate(pairings)]
    return first + second


def test_the_stages_of_every_pairing_merge_into_the_full_grid() -> None:
    merged = merge_results(stages())
    results = merged.results
    assert merged.missing == [] and merged.conflicts == []
    assert results.run.options["cross"] == "all" and results.run.complete
    assert [(p.id, p.source) for p in results.pairings] == [("a", None), ("b", None), ("c", None)]  # own records kept
    assert sorted(c.key for c in results.cells) == sorted(plan_keys(SCENARIOS, PAIRINGS, "all"))
    assert merge_results(list(reversed(stages()))).results == results


def test_a_lost_stage_one_part_is_missing_cells() -> None:
    parts = [p for p in stages() if p[0] != "stage1-a"]
    merged = merge_results(parts)
    assert merged.missing == [CellKey("s", None, "a"), CellKey("x", "a", "a")]
    assert merged.results.run.complete is False and merged.results.run.options["cross"] == "all"


def test_a_lost_stage_two_part_is_missing_cells() -> None:
    merged = merge_results([p for p in stages() if p[0] != "stage2-c"])
    assert merged.missing == [CellKey("x", "a", "c"), CellKey("x", "b", "c")]


def test_stage_one_parts_alone_still_expect_the_full_grid() -> None:
    merged = merge_results([p for p in stages() if p[0].startswith("stage1-")])
    assert len(merged.missing) == 6 and {k.saved_with != k.pairing for k in merged.missing} == {True}


def test_shards_of_one_run_keep_its_cross_mode() -> None:
    whole = part("r1", "2026-01-01T00:00:00Z", "same", "a")
    whole.pairings.append(record("b"))
    keys = plan_keys(SCENARIOS, ["a", "b"], "same")
    whole.cells = [Cell(scenario=k.scenario, saved_with=k.saved_with, pairing=k.pairing, verdict="passed") for k in keys]
    other = Results(run=RunInfo(id="r2", started="2026-01-01T00:01:00Z", python="3.11.7", platform="Linux", complete=True,
                                options=dict(whole.run.options)),
                    pairings=list(whole.pairings), scenarios=list(whole.scenarios), cells=whole.cells[2:])
    whole.cells = whole.cells[:2]
    merged = merge_results([("shard-1", whole), ("shard-2", other)])
    assert merged.results.run.options["cross"] == "same" and merged.missing == []


def test_an_imported_saver_no_part_has_as_its_own_stays_imported() -> None:
    lone = part("b-run2", "2026-01-01T01:00:00Z", "imported", "b", ("old",))
    merged = merge_results([("stage2-b", lone), ("stage1-b", part("b-run", "2026-01-01T00:00:00Z", "same", "b"))])
    assert [(p.id, p.source is None) for p in merged.results.pairings] == [("b", True), ("old", False)]
    assert merged.missing == []  # the grid of an imported saver is its row: it loads nothing itself


@pytest.mark.parametrize("version, verdict, fragment", [
    ("3.0", "skipped", "the saving pairing p does not save it: SAVE_REQUIRES harness-fake<2, but the env has harness-fake 3.0"),
    ("1.0", "error", "the saving pairing p left no save of this scenario in run r1 (stage1/p)"),
])
def test_a_load_whose_imported_saver_left_no_save(version: str, verdict: str, fragment: str) -> None:
    scenario = Scenario(id="x", title="x", path=Path("/x.py"), kind="cross", save_requires={"harness-fake": "<2"})
    decision = missing_import(scenario, PairingRecord(id="p", packages={"harness-fake": version}, source="r1 (stage1/p)"))
    assert (decision.verdict.value, decision.reason) == (verdict, fragment)
