"""The harness's errors: one base class, and the kinds the command line maps to exit codes.

Every message is one full sentence that names the bad value and, where there are any, the
valid choices. Only :mod:`harness.cli` turns these into exit statuses.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class BadInput(HarnessError):
    """The user gave something the harness cannot act on (exit status 2)."""


class ContractError(BadInput):
    """A scenario module breaks the scenario contract; the message names the file and the rule."""


class ResultsError(BadInput):
    """A results file or run folder is unreadable, corrupt, hostile or of another schema."""


class InstallError(HarnessError):
    """An env's requirements could not be installed; the message is the installer's."""


class WorkerError(HarnessError):
    """The worker process inside a tested env did not follow its protocol."""
