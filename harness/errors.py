"""The harness's errors: one base class, and the kinds the command line maps to exit codes.

Every message is one full sentence that names the bad value and, where there are any, the
valid choices. Only :mod:`harness.cli` turns these into exit statuses:

- :class:`BadInput` (and its kinds) → 2, one line on stderr;
- :class:`RunStopped` → 130, what finished is kept;
- any other :class:`HarnessError` → 2.

A caller that runs the harness (the noxfile) can ask for the words to end on: when
``HARNESS_ERROR_FILE`` is set, :func:`tell_caller` writes there the one-line error of exit 2, or
the table of a gate that failed (exit 1).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The environment variable naming the file :func:`tell_caller` writes.
CALLER_FILE_VARIABLE = "HARNESS_ERROR_FILE"


#: A value quoted in a message keeps at most this many characters (its head and its tail).
CLIP_CHARS = 200
_QUOTED = re.compile(rf"'[^'\n]{{{CLIP_CHARS + 1},}}'|\"[^\"\n]{{{CLIP_CHARS + 1},}}\"")


def clip(text: str, most: int = CLIP_CHARS) -> str:
    """``text`` when it has at most ``most`` characters, else its head and tail with how many
    characters were cut between them."""
    if len(text) <= most:
        return text
    head, tail = most * 2 // 3, most // 3
    return f"{text[:head]}…[{len(text) - head - tail} characters cut]…{text[-tail:]}"


def clip_quoted(message: str) -> str:
    """``message`` with every quoted value longer than :data:`CLIP_CHARS` clipped (see :func:`clip`),
    and the whole line too, so that a huge value never makes a huge error line."""
    clipped = _QUOTED.sub(lambda m: m.group(0)[0] + clip(m.group(0)[1:-1]) + m.group(0)[-1], message)
    return clip(clipped, 8 * CLIP_CHARS)


def tell_caller(text: str) -> None:
    """Write ``text`` to ``$HARNESS_ERROR_FILE`` when it is set (a file that cannot be written is
    left alone: the text is on the harness's own output too)."""
    target = os.environ.get(CALLER_FILE_VARIABLE)
    if target:
        try:
            Path(target).write_text(text + "\n", encoding="utf-8")
        except OSError:
            pass


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class BadInput(HarnessError):
    """The user gave something the harness cannot act on (exit status 2)."""


class ContractError(BadInput):
    """A scenario module breaks the scenario contract; the message names the file and the rule."""


class ResultsError(BadInput):
    """A results file or run folder is unreadable, corrupt, hostile or of another schema."""


class AnatomyError(BadInput):
    """A file cannot be read as a saved model file; the message says why in one sentence."""


class InstallError(HarnessError):
    """An env's requirements could not be installed; the message is the installer's."""


class InstallNetworkError(InstallError):
    """The installer failed on the network at every one of its (bounded) tries, so the
    requirements were never judged. The message is the installer's, and its last line says how
    many tries failed and how the last one did."""


class PackageIndexError(HarnessError):
    """The package index could not be read (network, format); the message says which and why."""


class WorkerError(HarnessError):
    """The worker process inside a tested env did not follow its protocol."""


class RunStopped(HarnessError):
    """A run was stopped (Ctrl-C, SIGTERM) before it completed; what finished is kept.

    Raised by commands that need a run to complete (a bisect probe, a readiness comparison) when
    the run they started came back incomplete; the message says what was stopped.
    """
