"""``bench``: benchmarks that print figures (never pass/fail): env creation, matrix wall time against its
floor, and report rendering at 50 pairings x 50 scenarios.

The floor of a matrix run is what it cannot avoid: one framework import per env plus the time
the scenarios themselves take. The ratio wall / floor shows the harness's own overhead
(goal: at most 1.5 with warm envs).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence, TextIO

from harness.clock import format_duration
from harness.commands.common import add_run_options
from harness.commands.matrix import matrix_options
from harness.envs.install import ensure_env, resolve_pairing
from harness.errors import RunStopped
from harness.evidence.model import Cell, PairingRecord, Requested, Results, RunInfo, ScenarioRecord
from harness.paths import default_envs_dir
from harness.plan.pairings import parse_pairing
from harness.report.render import render_all
from harness.run.launch import parse_pairings, run_matrix
from harness.run.options import MatrixOptions

NAME = "bench"
HELP = "print figures: env creation, matrix wall time vs its floor, report rendering"


def bench_env_creation(spec_text: str, envs_dir: Path, cold: bool, stream: TextIO) -> None:
    """Time creating one env: with an empty uv cache (cold), with uv's cache (warm), and reuse."""
    pairing = resolve_pairing(parse_pairing(spec_text))
    rows = []
    if cold:
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as envs:
            saved = os.environ.get("UV_CACHE_DIR")
            os.environ["UV_CACHE_DIR"] = cache
            try:
                rows.append(("cold (empty uv cache, new env)", _timed(lambda: ensure_env(pairing, Path(envs)))))
            finally:
                if saved is None:
                    os.environ.pop("UV_CACHE_DIR", None)
                else:
                    os.environ["UV_CACHE_DIR"] = saved
    with tempfile.TemporaryDirectory() as envs:
        ensure_env(pairing, Path(envs))  # make sure uv's cache holds everything
        shutil.rmtree(Path(envs))
        rows.append(("warm (uv cache, new env)", _timed(lambda: ensure_env(pairing, Path(envs)))))
        rows.append(("reused (existing env)", _timed(lambda: ensure_env(pairing, Path(envs)))))
    stream.write(f"\nenv creation for {pairing.id}\n")
    for label, seconds in rows:
        stream.write(f"  {label:<34} {seconds:8.2f} s\n")


def bench_matrix(options: MatrixOptions, stream: TextIO, floor: float | None = None) -> float:
    """Run the matrix (envs warm) and compare its wall time with its floor; returns the floor.

    ``floor`` given (from a fork-isolation run) is used instead of this run's own, so that a
    spawn run, which pays the import in every cell, is compared with the same floor.
    """
    for spec in parse_pairings(options.pairings):  # warm the envs first: creation is measured above
        pairing = resolve_pairing(spec)
        if pairing.resolve_error is None:
            try:
                ensure_env(pairing, options.envs_dir or default_envs_dir())
            except Exception:  # noqa: BLE001 - an env that cannot install is a cell verdict, not a bench failure
                pass
    started = time.monotonic()
    results, _ = run_matrix(options, io.StringIO())
    wall = time.monotonic() - started
    if not results.run.complete:
        raise RunStopped("The bench's matrix run was stopped before it completed.")
    imports = sum(p.import_s or 0.0 for p in results.pairings)
    cells = sum(c.duration_s for c in results.cells) + sum(
        c.save.duration_s for c in results.cells if c.save is not None and c.saved_with == c.pairing
    )
    own_floor = imports + cells
    floor = floor or own_floor
    stream.write(f"\nmatrix ({len(results.cells)} cells, {len(results.pairings)} pairings, isolation {options.isolation})\n")
    stream.write(f"  wall time                          {wall:8.2f} s\n")
    stream.write(f"  framework imports (one per env)    {imports:8.2f} s\n")
    stream.write(f"  scenario time (all phases)         {cells:8.2f} s\n")
    stream.write(f"  floor{' (of the fork run)' if floor != own_floor else '':<30}{floor:8.2f} s\n")
    stream.write(f"  ratio wall / floor                 {wall / floor if floor else float('nan'):8.2f}\n")
    return own_floor


def synthetic_results(pairings: int, scenarios: int) -> Results:
    """A large results object for rendering benchmarks (realistic field sizes)."""
    records = [
        PairingRecord(id=f"keras-3.{i}.0+tensorflow-2.16.1", requested=Requested(spec=f"keras==3.{i}.0,tensorflow==2.16.1"),
                      versions={"keras": f"3.{i}.0", "tensorflow": "2.16.1"},
                      packages={f"package-{k}": "1.0.0" for k in range(38)}, python="3.11.7")
        for i in range(pairings)
    ]
    scenario_records = [
        ScenarioRecord(id=f"scenario_{j}", title=f"Scenario {j}: a realistic title of some length", path=f"scenarios/s{j}.py",
                       links=["https://github.com/keras-team/keras/issues/20407"], signature=r"ValueError: .*expected \d+ variables",
                       description="What a user was doing. " * 10, tags=["rnn"])
        for j in range(scenarios)
    ]
    message = "A total of 2 objects could not be loaded. Example error message for object <GRUCell name=gru_cell>: " * 3
    cells = [
        Cell(scenario=s.id, pairing=p.id, verdict=("reproduced", "passed", "error")[(i + j) % 3], reason="why " * 10,
             exception_type="ValueError", message=message, traceback="  File \"x.py\", line 1, in f\n" * 40,
             output_tail="a line of output from the framework\n" * 40, duration_s=1.0, compared=True, max_abs_diff=1e-8)
        for i, p in enumerate(records) for j, s in enumerate(scenario_records)
    ]
    run = RunInfo(id="bench", started="2026-01-01T00:00:00Z", finished="2026-01-01T01:00:00Z", duration_s=3600.0,
                  python="3.11.7", platform="Linux", complete=True)
    return Results(run=run, pairings=records, scenarios=scenario_records, cells=cells)


def bench_report(pairings: int, scenarios: int, stream: TextIO) -> None:
    results = synthetic_results(pairings, scenarios)
    with tempfile.TemporaryDirectory() as folder:
        seconds = _timed(lambda: render_all(results, Path(folder)))
        sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir()}
    stream.write(f"\nreport at {pairings} pairings x {scenarios} scenarios ({pairings * scenarios} cells)\n")
    stream.write(f"  render time (html, md, junit)      {seconds:8.2f} s\n")
    for name, size in sorted(sizes.items()):
        stream.write(f"  {name:<34} {size / 2**20:8.2f} MiB\n")


def run_bench(options: MatrixOptions, cold: bool, spawn: bool, stream: TextIO) -> None:
    started = time.monotonic()
    specs: Sequence[str] = options.pairings or ["keras==3.5.0,tensorflow==2.16.1"]
    bench_env_creation(specs[0], options.envs_dir or default_envs_dir(), cold, stream)
    kept = options.out  # --out keeps the bench's runs (fork/, spawn/) for a look at their reports
    with tempfile.TemporaryDirectory() as scratch:
        root = kept if kept is not None else Path(scratch)
        options.out = root / "fork"
        floor = bench_matrix(options, stream)
        if spawn:
            options.out = root / "spawn"
            options.isolation = "spawn"
            bench_matrix(options, stream, floor=floor)
    if kept is not None:
        stream.write(f"\nruns kept in {kept}\n")
    bench_report(50, 50, stream)
    stream.write(f"\nbench took {format_duration(time.monotonic() - started)}\n")


def _timed(action: object) -> float:
    started = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - started


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--no-cold", action="store_true", help="skip the env creation with an empty uv cache (a full download)")
    parser.add_argument("--spawn", action="store_true", help="also run the matrix with a fresh interpreter per cell, for comparison")


def run(args: argparse.Namespace) -> int:
    run_bench(matrix_options(args), cold=not args.no_cold, spawn=args.spawn, stream=sys.stdout)
    return 0
