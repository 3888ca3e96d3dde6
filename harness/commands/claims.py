"""``claims``: every claim of the scenario library judged from stored runs (a matrix, an atlas,
bisect probes), as a table and a standalone page someone can link to from an upstream thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from harness.clock import utc_now
from harness.commands.common import add_scenario_dirs
from harness.evidence.claims import STATUSES, Judgement, judge_all
from harness.evidence.codec import to_dict, write_json_atomic
from harness.evidence.model import Results, RunInfo
from harness.evidence.records import scenario_record
from harness.evidence.runs import load_run
from harness.paths import SCENARIOS, check_output_folder, new_output_folder
from harness.plan.scenarios import discover_scenarios
from harness.report.render import render_page

NAME = "claims"
HELP = "every upstream claim of the scenario library, judged from stored runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="*", type=Path, metavar="RESULTS", help="results.json files or run folders to judge from")
    add_scenario_dirs(parser)
    parser.add_argument("--out", type=Path, metavar="DIR", help="where claims.json and the page go (default: reports/runs/claims-<time>)")


def run(args: argparse.Namespace) -> int:
    runs = [load_run(path) for path in args.results]
    library = Results(run=RunInfo(id="library", started=utc_now()),
                      scenarios=[scenario_record(s) for s in discover_scenarios(args.scenario_dirs or [SCENARIOS])])
    judged = judge_all(runs, library)  # the library's claims and texts, the runs' cells
    out = args.out or new_output_folder("claims-")
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    print_claims(judged, sys.stdout)
    checked = [f"{r.run.id} ({r.run.started}; {', '.join(p.id for p in r.pairings if p.source is None)})" for r in runs]
    write_json_atomic(out / "claims.json", {"schema": 1, "checked": utc_now(), "runs": checked,
                                            "claims": [to_dict(j) for j in judged]})
    counts = [(status, sum(j.status == status for j in judged)) for status in STATUSES]
    page = render_page("claims.html.j2", out, title="Upstream claims, put to the test", judgements=judged,
                       counts=counts, runs=checked or ["no run"], checked=utc_now())
    print(f"claims: {out / 'claims.json'}\nreport: {page}")
    return 0


def print_claims(judged: list[Judgement], stream: TextIO) -> None:
    """One line per claim: the scenario, the claim, its status and the deciding cells."""
    for j in judged:
        stream.write(f"{j.status:<19} {j.scenario}: {j.statement} ({j.claim.link}): {j.detail}\n")
