"""The scale bench's figures, computed from synthetic results and folders (no timing)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from harness.commands.bench_scale import ChildRun, disk_bytes, scale_figures, scenario_seconds
from harness.evidence.model import Cell, PairingRecord, Results, RunInfo, SaveRecord


def _results() -> Results:
    pairings = [
        PairingRecord(id="a", install_s=3.0, import_s=2.0, env_reused=False),
        PairingRecord(id="b", install_s=1.0, import_s=4.0, env_reused=True),
    ]
    cells = [
        Cell(scenario="s", pairing="a", verdict="passed", duration_s=1.5),
        Cell(scenario="s", pairing="b", verdict="passed", duration_s=0.5),
        # a cross-version cell's save counts once, in its saving pairing's own cell
        Cell(scenario="x", pairing="a", saved_with="a", verdict="passed", duration_s=1.0,
             save=SaveRecord(duration_s=2.0)),
        Cell(scenario="x", pairing="b", saved_with="a", verdict="passed", duration_s=1.0,
             save=SaveRecord(duration_s=2.0)),
        # a reused cell cost this run nothing
        Cell(scenario="r", pairing="a", verdict="passed", duration_s=9.0, reused_from="earlier"),
    ]
    return Results(run=RunInfo(id="r", started="2026-01-01T00:00:00Z", complete=True), pairings=pairings, cells=cells)


def test_floor_overhead_and_ratio() -> None:
    results = _results()
    figures = scale_figures(results, ChildRun(wall_s=30.0, returncode=0, max_rss_bytes=7, tree_peak_bytes=9), disk=123)
    assert figures.imports_s == 6.0
    assert figures.scenario_s == 1.5 + 0.5 + 1.0 + 2.0 + 1.0
    assert figures.floor_s == 12.0
    assert figures.ratio == 30.0 / 12.0
    assert figures.setup_s == 4.0 and figures.setup_per_env_s == 2.0 and figures.envs_reused == 1
    assert figures.import_mean_s == 3.0
    assert figures.cells == 5 and figures.pairings == 2
    assert figures.overhead_per_cell_s == (30.0 - 12.0 - 4.0) / 5
    assert (figures.max_rss_bytes, figures.tree_peak_bytes, figures.disk_bytes) == (7, 9, 123)
    assert scenario_seconds(results, ["x"]) == 4.0


def test_no_floor_gives_no_ratio() -> None:
    empty = Results(run=RunInfo(id="r", started="2026-01-01T00:00:00Z"))
    figures = scale_figures(empty, ChildRun(wall_s=1.0, returncode=0, max_rss_bytes=0, tree_peak_bytes=0), disk=0)
    assert math.isnan(figures.ratio) and math.isnan(figures.overhead_per_cell_s)


def _blocks(path: Path) -> int:
    return os.lstat(path).st_blocks * 512


def test_disk_bytes_counts_hard_links_once(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(256 * 1024))
    linked = tmp_path / "linked"
    (linked / "sub").mkdir(parents=True)
    (linked / "one").write_bytes(os.urandom(64 * 1024))
    os.link(linked / "one", linked / "sub" / "two")
    os.symlink(outside, linked / "away")  # not followed: only the link itself counts
    expected = sum(_blocks(p) for p in (linked, linked / "sub", linked / "one", linked / "away"))
    assert disk_bytes(linked) == expected
    copied = tmp_path / "copied"
    (copied / "sub").mkdir(parents=True)
    (copied / "one").write_bytes((linked / "one").read_bytes())
    (copied / "sub" / "two").write_bytes((linked / "one").read_bytes())
    assert disk_bytes(copied) == disk_bytes(linked) - _blocks(linked / "away") + _blocks(copied / "sub" / "two")
