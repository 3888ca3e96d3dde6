"""The bisect search itself: which candidate to probe next, and what the probes say.

Pure: it takes the candidates and a probe function and works like ``git bisect`` with two terms:
"new" is the verdict of the newest candidate, anything else is "old"; a probe that cannot say
(None) is skipped and its neighbours are tried instead. Real probes are supplied by
:mod:`harness.commands.bisect`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence


@dataclass
class Transition:
    """The answer. ``status``: ``found`` (adjacent old and new), ``range`` (only skipped versions
    between them), ``same`` (both ends give one verdict), ``end_skipped`` (an end cannot be
    probed)."""

    status: str
    old_verdict: str | None
    new_verdict: str | None
    last_old: str | None = None
    first_new: str | None = None
    skipped_between: list[str] = field(default_factory=list)
    probed: list[tuple[str, str | None]] = field(default_factory=list)


def find_transition(candidates: Sequence[str], probe: Callable[[str], str | None]) -> Transition:
    """Search ``candidates`` (oldest first) for the first one whose verdict is the newest's.

    ``probe`` returns a verdict, or None for "cannot tell" (skipped). When nothing is skipped it
    is called at most ``ceil(log2(n)) + 2`` times.
    """
    if len(candidates) < 2:
        raise ValueError("bisecting needs at least two candidates")
    probed: list[tuple[str, str | None]] = []

    def ask(index: int) -> str | None:
        verdict = probe(candidates[index])
        probed.append((candidates[index], verdict))
        return verdict

    old_verdict, new_verdict = ask(0), ask(len(candidates) - 1)
    if old_verdict is None or new_verdict is None:
        return Transition("end_skipped", old_verdict, new_verdict, probed=probed)
    if old_verdict == new_verdict:
        return Transition("same", old_verdict, new_verdict, probed=probed)
    low, high = 0, len(candidates) - 1
    skipped: set[int] = set()
    while high - low > 1:
        index = _next_index(low, high, skipped)
        if index is None:
            between = [candidates[i] for i in range(low + 1, high)]
            return Transition("range", old_verdict, new_verdict, candidates[low], candidates[high], between, probed)
        verdict = ask(index)
        if verdict is None:
            skipped.add(index)
        elif verdict == new_verdict:
            high = index
        else:
            low = index
    return Transition("found", old_verdict, new_verdict, candidates[low], candidates[high], probed=probed)


def probe_budget(count: int) -> int:
    """The most probes :func:`find_transition` spends on ``count`` candidates without skips."""
    return math.ceil(math.log2(count)) + 2


def _next_index(low: int, high: int, skipped: set[int]) -> int | None:
    """The untried index closest to the middle of (low, high), as ``git bisect skip`` does."""
    middle = (low + high) // 2
    for offset in range(high - low):
        for index in (middle - offset, middle + offset + 1) if offset else (middle,):
            if low < index < high and index not in skipped:
                return index
    return None
