"""The linter and the type checker pass (the same checks as `nox -s lint` and `nox -s typecheck`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support import ROOT


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "ruff", "check", "harness", "tests", "noxfile.py"],
    [sys.executable, "-m", "mypy", "harness"],
])
def test_checks_pass(command: list[str]) -> None:
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
