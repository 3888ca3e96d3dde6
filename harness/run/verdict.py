"""The one place that maps what happened to a cell to its verdict.

:func:`decide_verdict` takes facts only (how the install went, whether the env is inside
REQUIRES, how the save and the final phase ended) and never a version number; nothing else in
the harness decides a verdict.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from harness.evidence.model import Verdict
from harness.evidence.phase import PhaseOutcome

#: Refusals a reason names, each by the fragments that must all be in the exception's text: a load
#: that Keras refused on purpose reads differently from one that broke. The first that fits is used.
KNOWN_REFUSALS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("safe_mode", "Lambda"), "refused by safe_mode (Lambda)"),
    (("safe_mode",), "refused by safe_mode"),
)


#: Exceptions raised by the harness's own code inside a cell (the helper module of ``--model`` and
#: ``--file``): such a cell is ``error`` saying so, never the verdict of the user's model, and
#: never ``reproduced``.
HARNESS_EXCEPTIONS = ("HelperFailed",)


def known_refusal(text: str) -> str | None:
    """The words of the :data:`KNOWN_REFUSALS` entry the exception's text fits, if any."""
    return next((words for fragments, words in KNOWN_REFUSALS if all(f in text for f in fragments)), None)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


def decide_verdict(
    signature: str | None,
    *,
    install_error: str | None = None,
    unmet: str | None = None,
    interrupted: bool = False,
    save: PhaseOutcome | None = None,
    saved_with: str | None = None,
    outcome: PhaseOutcome | None = None,
) -> Decision:
    """The verdict of a cell from what happened to it, and one sentence saying why.

    Precedence: the env could not be installed; the env is outside REQUIRES; the run was
    interrupted; the save phase failed (a cross-version cell: a save that raised makes its loads
    ``error``, or ``reproduced`` with the signature; one that ran out of time or died makes them
    ``timeout`` or ``crashed``, which say nothing about the load); then the final phase's ending:
    timeout, crash, exception (``reproduced`` when the scenario has a ``signature`` and the worker
    matched it against the exception's whole text; an ``error`` whose text fits a
    :data:`KNOWN_REFUSALS` entry is worded as that refusal), values the harness could not compare
    (an ``error``, never ``reproduced``), wrong values, passed.
    """
    if install_error is not None:
        return Decision(Verdict.INSTALL_FAILED, last_statement(install_error) or "install failed")
    if unmet is not None:
        return Decision(Verdict.SKIPPED, unmet)
    if interrupted:
        return Decision(Verdict.INTERRUPTED, "the run was interrupted before this cell finished")
    if save is not None and not save.ok:
        where = f"save failed in {saved_with}" if saved_with else "save failed"
        phase = _decide_phase(signature, save)
        if phase.verdict is Verdict.REPRODUCED:
            return Decision(Verdict.REPRODUCED, f"{where}, with the signature: {phase.reason}")
        if phase.verdict in (Verdict.TIMEOUT, Verdict.CRASHED):
            # A save that hung or died says nothing about the load: the load's verdict says so too.
            return Decision(phase.verdict, f"{where}: {phase.reason}")
        return Decision(Verdict.ERROR, f"{where}: {phase.reason}")
    if outcome is None:
        raise ValueError("a cell that ran needs the outcome of its last phase")
    return _decide_phase(signature, outcome)


def _decide_phase(signature: str | None, outcome: PhaseOutcome) -> Decision:
    if outcome.status == "timed_out":
        limit = _limit(outcome)
        if outcome.match_pending:  # the scenario raised at once; the harness's matching ran out of time: not a hang
            facts = outcome.facts
            first = (facts.message or "").strip().splitlines()[0][:200] if facts is not None and (facts.message or "").strip() else ""
            raised = f"{facts.exception_type}: {first}" if facts is not None else "an exception"
            return Decision(Verdict.ERROR, f"{outcome.op} raised {raised}; the SIGNATURE could not be matched within the limit "
                                           f"({limit})")
        return Decision(Verdict.TIMEOUT, f"{outcome.op} did not finish within the time limit ({limit})")
    if outcome.status == "worker_lost":
        return Decision(Verdict.CRASHED, f"{outcome.op}: the worker process died" + (f" ({outcome.detail})" if outcome.detail else ""))
    if outcome.status == "died":
        if outcome.signal is not None:
            return Decision(Verdict.CRASHED, f"{outcome.op}: the process was killed by signal {_signal_name(outcome.signal)}")
        detail = f" ({outcome.detail})" if outcome.detail else ""
        return Decision(
            Verdict.CRASHED, f"{outcome.op}: the process exited with status {outcome.exit_status} before reporting a result{detail}"
        )
    text = outcome.exception_text
    if text is not None:
        if outcome.broke_contract:
            message = outcome.facts.message if outcome.facts else None
            return Decision(Verdict.ERROR, f"{outcome.op} broke the scenario contract: {message}")
        first = text.strip().splitlines()[0] if text.strip() else text
        if outcome.facts is not None and outcome.facts.exception_type in HARNESS_EXCEPTIONS:
            return Decision(Verdict.ERROR, f"{outcome.op}: {(outcome.facts.message or '').strip()[:300]}")
        if signature is not None and outcome.facts is not None and outcome.facts.signature_matched:
            return Decision(Verdict.REPRODUCED, f"{outcome.op} raised the signature: {first[:300]}")
        refusal = known_refusal(text)
        return Decision(Verdict.ERROR, f"{outcome.op} {refusal}: {first[:300]}" if refusal else f"{outcome.op} raised {first[:300]}")
    if outcome.uncomparable:
        message = outcome.facts.message if outcome.facts else None
        return Decision(Verdict.ERROR, f"{outcome.op} ran clean, but {message}")
    comparison = outcome.comparison
    if comparison is not None and comparison.compared:
        if not comparison.close:
            return Decision(Verdict.WRONG_VALUES, f"ran clean but values differ: {comparison.mismatch}")
        if comparison.count and comparison.nan_count >= comparison.count:
            # NaN equals NaN for the comparison, but no value was measured: that is no pass.
            return Decision(Verdict.ERROR, f"{outcome.op} ran clean, but all {comparison.count} values it returned to compare "
                                           "are NaN on both sides: nothing was compared")
        nan = f" ({comparison.nan_count} NaN on both sides, not compared)" if comparison.nan_count else ""
        return Decision(
            Verdict.PASSED,
            f"ran clean; {comparison.count} values compared{nan}, max abs diff {_fmt(comparison.max_abs_diff)}",
        )
    return Decision(Verdict.PASSED, "ran clean; nothing to compare")


def _limit(outcome: PhaseOutcome) -> str:
    """The time limit that applied (``2 s``, ``0.5 s``); the time the phase took when the limit
    is not known (an outcome rebuilt from an older record)."""
    if outcome.limit_s is not None:
        return f"{float(outcome.limit_s):g} s"
    return f"{outcome.duration_s:.0f} s"


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} ({number})"
    except ValueError:
        return str(number)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value):.3g}"


def last_statement(text: str) -> str:
    """The installer's last statement, whole: its last line, with the lines before it that the
    installer wrapped it from (a narrow terminal wraps ``  cause: …`` onto lines indented below it)."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip())

    start = len(lines) - 1
    while start > 0 and indent(lines[start - 1]) == indent(lines[start]) > 0 and indent(lines[start]) >= 4:
        start -= 1
    if start > 0 and 0 < indent(lines[start - 1]) < indent(lines[start]):
        start -= 1
    return " ".join(line.strip() for line in lines[start:])
