"""``bench``: benchmarks that print figures (never pass/fail): env creation, matrix wall time against its
floor, and the report at 50 scenarios x 40 pairings with cross-version grids for a tenth of them (page
size, render time, and time to interactive in Chromium when it is present; ``--report-only`` for
just that part).

The floor of a matrix run is what it cannot avoid: one framework import per env plus the time
the scenarios themselves take. The ratio wall / floor shows the harness's own overhead
(goal: at most 1.5 with warm envs). The matrix runs again with ``--jobs 2`` (or the ``--jobs``
given), and both are run on its first pairing alone too: the speed-up ``--jobs 1`` wall /
``--jobs N`` wall shows what cells in flight side by side buy (goal: at least 1.7 at 2 on 2 cores,
also with a single pairing).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence, TextIO

from harness.clock import format_duration
from harness.commands.bench_scale import bench_cache, bench_scale, scratch_root
from harness.commands.common import add_run_options
from harness.commands.matrix import matrix_options
from harness.envs.install import ensure_env, resolve_pairing
from harness.errors import RunStopped
from harness.evidence.codec import RESULTS_BUDGET_BYTES
from harness.evidence.model import (
    ArrayRecord,
    Cell,
    FileRecord,
    GroupRecord,
    MappingRecord,
    PairingRecord,
    Requested,
    Results,
    RunInfo,
    ScenarioRecord,
    WantedVariable,
)
from harness.evidence.run_folder import RESULTS_FILE
from harness.paths import default_envs_dir, disk_usage
from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing
from harness.report.render import render_all
from harness.run.launch import parse_pairings, run_matrix
from harness.run.options import FRESH_ALL, MatrixOptions

NAME = "bench"
HELP = "print figures: env creation, matrix wall time vs its floor, report size and time to interactive"


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


@dataclass
class MatrixFigures:
    """One bench run of the matrix: its wall time and its own floor (seconds)."""

    wall: float
    floor: float


def bench_matrix(options: MatrixOptions, stream: TextIO, floor: float | None = None) -> MatrixFigures:
    """Run the matrix (envs warm) and compare its wall time with its floor; returns both.

    ``floor`` given (from a fork-isolation run) is used instead of this run's own, so that a
    spawn run, which pays the import in every cell, is compared with the same floor. Every cell
    runs (``--fresh``): a cell taken from the cell cache would measure nothing.
    """
    options = replace(options, fresh=[FRESH_ALL])
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
    stream.write(f"\nmatrix ({len(results.cells)} cells, {len(results.pairings)} pairings, isolation {options.isolation}, "
                 f"jobs {options.jobs})\n")
    stream.write(f"  wall time                          {wall:8.2f} s\n")
    stream.write(f"  framework imports (one per env)    {imports:8.2f} s\n")
    stream.write(f"  scenario time (all phases)         {cells:8.2f} s\n")
    stream.write(f"  floor{' (of the fork run)' if floor != own_floor else '':<30}{floor:8.2f} s\n")
    stream.write(f"  ratio wall / floor                 {wall / floor if floor else float('nan'):8.2f}\n")
    if options.out is not None:
        bench_run_folder(options.out, stream)
    return MatrixFigures(wall=wall, floor=own_floor)


#: A CPU-bound loop for :func:`machine_ceiling` (about a second of one core on a quiet machine).
_BUSY = "x = 0\nfor i in range(20_000_000):\n    x += i\n"


def machine_ceiling(jobs: int) -> float:
    """What ``jobs`` processes side by side can gain on this machine now: ``jobs`` CPU-bound
    interpreters run one after the other, then all at once; the ratio of the two wall times.
    On an idle machine with ``jobs`` cores it is about ``jobs``; on a machine busy with other
    work it is lower, and no ``--jobs`` can do better than it."""
    command = [sys.executable, "-c", _BUSY]
    serial = _timed(lambda: [subprocess.run(command, check=True) for _ in range(jobs)])
    parallel = _timed(lambda: _all_at_once(command, jobs))
    return serial / parallel if parallel else float("nan")


def _all_at_once(command: list[str], count: int) -> None:
    procs = [subprocess.Popen(command) for _ in range(count)]
    for proc in procs:
        proc.wait()


def bench_jobs(options: MatrixOptions, jobs: int, root: Path, name: str, stream: TextIO,
               one_job: MatrixFigures | None = None) -> float:
    """Run the matrix of ``options`` with ``--jobs 1`` (unless ``one_job`` holds that run's figures)
    and with ``--jobs jobs``, into ``root/<name>-jobs<N>``; print and return the speed-up (the
    ``--jobs 1`` wall time over the other's)."""
    if one_job is None:
        one_job = bench_matrix(replace(options, jobs=1, out=root / f"{name}-jobs1"), stream)
    many = bench_matrix(replace(options, jobs=jobs, out=root / f"{name}-jobs{jobs}"), stream)
    speedup = one_job.wall / many.wall if many.wall else float("nan")
    ceiling = machine_ceiling(jobs)
    pairings = len(options.pairings or DEFAULT_PAIRINGS)
    stream.write(f"\n--jobs {jobs} against --jobs 1 ({name}: {pairings} pairing{'s' if pairings > 1 else ''}, "
                 f"{os.cpu_count()} cores)\n")
    stream.write(f"  wall time, --jobs 1                {one_job.wall:8.2f} s\n")
    stream.write(f"  wall time, --jobs {jobs:<17}{many.wall:8.2f} s\n")
    stream.write(f"  speed-up (jobs 1 wall / jobs {jobs} wall) {speedup:5.2f}x\n")
    stream.write(f"  this machine's own ceiling now      {ceiling:5.2f}x   ({jobs} busy processes at once against one after the other)\n")
    return speedup


#: The run folder's budget: at most this many times the bytes of its distinct saves (its blobs),
#: plus a fixed allowance for records, logs and pages; and results.json within
#: :data:`~harness.evidence.codec.RESULTS_BUDGET_BYTES`.
FOLDER_BUDGET_RATIO = 1.5
FOLDER_BUDGET_SLACK_MB = 64.0


def bench_run_folder(folder: Path, stream: TextIO) -> bool:
    """Print the run folder's size on disk (real blocks, hard links counted once) and
    results.json's, and whether both are within budget; returns that."""
    total = disk_usage(folder)
    saves = disk_usage(folder / "blobs")
    results = (folder / RESULTS_FILE).stat().st_size if (folder / RESULTS_FILE).is_file() else 0
    budget = FOLDER_BUDGET_RATIO * saves + FOLDER_BUDGET_SLACK_MB * 2**20
    within = total <= budget and results <= RESULTS_BUDGET_BYTES
    mib = 2**20
    stream.write(f"  run folder on disk                 {total / mib:8.1f} MiB (its saves, each content once: {saves / mib:.1f} MiB)\n")
    stream.write(f"  results.json                       {results / mib:8.2f} MiB\n")
    stream.write(f"  size budget                        {'within' if within else 'OVER'} (folder <= {FOLDER_BUDGET_RATIO:g} x saves "
                 f"+ {FOLDER_BUDGET_SLACK_MB:g} MiB = {budget / mib:.1f} MiB; results.json <= {RESULTS_BUDGET_BYTES / mib:g} MiB)\n")
    return within


#: The report bench's page: 50 scenarios x 40 pairings, a tenth of them cross-version (40 x 40 grids).
REPORT_SCENARIOS = 50
REPORT_PAIRINGS = 40
CROSS_EVERY = 10
#: The page's budget: its size, and the time until it answers clicks and keys in Chromium.
PAGE_BUDGET_MB = 8.0
INTERACTIVE_BUDGET_S = 2.0
CHROMIUM = os.environ.get("HARNESS_CHROMIUM", "/usr/bin/chromium")


def synthetic_results(pairings: int = REPORT_PAIRINGS, scenarios: int = REPORT_SCENARIOS,
                      cross_every: int = CROSS_EVERY) -> Results:
    """A large results object for the report bench, with realistic evidence: every pairing its own
    env paths, every scenario its own file and layer names, tracebacks, framework output, the
    anatomy of the saved file and, for the reproduced cells, the mapping of the failed load.
    Every ``cross_every``-th scenario is cross-version (a pairings x pairings grid)."""
    records = [
        PairingRecord(id=f"keras-3.{i}.0+tensorflow-2.16.1", requested=Requested(spec=f"keras==3.{i}.0,tensorflow==2.16.1"),
                      versions={"keras": f"3.{i}.0", "tensorflow": "2.16.1"}, pins=[f"keras==3.{i}.0", "tensorflow==2.16.1"],
                      packages={f"package-{k}": "1.0.0" for k in range(38)}, python="3.11.7")
        for i in range(pairings)
    ]
    scenario_records = [
        ScenarioRecord(id=f"scenario_{j}", title=f"Scenario {j}: a realistic title of some length", path=f"scenarios/scenario_{j}.py",
                       kind="cross" if j % cross_every == cross_every - 1 else "run",
                       links=["https://github.com/keras-team/keras/issues/20407"], signature=r"ValueError: .*expected \d+ variables",
                       description="What a user was doing. " * 10, tags=["seed"] if j == 0 else [("rnn", "cell", "formats")[j % 3]])
        for j in range(scenarios)
    ]
    cells = []
    for j, scenario in enumerate(scenario_records):
        for i, loader in enumerate(records):
            savers = records if scenario.kind == "cross" else [None]
            cells += [_synthetic_cell(scenario, loader, saver, (i + j + k) % 3, j) for k, saver in enumerate(savers)]
    run = RunInfo(id="bench", started="2026-01-01T00:00:00Z", finished="2026-01-01T01:00:00Z", duration_s=3600.0,
                  python="3.11.7", platform="Linux", complete=True, options={"cross": "all"})
    return Results(run=run, pairings=records, scenarios=scenario_records, cells=cells)


def _synthetic_cell(scenario: ScenarioRecord, loader: PairingRecord, saver: PairingRecord | None, kind: int, j: int) -> Cell:
    env = f"/work/.harness/envs/{loader.id}/lib/python3.11/site-packages"
    layer = f"gru_cell_{j}"
    verdict = ("reproduced", "passed", "error")[kind]
    frames = "".join(f'  File "{env}/keras/src/saving/saving_lib.py", line {300 + k}, in load_step_{k}\n    step_{k}(model)\n'
                     for k in range(18))
    message = (f"A total of 2 objects could not be loaded. Example error message for object <GRUCell name={layer}>:\n\n"
               f"Layer '{layer}' expected 3 variables, but received 0 variables during loading. "
               "Expected: ['kernel', 'recurrent_kernel', 'bias']")
    arrays = [ArrayRecord(path=f"layers/gru_{j}/cell/vars/{k}", shape=[5, 15], dtype="float32") for k in range(3)]
    cell = Cell(scenario=scenario.id, pairing=loader.id, saved_with=saver.id if saver else None, verdict=verdict,
                reason=f"run raised the signature: ValueError: A total of 2 objects could not be loaded ({layer})",
                duration_s=1.0, started="2026-01-01T00:10:00Z",
                output_tail="".join(f"{env}/keras/src/backend.py:{k}: UserWarning: a framework warning\n" for k in range(12)),
                files=[FileRecord(path=f"work/{scenario.id}/model.weights.h5", format=".weights.h5", keras_version="3.5.0",
                                  arrays=arrays, groups=[GroupRecord(path=f"layers/gru_{j}/cell/vars", arrays=arrays,
                                                                     span=f"layers/gru_{j}/cell/vars/0..2")])])
    if verdict == "passed":
        cell.reason, cell.compared, cell.max_abs_diff = "ran clean; 16 values compared, max abs diff 0", True, 0.0
    else:
        cell.exception_type = "ValueError" if verdict == "reproduced" else "TypeError"
        cell.message = message
        cell.traceback = f"Traceback (most recent call last):\n{frames}{cell.exception_type}: {message}\n"
    if verdict == "reproduced":
        cell.mapping = [MappingRecord(layer=layer, status="matched", candidates=[f"layers/gru_{j}/cell/vars/0..2"],
                                      wanted=[WantedVariable(name=n, shape=[5, 15], shape_text="(5, 15)")
                                              for n in ("kernel", "recurrent_kernel", "bias")],
                                      file=f"work/{scenario.id}/model.weights.h5")]
    return cell


def bench_report(stream: TextIO, pairings: int = REPORT_PAIRINGS, scenarios: int = REPORT_SCENARIOS,
                 chromium: str = CHROMIUM) -> dict[str, float | None]:
    """Render the bench's page (and summary.md, junit.xml), print their sizes and the time to
    render them and, with Chromium present, the time until the page is interactive (navigation
    start until its script has wired every handler) and until a first click shows evidence.
    Returns the figures (``page_mb``, ``render_s``, ``interactive_s``, ``first_panel_s``)."""
    results = synthetic_results(pairings, scenarios)
    cross = sum(1 for s in results.scenarios if s.kind == "cross")
    with tempfile.TemporaryDirectory() as folder:
        seconds = _timed(lambda: render_all(results, Path(folder)))
        sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir()}
        timing = time_to_interactive(Path(folder) / "index.html", chromium)
    matrix = pairings * scenarios
    stream.write(f"\nreport at {pairings} pairings x {scenarios} scenarios ({matrix} matrix cells, "
                 f"{cross * pairings * (pairings - 1)} cross-version cells: {cross} grids of {pairings} x {pairings})\n")
    stream.write(f"  render time (html, md, junit)      {seconds:8.2f} s\n")
    for name, size in sorted(sizes.items()):
        budget = f"   (budget {PAGE_BUDGET_MB:.0f} MB)" if name == "index.html" else ""
        stream.write(f"  {name:<34} {size / 1e6:8.2f} MB{budget}\n")
    if isinstance(timing, str):
        stream.write(f"  time to interactive                not measured: {timing}\n")
        interactive, first_panel = None, None
    else:
        interactive, first_panel = timing
        stream.write(f"  time to interactive (Chromium)     {interactive:8.2f} s   (budget {INTERACTIVE_BUDGET_S:.0f} s)\n")
        stream.write(f"  first evidence panel after a click {first_panel:8.2f} s\n")
    return {"page_mb": sizes["index.html"] / 1e6, "render_s": seconds, "interactive_s": interactive, "first_panel_s": first_panel}


def time_to_interactive(page: Path, chromium: str) -> tuple[float, float] | str:
    """``(interactive, first panel)`` seconds of ``page`` in headless Chromium, or why not measured.

    Interactive: from navigation start until the page's script marks itself ready (every handler
    wired, ``data-ready`` on the root element). First panel: from a click on a cell until its
    evidence panel is shown (the evidence JSON is parsed then)."""
    if not Path(chromium).exists():
        return f"no Chromium at {chromium} (set HARNESS_CHROMIUM)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.goto(page.as_uri(), timeout=120_000)
            tab.wait_for_function("document.documentElement.hasAttribute('data-ready')", timeout=120_000)
            ready_ms = float(tab.evaluate("+document.documentElement.getAttribute('data-ready')"))
            clicked = float(tab.evaluate("performance.now()"))
            tab.locator("#matrix td.cell a").first.click()
            tab.wait_for_selector("#evidence:not([hidden])", timeout=120_000)
            shown = float(tab.evaluate("performance.now()"))
        finally:
            browser.close()
    return ready_ms / 1000, (shown - clicked) / 1000


def run_bench(options: MatrixOptions, cold: bool, spawn: bool, stream: TextIO) -> None:
    started = time.monotonic()
    specs: Sequence[str] = options.pairings or DEFAULT_PAIRINGS
    bench_env_creation(specs[0], options.envs_dir or default_envs_dir(), cold, stream)
    kept = options.out  # --out keeps the bench's runs (fork/, spawn/, ...) for a look at their reports
    jobs = options.jobs if options.jobs > 1 else 2  # the --jobs compared with --jobs 1
    with tempfile.TemporaryDirectory() as scratch:
        root = kept if kept is not None else Path(scratch)
        first = bench_matrix(replace(options, jobs=1, out=root / "fork"), stream)
        if spawn:
            bench_matrix(replace(options, jobs=1, out=root / "spawn", isolation="spawn"), stream, floor=first.floor)
        bench_jobs(options, jobs, root, "matrix", stream, one_job=first)
        if len(specs) > 1:
            bench_jobs(replace(options, pairings=[specs[0]]), jobs, root, "single-pairing", stream)
        bench_cache(options, root / "cache", stream)
    if kept is not None:
        stream.write(f"\nruns kept in {kept}\n")
    bench_report(stream)
    stream.write(f"\nbench took {format_duration(time.monotonic() - started)}\n")


def run_scale(options: MatrixOptions, scenarios: Sequence[str], stream: TextIO, cache: bool = False) -> int:
    """``bench --scale``: the scale figures only; ``bench --cache`` (``cache``): the cell cache
    figures only. Their runs are kept under ``--out`` when given."""
    started = time.monotonic()
    root, scratch = scratch_root(options.out)
    try:
        if cache:
            bench_cache(options, root, stream)
        else:
            bench_scale(options, scenarios, root, stream)
    finally:
        if scratch is not None:
            scratch.cleanup()
    stream.write(f"\nbench took {format_duration(time.monotonic() - started)}\n")
    return 0


def _timed(action: object) -> float:
    started = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - started


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser)
    parser.add_argument("--no-cold", action="store_true", help="skip the env creation with an empty uv cache (a full download)")
    parser.add_argument("--spawn", action="store_true", help="also run the matrix with a fresh interpreter per cell, for comparison")
    parser.add_argument("--report-only", action="store_true",
                        help="only the report's figures: page size and time to interactive (no env, no matrix run)")
    parser.add_argument("--scale", action="store_true",
                        help="only the scale figures: 3, 10 and 40 keras releases with tensorflow==2.16.1, --fresh")
    parser.add_argument("--cache", action="store_true",
                        help="only the cell cache figures: a warm rerun against --fresh, and one added scenario")
    parser.add_argument("--scale-only", action="append", default=[], metavar="ID",
                        help="a scenario of the scale runs (repeatable; default two cheap single-env ones)")


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        bench_report(sys.stdout)
        return 0
    if args.scale:
        return run_scale(matrix_options(args), args.scale_only, sys.stdout)
    if args.cache:
        return run_scale(matrix_options(args), args.scale_only, sys.stdout, cache=True)
    run_bench(matrix_options(args), cold=not args.no_cold, spawn=args.spawn, stream=sys.stdout)
    return 0
