"""The facts of one phase, as typed records: what the worker's result file says the scenario did
(checked against the worker's result format), and how the phase's process ended.

The worker writes one result file per phase; :func:`read_phase_facts` reads it like any
untrusted record. :class:`PhaseOutcome` adds how the process ended (done, died, timed out, lost).
Verdicts are decided from these facts in :mod:`harness.run.verdict`, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from harness.errors import ResultsError
from harness.evidence.codec import build_model, read_json_file

#: The format of the worker's result files that this harness reads (``RESULT_FORMAT`` in the worker).
RESULT_FORMAT = 1
#: How a scenario's phase ended, as the worker saw it: it returned, raised, broke the contract at
#: run time, returned values the harness could not compare, or called ``sys.exit``.
RETURNED, RAISED, CONTRACT, UNCOMPARABLE, EXITED = "returned", "raised", "contract", "uncomparable", "exited"


@dataclass
class Comparison:
    """The comparison of the values a phase returned with those it had to match."""

    compared: bool = False
    close: bool = False
    max_abs_diff: Union[float, None] = None
    infinite_diff: bool = False
    count: int = 0
    mismatch: Union[str, None] = None
    #: How many of the ``count`` values were NaN on both sides (equal, but not compared).
    nan_count: int = 0


@dataclass
class PhaseFacts:
    """What the scenario did in one phase (``outcome``: see :data:`RETURNED` and its siblings).

    ``signature_matched`` is the worker's match of the SIGNATURE against the whole text of a
    raised exception (None: no signature, or the match had not finished); ``message_chars`` is the
    length of the whole message, of which ``message`` keeps the head and the tail. ``reads`` lists
    the files the phase read outside the env and the standard library (see the worker's
    ``_files_read``); ``reads_complete`` is False when that list is known in part only.
    """

    format: int
    op: str
    outcome: Union[str, None] = None
    exception_type: Union[str, None] = None
    exception_module: Union[str, None] = None
    message: Union[str, None] = None
    traceback: Union[str, None] = None
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    probe: Union[dict[str, Any], None] = None
    returned_none: bool = False
    comparison: Union[Comparison, None] = None
    stored: int = 0
    signature_matched: Union[bool, None] = None
    message_chars: int = 0
    exit_code: Union[int, None] = None
    reads: list[str] = field(default_factory=list)
    reads_complete: bool = False


def read_phase_facts(path: Path) -> PhaseFacts:
    """A worker's result file; :class:`ResultsError` when it is unreadable, of another format, or
    holds a field of the wrong type."""
    data = read_json_file(path, "result file")
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        shown = data.get("format") if isinstance(data, dict) else None
        raise ResultsError(f"the result file is of format {shown!r}; this harness reads format {RESULT_FORMAT}")
    facts: PhaseFacts = build_model(PhaseFacts, data, "the result file")
    return facts


@dataclass
class PhaseOutcome:
    """How one phase (``run``, ``save`` or ``load``) of a cell ended.

    ``status``: ``done`` (the scenario returned or raised; see ``facts``), ``died`` (the process
    ended without a usable result: ``exit_status`` or ``signal``), ``timed_out``, or ``worker_lost``.
    ``limit_s`` is the time limit the phase ran under (None when not known: an outcome rebuilt
    from an older record).
    """

    op: str
    status: str
    duration_s: float
    facts: Union[PhaseFacts, None] = None
    exit_status: Union[int, None] = None
    signal: Union[int, None] = None
    output_tail: str = ""
    started: str = ""
    detail: str = ""
    limit_s: Union[float, None] = None

    @property
    def ok(self) -> bool:
        """The phase returned normally (values may still differ)."""
        return self.status == "done" and self.facts is not None and self.facts.outcome == RETURNED

    @property
    def broke_contract(self) -> bool:
        return self.status == "done" and self.facts is not None and self.facts.outcome == CONTRACT

    @property
    def uncomparable(self) -> bool:
        """The scenario ran clean, but the harness could not compare what it returned."""
        return self.status == "done" and self.facts is not None and self.facts.outcome == UNCOMPARABLE

    @property
    def match_pending(self) -> bool:
        """The phase raised, and its time ran out while the SIGNATURE was being matched."""
        facts = self.facts
        return self.status == "timed_out" and facts is not None and facts.outcome == RAISED and facts.signature_matched is None

    @property
    def exception_text(self) -> str | None:
        """``"<ExceptionType>: <message>"`` when the scenario raised (or broke the contract), else None."""
        facts = self.facts
        if self.status == "done" and facts is not None and facts.outcome in (RAISED, CONTRACT):
            return f"{facts.exception_type}: {facts.message or ''}"
        return None

    @property
    def reads(self) -> list[str] | None:
        """The files the phase read, when known in full (None: not known, e.g. a phase that died
        before it wrote its result, or one that read too many files)."""
        facts = self.facts
        if facts is None or not facts.reads_complete:
            return None
        return list(facts.reads)

    @property
    def comparison(self) -> Comparison | None:
        return self.facts.comparison if self.facts is not None else None
