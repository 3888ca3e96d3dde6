"""``report``: render index.html, summary.md and junit.xml again from stored results
(``report render RESULTS…``, the default verb), or join shards into one run (``report merge DIR…``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands import gate
from harness.errors import BadInput
from harness.evidence.codec import write_results
from harness.evidence.run_folder import RESULTS_FILE
from harness.evidence.runs import load_run, merge_folders
from harness.paths import check_output_folder, runs_dir
from harness.plan.cells import CellKey
from harness.report.render import render_all
from harness.report.terminal import print_summary

NAME = "report"
HELP = "render index.html, summary.md and junit.xml again from stored results; 'report merge' joins shards"
VERBS = ("render", "merge")
#: ``report RESULTS…`` means ``report render RESULTS…``.
DEFAULT_VERB = "render"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=type(parser))
    verbs.required = True
    render = verbs.add_parser("render", help="render the reports of results.json files or run folders (the default)")
    render.add_argument("results", nargs="+", type=Path, metavar="RESULTS", help="results.json files or run folders")
    render.add_argument("--out", type=Path, metavar="DIR", help="write the reports here (default: next to each results.json)")
    merge = verbs.add_parser("merge", help="join the run folders (or results.json files) of shards into one run")
    merge.add_argument("results", nargs="*", type=Path, metavar="PART", help="the shards' run folders or results.json files")
    merge.add_argument("--out", type=Path, metavar="DIR", help="the merged run's folder (default: reports/runs/merged-<id>)")
    merge.add_argument("--allow-missing", action="store_true",
                       help="exit 0 even when planned cells are missing (they are still listed)")
    gate.add_arguments(merge)


def run(args: argparse.Namespace) -> int:
    if args.verb != "merge":
        return render(args.results, args.out)
    judged_by = gate.prepare_gate(args)  # the expectations are read before anything is merged
    return merge(args.results, args.out, args.allow_missing, judged_by)


#: At most this many missing or conflicting cells are named one per line (every conflict is in results.json).
LISTED = 20


def merge(folders: list[Path], out: Path | None, allow_missing: bool = False, judged_by: gate.Gate | None = None) -> int:
    """Join the parts of a run into one; returns 0, or 1 when planned cells are missing (no part
    holds them; with ``allow_missing`` that alone still gives 0) or when parts hold one cell with
    different verdicts, or when ``judged_by`` (``--expect``, ``--fail-on``) finds the merged run
    differing. Missing and conflicting cells are printed one a line (at most :data:`LISTED` of
    each, then how many more), the report is written either way, and the last lines say why the
    status is 1."""
    if not folders:
        raise BadInput("report merge needs the run folders (or results.json files) of the shards.")
    outcome = merge_folders(folders)
    merged = outcome.results
    out = out or runs_dir() / f"merged-{merged.run.id}"
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    write_results(out / RESULTS_FILE, merged)
    print_summary(merged, sys.stdout)
    print(f"merged {len(folders)} parts: {len(merged.cells)} cells, {len(outcome.missing)} missing, "
          f"{len(outcome.conflicts)} in conflict")
    _listed("missing", [_where(key) for key in outcome.missing], "no part holds them")
    _listed("conflict", [f"{c.text} (shown: {c.shown}'s)" for c in outcome.conflicts],
            "every one is in results.json, run.options.merge_conflicts")
    print(f"results: {out / RESULTS_FILE}")
    for written in render_all(merged, out):
        print(f"report: {written}")
    failed = False
    if outcome.missing:
        print(f"merge: {len(outcome.missing)} planned cells are missing: no part holds them, so the merged run is incomplete"
              + (" (allowed by --allow-missing)" if allow_missing else ""))
        failed = not allow_missing
    if outcome.conflicts:
        print(f"merge: {len(outcome.conflicts)} cells hold different verdicts in different parts; "
              "the parts disagree, so the merged run is not one answer")
        failed = True
    if judged_by is not None and gate.close_gate(judged_by, merged, out, sys.stdout):
        failed = True
    return 1 if failed else 0


def _where(key: CellKey) -> str:
    """A cell as the merge names it: ``scenario @ saver -> loader`` (``scenario @ pairing`` for a single-env cell)."""
    return f"{key.scenario} @ {key.saved_with + ' -> ' if key.saved_with else ''}{key.pairing}"


def _listed(kind: str, lines: list[str], rest: str) -> None:
    """Print ``kind: line`` for at most :data:`LISTED` lines, then how many more there are."""
    for line in lines[:LISTED]:
        print(f"{kind}: {line}")
    if len(lines) > LISTED:
        print(f"{kind}: … and {len(lines) - LISTED} more ({rest})")


def render(given_paths: list[Path], out: Path | None) -> int:
    """Render each results file next to itself, or the one given into ``--out``: a new or empty
    folder, or that results' own folder (anything else is refused before a page is written)."""
    if out is not None and len(given_paths) > 1:
        raise BadInput("--out takes one results file; give one, or render each next to its results.json.")
    loaded = [(given, load_run(given)) for given in given_paths]
    for given, results in loaded:
        own = given if given.is_dir() else given.parent
        folder = out or own
        if out is not None and out.resolve() != own.resolve():
            check_output_folder(out)
        folder.mkdir(parents=True, exist_ok=True)
        if given.is_dir() and out is None:
            write_results(folder / RESULTS_FILE, results)
        print_summary(results, sys.stdout)
        for written in render_all(results, folder):
            print(f"report: {written}")
    return 0
