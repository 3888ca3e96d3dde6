"""The gate of a matrix run: ``--expect FILE`` compares the run's verdicts (and the exception types
of the failing ones) with an expectations file (``--expect-verdicts-only``: the verdicts alone),
``--write-expect FILE`` writes them, ``--fail-on VERDICT[,VERDICT…]`` names verdicts no cell may
have. This is what makes a completed matrix exit 1.

Every file the gate reads is read and checked by :func:`prepare_gate`, before anything is
installed. :func:`close_gate` runs only on a completed run: it prints what failed as the last
thing on stdout, writes ``expect.md`` into the run folder, hands the same text to a caller
(:func:`harness.errors.tell_caller`), writes the expectations asked for, and returns the exit status.
"""

from __future__ import annotations

import argparse
import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

from harness.errors import BadInput, clip, tell_caller
from harness.evidence.expect import (
    Comparison,
    Expectations,
    claim_changes,
    compare,
    expectations_of,
    pairing_keys,
    parse_verdicts,
    read_expectations,
    write_expectations,
)
from harness.evidence.model import Results, Verdict
from harness.evidence.run_folder import EXPECT_FILE, RunStore

#: The most of a reason shown in a terminal row (expect.md keeps more).
TERMINAL_REASON = 160
MARKDOWN_REASON = 2000
_NONE = "—"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--expect", type=Path, metavar="FILE",
                        help="compare the verdicts (and the exception types recorded) with this expectations file; "
                             "any difference exits 1")
    parser.add_argument("--expect-verdicts-only", action="store_true", default=None,
                        help="with --expect: compare the verdicts only, not the exception types the file records")
    parser.add_argument("--write-expect", type=Path, metavar="FILE",
                        help="write the run's verdicts (and the exception types of the failing cells) as an expectations file")
    parser.add_argument("--fail-on", type=parse_verdicts, metavar="VERDICT[,VERDICT...]",
                        help="exit 1 when any cell has one of these verdicts")
    parser.add_argument("--fail-on-claim-change", action="store_true", default=None,
                        help="with --expect: exit 1 when a claim's status is not the one the file records")


@dataclass
class Gate:
    """What a run is judged by: the expectations read (``expected``, from ``expect``; compared by
    verdict alone when ``verdicts_only``), where its own go (``write``, and ``previous``: that
    file's entries before, whose reasons are kept), and the verdicts no cell may have (``fail_on``)."""

    expect: Path | None = None
    expected: Expectations | None = None
    verdicts_only: bool = False
    write: Path | None = None
    previous: Expectations | None = None
    fail_on: tuple[Verdict, ...] = ()
    fail_on_claim_change: bool = False

    @property
    def active(self) -> bool:
        return self.expect is not None or self.write is not None or bool(self.fail_on)


def prepare_gate(args: argparse.Namespace, run_folders: Sequence[Path | None] = ()) -> Gate:
    """The gate the parsed arguments ask for, with every file read and checked now
    (:class:`BadInput` in one line: nothing has been installed yet). ``run_folders``: the run
    folders this command writes (besides ``--out`` and ``--resume``), which no ``--write-expect``
    may be inside."""
    gate = Gate(expect=args.expect, verdicts_only=bool(args.expect_verdicts_only), write=args.write_expect,
                fail_on=tuple(args.fail_on or ()), fail_on_claim_change=bool(args.fail_on_claim_change))
    if gate.fail_on_claim_change and gate.expect is None:
        raise BadInput("--fail-on-claim-change compares the claims with an expectations file: give --expect FILE too.")
    if gate.verdicts_only and gate.expect is None:
        raise BadInput("--expect-verdicts-only loosens the comparison with an expectations file: give --expect FILE too.")
    if gate.expect is not None:
        gate.expected = read_expectations(gate.expect)
    if gate.write is not None:
        _check_outside_runs(gate.write, [getattr(args, "out", None), getattr(args, "resume", None), *run_folders])
        _check_writable(gate.write)
        if gate.write.exists():
            gate.previous = read_expectations(gate.write)
    return gate


def _check_outside_runs(path: Path, run_folders: Sequence[Path | None]) -> None:
    """A ``--write-expect`` file inside a run folder (this run's, or any other) would overwrite
    the run's files, or be overwritten by them: refused."""
    target = Path(os.path.realpath(path))
    inside = [Path(os.path.realpath(folder)) for folder in run_folders if folder is not None]
    inside += [folder for folder in target.parents if RunStore.is_run_folder(folder)]
    for folder in inside:
        if folder == target or folder in target.parents:
            raise BadInput(f"--write-expect {clip(str(path))!r} is inside the run folder {clip(str(folder))!r}: "
                           "write the expectations file outside every run folder.")


def _check_writable(path: Path) -> None:
    folder = path.absolute().parent
    if not folder.is_dir():
        raise BadInput(f"--write-expect {str(path)!r}: the folder {str(folder)!r} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"--write-expect {str(path)!r}: the folder {str(folder)!r} cannot be written.")
    if path.exists() and not path.is_file():
        raise BadInput(f"--write-expect {str(path)!r} is not a regular file.")


def close_gate(gate: Gate, results: Results, folder: Path, stream: TextIO, today: datetime.date | None = None) -> int:
    """Judge a completed run: 1 when the expectations do not hold or a ``--fail-on`` verdict is
    there, else 0. Writes ``expect.md`` (removing an earlier one when no gate was asked for) and
    the expectations file asked for."""
    report = folder / EXPECT_FILE
    if not gate.active:
        report.unlink(missing_ok=True)
        return 0
    day = today or datetime.datetime.now(datetime.timezone.utc).date()
    sections = [s for s in (_fail_on_section(gate, results), _expect_section(gate, results, day), _claims_section(gate, results))
                if s is not None]
    report.write_text(_markdown(sections), encoding="utf-8")
    if gate.write is not None:
        written = expectations_of(results, gate.previous)
        write_expectations(gate.write, written)
        stream.write(f"expect: wrote {len(written.cells)} expectations to {gate.write}.\n")
    for section in sorted(sections, key=lambda s: s.failed):  # what fails is the last thing printed
        stream.write("\n" + section.text(TERMINAL_REASON) + "\n")
    failed = [s for s in sections if s.failed]
    if failed:
        tell_caller("\n\n".join(s.text(TERMINAL_REASON) for s in failed))
    return 1 if failed else 0


def skip_gate(gate: Gate, folder: Path, stream: TextIO) -> None:
    """Say, for an interrupted run, that it was not judged (and no expectations were written)."""
    if gate.active:
        stream.write(f"expect: the run did not complete, so it was not compared and no expectations were written; "
                     f"--resume {folder} with the same --expect, --write-expect or --fail-on finishes and judges it.\n")


# ---------------------------------------------------------------------------- sections


@dataclass
class Section:
    """One part of the gate's verdict: a heading, a table, notes and a last (summary) line."""

    heading: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    failed: bool = False

    def text(self, reason_width: int) -> str:
        """The section as plain text: notes, the heading and an aligned table (when it has rows),
        then the summary line."""
        lines = list(self.notes)
        if self.rows:
            shown = [self.columns, *(_clip_last(r, reason_width) for r in self.rows)]
            widths = [max(len(r[i]) for r in shown) for i in range(len(self.columns) - 1)]
            lines.append(self.heading)
            lines.extend("  " + "  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip() for r in shown)
        lines.append(self.summary)
        return "\n".join(lines)


def _expect_section(gate: Gate, results: Results, today: datetime.date) -> Section | None:
    if gate.expect is None or gate.expected is None:
        return None
    found = compare(results, gate.expected, today, verdicts_only=gate.verdicts_only)
    section = Section(heading=f"expect: the cells that differ from {gate.expect} (was -> now):",
                      columns=("change", "scenario", "cell", "was", "now", "reason"),
                      rows=[(c.kind, c.key.scenario, c.key.cell, c.was or _NONE, c.now or _NONE, c.reason) for c in found.changes],
                      notes=_expect_notes(found, gate.expected, results, gate.verdicts_only), failed=bool(found.changes))
    if found.changes:
        counts = ", ".join(f"{n} {kind}" for kind, n in found.counts().items())
        differ = "differs" if len(found.changes) == 1 else "differ"
        section.summary = f"expect: {_cells(len(found.changes))} {differ} from {gate.expect} ({counts})."
    else:
        section.summary = f"expect: {_cells(found.matched)} checked, all as {gate.expect} expects."
    return section


def _expect_notes(found: Comparison, expected: Expectations, results: Results, verdicts_only: bool) -> list[str]:
    """Lines before the table: pairings that stand for other versions now, pairings the run
    lacks or adds (a pairing swapped makes every one of its cells gone or new), what was left
    out, and that the exception types were not compared (``--expect-verdicts-only``)."""
    notes = [f"expect: {key} is {now} in this run; the file was written with {then}." for key, then, now in found.moved]
    in_file = {k.pairing for k in expected.cells} | {k.saved_with for k in expected.cells if k.saved_with is not None}
    in_run = set(pairing_keys(results).values())
    gone, new = found.by_pairing("gone"), found.by_pairing("new")
    notes += [f"expect: {key} is in the file but not in this run: its {_cells(gone[key])} are gone."
              for key in sorted(in_file - in_run) if key in gone]
    notes += [f"expect: {key} is in this run but not in the file: its {_cells(new[key])} are new."
              for key in sorted(in_run - in_file) if key in new]
    if found.outside:
        notes.append(f"expect: {found.outside} expectations lie outside this run (--only, --tag or --shard) and were not compared.")
    if verdicts_only:
        notes.append("expect: only the verdicts were compared (--expect-verdicts-only), not the exception types.")
    return notes


def _fail_on_section(gate: Gate, results: Results) -> Section | None:
    if not gate.fail_on:
        return None
    names = " or ".join(v.value for v in gate.fail_on)
    hits = [c for c in results.cells if c.verdict in gate.fail_on]
    rows: list[tuple[str, ...]] = [(c.scenario, f"{c.saved_with} -> {c.pairing}" if c.saved_with else c.pairing, c.verdict, c.reason)
            for c in sorted(hits, key=lambda c: c.key.text)]
    summary = f"fail-on: {_cells(len(hits))} {'is' if len(hits) == 1 else 'are'} {names}." if hits else f"fail-on: no cell is {names}."
    return Section(heading=f"fail-on: the cells that are {names}:", columns=("scenario", "cell", "verdict", "reason"),
                   rows=rows, summary=summary, failed=bool(hits))


def _claims_section(gate: Gate, results: Results) -> Section | None:
    if not gate.fail_on_claim_change or gate.expected is None:
        return None
    changes = claim_changes(results, gate.expected)
    rows: list[tuple[str, ...]] = [(c.claim, c.was or _NONE, c.now or _NONE) for c in changes]
    summary = (f"claims: {len(changes)} {'claim has' if len(changes) == 1 else 'claims have'} another status than {gate.expect} records."
               if changes else f"claims: every claim has the status {gate.expect} records.")
    return Section(heading=f"claims: the claims whose status differs from {gate.expect} (was -> now):",
                   columns=("claim", "was", "now"), rows=rows, summary=summary, failed=bool(changes))


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


def _clip_last(row: tuple[str, ...], width: int) -> tuple[str, ...]:
    """The row on one line, its last column cut to ``width`` characters."""
    last = " ".join(row[-1].split())
    return (*row[:-1], last if len(last) <= width else last[: width - 1] + "…")


# ---------------------------------------------------------------------------- expect.md


def _markdown(sections: Sequence[Section]) -> str:
    """``expect.md``: each section's notes and summary, then its table."""
    parts = ["# Expected verdicts", ""]
    for section in sections:
        parts.extend([*(_md(n) for n in section.notes), _md(section.summary), ""])
        if section.rows:
            parts.append("| " + " | ".join(section.columns) + " |")
            parts.append("|" + "---|" * len(section.columns))
            parts.extend("| " + " | ".join(_md(v) for v in _clip_last(r, MARKDOWN_REASON)) + " |" for r in section.rows)
            parts.append("")
    return "\n".join(parts)


def _md(text: str) -> str:
    """Text on one line, safe in a Markdown table cell: no pipe, backslash, ``<`` or ``&`` acts as markup."""
    one_line = " ".join(text.split())
    return one_line.replace("\\", "\\\\").replace("|", "\\|").replace("&", "&amp;").replace("<", "&lt;")
