"""Bounded retries of what talks to the package index: installs (uv) and reading the index.

A failure of the network (a reset connection, a timeout, a 5xx answer) says nothing about the
requirements, so it is tried again: at most ``tries`` attempts in all, with a pause before each
retry that doubles every time (5 s, then 10 s by default). Each retry is reported, in one line,
to the caller's ``note``. Anything else an attempt raises is never retried.

``$HARNESS_NETWORK_TRIES`` (a whole number, at least 1) and ``$HARNESS_NETWORK_PAUSE_S`` (the
first pause in seconds, 0 or more) change the bounds.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

from harness.errors import BadInput

#: Where a one-line progress message goes (a run's progress lines, a bisect's output).
Note = Callable[[str], None]
T = TypeVar("T")

TRIES = 3
FIRST_PAUSE_S = 5.0
TRIES_VARIABLE = "HARNESS_NETWORK_TRIES"
PAUSE_VARIABLE = "HARNESS_NETWORK_PAUSE_S"


class Transient(Exception):
    """Raised by an attempt that failed on the network.

    ``reason`` is one line saying how it failed; ``detail`` is the whole message (the installer's
    output), kept for the error raised once every try has failed. ``tries`` is set by
    :func:`with_retries` to the number of attempts made when it gives up.
    """

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason
        self.tries = 1


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts in all, and the pause before the first retry (doubled for each next one)."""

    tries: int = TRIES
    first_pause_s: float = FIRST_PAUSE_S

    def pause_after(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        return self.first_pause_s * 2 ** (attempt - 1)


def retry_policy(environ: Mapping[str, str] | None = None) -> RetryPolicy:
    """The policy in force: the defaults, or what the two variables say (:class:`BadInput` when
    one holds something else than a number in its range)."""
    environ = os.environ if environ is None else environ
    tries = _number(environ, TRIES_VARIABLE, int, 1, TRIES)
    pause = _number(environ, PAUSE_VARIABLE, float, 0, FIRST_PAUSE_S)
    return RetryPolicy(int(tries), float(pause))


def with_retries(attempt: Callable[[], T], note: Note | None = None, policy: RetryPolicy | None = None) -> T:
    """Call ``attempt`` until it returns, and return what it returned.

    When it raises :class:`Transient`, the failure is noted, and after the pause it is called
    again, at most ``policy.tries`` times in all; the last :class:`Transient` is raised with
    ``tries`` set. Any other exception passes through at once.
    """
    policy = policy or retry_policy()
    attempt_number = 1
    while True:
        try:
            return attempt()
        except Transient as failure:
            if attempt_number >= policy.tries:
                failure.tries = attempt_number
                raise
            pause = policy.pause_after(attempt_number)
            if note is not None:
                note(f"try {attempt_number} of {policy.tries} failed on the network ({failure.reason}); "
                     f"trying again in {pause:g} s")
            time.sleep(pause)
            attempt_number += 1


def _number(environ: Mapping[str, str], name: str, kind: Callable[[str], float], lowest: float, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = lowest - 1
    if not (value >= lowest and math.isfinite(value)):  # refuses nan and inf too
        word = "a whole number" if kind is int else "a number of seconds"
        raise BadInput(f"${name} is {text!r}; it must be {word}, at least {lowest:g}.")
    return value
