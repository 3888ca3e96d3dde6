"""Commands that reproduce one cell alone: through nox in this checkout, and as a plain ``uv run``."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from harness.evidence.model import PairingRecord, ScenarioRecord
from harness.paths import SCENARIOS, shown_path


def reproduce_commands(
    scenario: ScenarioRecord, loader: PairingRecord | None, saver: PairingRecord | None
) -> tuple[str, str]:
    """A nox command and a plain ``uv run`` command that reproduce one cell alone."""
    if loader is None:
        return "", ""
    path = shown_path(Path(scenario.path))
    folder = os.path.dirname(path) or "."
    pairings = []
    if saver is not None and saver.id != loader.id:
        pairings.append(_pairing_arg(saver))
    pairings.append(_pairing_arg(loader))
    nox = ["nox", "-s", "matrix", "--"]
    for spec in pairings:
        nox += ["--pairing", spec]
    nox += ["--only", scenario.id]
    if os.path.abspath(folder) != str(SCENARIOS):
        nox += ["--scenarios", folder]
    prelude = f"import sys; sys.path.insert(0, {json.dumps(folder)}); import {scenario.id} as s"
    if scenario.kind == "run":
        code = f"{prelude}; import tempfile; print(s.run(tempfile.mkdtemp()))"
        uv = _uv_run(loader, code)
    else:
        save_code = f'{prelude}; import os; os.makedirs("artifact", exist_ok=True); print(s.save("artifact"))'
        load_code = f'{prelude}; print(s.load("artifact"))'
        uv = f"{_uv_run(saver or loader, save_code)} && {_uv_run(loader, load_code)}"
    return shlex.join(nox), uv


def _pairing_arg(pairing: PairingRecord) -> str:
    items = list(pairing.pins) or list(pairing.requested.requirements)
    if pairing.backend != "tensorflow":
        items.append(f"backend={pairing.backend}")
    if pairing.requested.python:
        items.append(f"python={pairing.requested.python}")
    return ",".join(items)


def _uv_run(pairing: PairingRecord, code: str) -> str:
    command = ["uv", "run", "--no-project", "--isolated"]
    if pairing.python:
        command += ["--python", pairing.python]
    for pin in pairing.pins or pairing.requested.requirements:
        command += ["--with", str(pin)]
    command += ["python", "-c", code]
    return f"KERAS_BACKEND={shlex.quote(pairing.backend)} {shlex.join(command)}"
