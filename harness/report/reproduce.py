"""Commands that reproduce one cell alone: the harness's own command (``nox -s matrix --`` in this
checkout, ``keras-compat matrix`` where the tool is installed; ``--model``/``--file`` as the run
was given them), and a plain ``uv run``."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from harness.evidence.model import PairingRecord, ScenarioRecord
from harness.paths import IN_CHECKOUT, SCENARIOS, shown_path
from harness.plan.scenarios import module_name

#: The options of a run that generate its scenarios (``--model``, ``--file``), with a value each,
#: and those without one: a command that reproduces such a run's cell repeats them.
_OWN_OPTIONS = ("--model", "--file", "--inputs", "--reference", "--signature")
_OWN_FLAGS = ("--unsafe-load",)


def own_arguments(command: list[str]) -> list[str]:
    """The words of a recorded command line that generated its scenarios (``--model FILE:FN``,
    ``--file SAVED`` and their companions), in order; empty for a run of a scenarios folder."""
    found: list[str] = []
    words = iter(command)
    for word in words:
        name, eq, value = word.partition("=")
        if name in _OWN_OPTIONS:
            found += [name, value if eq else next(words, "")]
        elif word in _OWN_FLAGS:
            found.append(word)
    return found


def reproduce_commands(
    scenario: ScenarioRecord, loader: PairingRecord | None, saver: PairingRecord | None, own: list[str] | None = None
) -> tuple[str, str]:
    """The harness's command and a plain ``uv run`` command that reproduce one cell alone."""
    first, uv = reproduce_parts(scenario, loader, saver, own or [])
    return "".join(first), "".join(uv)


def reproduce_parts(
    scenario: ScenarioRecord, loader: PairingRecord | None, saver: PairingRecord | None, own: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """The commands of :func:`reproduce_commands` as parts that join (with "") into them, each part
    depending on one pairing or on the scenario alone, so that a page with many cells stores
    each part once. Empty lists when the loading pairing is unknown. ``own``: the run's
    ``--model``/``--file`` words (:func:`own_arguments`), repeated instead of its scenarios folder."""
    if loader is None:
        return [], []
    path = shown_path(Path(scenario.path))
    folder = os.path.dirname(path) or "."
    nox = ["nox -s matrix --" if IN_CHECKOUT else "keras-compat matrix"]
    if own:
        nox.append(" " + shlex.join(own))
    if saver is not None and saver.id != loader.id:
        nox.append(f" --pairing {shlex.quote(_pairing_arg(saver))}")
    nox += [f" --pairing {shlex.quote(_pairing_arg(loader))}", f" --only {shlex.quote(scenario.id)}"]
    if not own and os.path.abspath(folder) != str(SCENARIOS):
        nox.append(f" --scenarios {shlex.quote(folder)}")
    prelude = f"import sys; sys.path.insert(0, {json.dumps(folder)}); import {module_name(scenario.id)} as s"
    if scenario.kind == "run":
        return nox, [_uv_run(loader), " " + shlex.quote(f"{prelude}; import tempfile; print(s.run(tempfile.mkdtemp()))")]
    fmt = f", {json.dumps(scenario.format)}" if scenario.format else ""
    save_code = f'{prelude}; import os; os.makedirs("artifact", exist_ok=True); print(s.save("artifact"{fmt}))'
    load_code = f'{prelude}; print(s.load("artifact"{fmt}))'
    return nox, [_uv_run(saver or loader), " " + shlex.quote(save_code), " && ", _uv_run(loader), " " + shlex.quote(load_code)]


def _pairing_arg(pairing: PairingRecord) -> str:
    items = list(pairing.pins) or list(pairing.requested.requirements)
    if pairing.backend != "tensorflow":
        items.append(f"backend={pairing.backend}")
    if pairing.requested.python:
        items.append(f"python={pairing.requested.python}")
    return ",".join(items)


def _uv_run(pairing: PairingRecord) -> str:
    """``KERAS_BACKEND=… uv run … python -c`` for one pairing (the code follows)."""
    command = ["uv", "run", "--no-project", "--isolated"]
    if pairing.python:
        command += ["--python", pairing.python]
    for pin in pairing.pins or pairing.requested.requirements:
        command += ["--with", str(pin)]
    command += ["python", "-c"]
    return f"KERAS_BACKEND={shlex.quote(pairing.backend)} {shlex.join(command)}"
