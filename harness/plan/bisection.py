"""The bisect search itself: which candidate to probe next, and what the probes say.

Pure: it takes the candidates and a probe function and works like ``git bisect`` with two terms:
"new" is the verdict of the newest candidate, anything else is "old"; a probe that cannot say
(None) is skipped and its neighbours are tried instead. The versions an answer rests on can be
probed more than once (``confirm``), and an answer they do not repeat is called unstable. Real
probes are supplied by :mod:`harness.commands.bisect`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence


@dataclass
class Transition:
    """The answer. ``status``: ``found`` (adjacent old and new), ``range`` (only skipped versions
    between them), ``same`` (both ends give one verdict), ``end_skipped`` (an end cannot be
    probed), ``unstable`` (a version the answer rests on gave different answers when probed
    again: ``unstable`` lists each such version with every answer it gave).

    With ``same``, ``inside`` lists the probes between the ends that gave another verdict: the
    behaviour may change and change back inside the range (A -> B -> A).
    """

    status: str
    old_verdict: str | None
    new_verdict: str | None
    last_old: str | None = None
    first_new: str | None = None
    skipped_between: list[str] = field(default_factory=list)
    probed: list[tuple[str, str | None]] = field(default_factory=list)
    inside: list[tuple[str, str]] = field(default_factory=list)
    unstable: list[tuple[str, list[str | None]]] = field(default_factory=list)


def find_transition(candidates: Sequence[str], probe: Callable[[str], str | None], confirm: int = 1) -> Transition:
    """Search ``candidates`` (oldest first) for the first one whose verdict is the newest's.

    ``probe`` returns a verdict, or None for "cannot tell" (skipped). When both ends agree, the
    middle candidate is probed once too, to see a change hidden inside the range. ``confirm``
    is how many answers each version the answer rests on must give (the two around the
    transition, or the two ends when they agree): it is probed again until it has given that
    many, and any disagreement makes the answer ``unstable``. When nothing is skipped ``probe``
    is called at most :func:`probe_budget` times.
    """
    if len(candidates) < 2:
        raise ValueError("bisecting needs at least two candidates")
    if confirm < 1:
        raise ValueError("confirm counts the answers a version must give; it is at least 1")
    probed: list[tuple[str, str | None]] = []

    def ask(index: int) -> str | None:
        verdict = probe(candidates[index])
        probed.append((candidates[index], verdict))
        return verdict

    def confirmed(result: Transition, indexes: Sequence[int]) -> Transition:
        for index in indexes:
            while sum(version == candidates[index] for version, _ in probed) < confirm:
                ask(index)
        answers = [(candidates[i], [v for version, v in probed if version == candidates[i]]) for i in indexes]
        result.unstable = [(version, said) for version, said in answers if len(set(said)) > 1]
        if result.unstable:
            result.status = "unstable"
        return result

    last = len(candidates) - 1
    old_verdict, new_verdict = ask(0), ask(last)
    if old_verdict is None or new_verdict is None:
        return Transition("end_skipped", old_verdict, new_verdict, probed=probed)
    if old_verdict == new_verdict:
        inside: list[tuple[str, str]] = []
        if last > 1:
            middle = last // 2
            verdict = ask(middle)
            if verdict is not None and verdict != old_verdict:
                inside.append((candidates[middle], verdict))
        return confirmed(Transition("same", old_verdict, new_verdict, probed=probed, inside=inside), (0, last))
    low, high = 0, last
    skipped: set[int] = set()
    while high - low > 1:
        index = _next_index(low, high, skipped)
        if index is None:
            between = [candidates[i] for i in range(low + 1, high)]
            return confirmed(Transition("range", old_verdict, new_verdict, candidates[low], candidates[high], between,
                                        probed), (low, high))
        verdict = ask(index)
        if verdict is None:
            skipped.add(index)
        elif verdict == new_verdict:
            high = index
        else:
            low = index
    return confirmed(Transition("found", old_verdict, new_verdict, candidates[low], candidates[high], probed=probed),
                     (low, high))


def probe_budget(count: int, confirm: int = 1) -> int:
    """The most probes :func:`find_transition` spends on ``count`` candidates without skips:
    the search, and ``confirm - 1`` more answers from each of the two versions the answer rests on."""
    return math.ceil(math.log2(count)) + 2 + 2 * (confirm - 1)


def _next_index(low: int, high: int, skipped: set[int]) -> int | None:
    """The untried index closest to the middle of (low, high), as ``git bisect skip`` does."""
    middle = (low + high) // 2
    for offset in range(high - low):
        for index in (middle - offset, middle + offset) if offset else (middle,):
            if low < index < high and index not in skipped:
                return index
    return None
