"""What the GitHub Action (``action.yml`` at the repository root) reports after its matrix run:
the step outputs (the run folder, the counts of verdicts, whether anything changed from the
expectations file) and the job summary (the run's ``summary.md``, then the gate's ``expect.md``).

Run as ``python -m harness.action RUN_DIR [--expect FILE]`` with ``GITHUB_OUTPUT`` and
``GITHUB_STEP_SUMMARY`` set; a run folder without results (the run stopped on bad input) gives
the folder and empty counts, and the job summary says so.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from harness.errors import BadInput
from harness.evidence.codec import read_results
from harness.evidence.expect import compare, read_expectations
from harness.evidence.model import FOUND, SAYS_NOTHING, VERDICTS, Results, Verdict
from harness.evidence.run_folder import EXPECT_FILE

#: The verdicts counted as failed: the cell ran and did not do what it should.
FAILED = (Verdict.WRONG_VALUES, Verdict.ERROR, Verdict.CRASHED, Verdict.TIMEOUT, Verdict.INSTALL_FAILED)


def outputs(results: Results | None, folder: Path, changes: int | None) -> dict[str, str]:
    """The step outputs: ``run-folder``, ``cells``, ``passed``, ``failed``, ``reproduced``,
    ``not-run`` (skipped, interrupted or not installed), ``counts`` (JSON: every verdict and its
    count), ``changed`` (``true``/``false``; empty with no expectations file) and ``changes``."""
    counts = Counter(cell.verdict for cell in results.cells) if results is not None else Counter()
    found = {verdict: counts.get(verdict, 0) for verdict in VERDICTS}
    return {
        "run-folder": str(folder),
        "cells": str(sum(found.values())) if results is not None else "",
        "passed": str(found[Verdict.PASSED.value]) if results is not None else "",
        "failed": str(sum(found[v.value] for v in FAILED)) if results is not None else "",
        "reproduced": str(sum(found[v.value] for v in FOUND)) if results is not None else "",
        "not-run": str(sum(found[v.value] for v in SAYS_NOTHING - {Verdict.CRASHED, Verdict.TIMEOUT}))
        if results is not None else "",
        "counts": json.dumps({k: v for k, v in found.items() if v}, sort_keys=True) if results is not None else "",
        "changed": "" if changes is None else ("true" if changes else "false"),
        "changes": "" if changes is None else str(changes),
    }


def count_changes(results: Results, expect: Path, today: datetime.date | None = None) -> int:
    """How many cells differ from the expectations file, as the gate counts them."""
    expected = read_expectations(expect)
    verdicts_only = bool(results.run.options.get("expect_verdicts_only"))
    day = today or datetime.datetime.now(datetime.timezone.utc).date()
    return len(compare(results, expected, day, verdicts_only=verdicts_only).changes)


def summary(folder: Path, results: Results | None) -> str:
    """The job summary: ``summary.md``, then ``expect.md`` when the gate wrote one."""
    parts = []
    for name in ("summary.md", EXPECT_FILE):
        path = folder / name
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8").rstrip() + "\n")
    if results is None:
        parts.append(f"keras-compat: the run left no results in `{folder}`; its log says why.\n")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.action", description=__doc__)
    parser.add_argument("folder", type=Path, help="the run folder")
    parser.add_argument("--expect", type=Path, help="the expectations file the run was compared with")
    args = parser.parse_args(argv)
    results: Results | None = None
    changes: int | None = None
    if (args.folder / "results.json").is_file():
        try:
            results = read_results(args.folder / "results.json")
            if args.expect is not None:
                changes = count_changes(results, args.expect)
        except BadInput as exc:  # results or expectations that cannot be read
            print(f"keras-compat: {exc}", file=sys.stderr)
    found = outputs(results, args.folder, changes)
    for name, env in (("GITHUB_OUTPUT", "\n".join(f"{k}={v}" for k, v in found.items()) + "\n"),
                      ("GITHUB_STEP_SUMMARY", summary(args.folder, results))):
        target = os.environ.get(name)
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(env)
    print(" ".join(f"{k}={v}" for k, v in found.items() if k != "run-folder" and v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
