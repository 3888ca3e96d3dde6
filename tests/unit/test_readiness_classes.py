"""Readiness's change classes of a pair of verdicts (None: the scenario is absent on that side)."""

from __future__ import annotations

import pytest

from harness.commands.readiness import classify


@pytest.mark.parametrize("baseline, candidate, change", [
    ("passed", "passed", "unchanged"), ("passed", "reproduced", "regressed"), ("passed", "error", "regressed"),
    ("passed", "install_failed", "regressed"), ("reproduced", "passed", "fixed"), ("error", "reproduced", "changed"),
    ("passed", "skipped", "changed"), (None, "passed", "new"), ("passed", None, "gone"),
    ("wrong_values", "wrong_values", "unchanged"), ("install_failed", "passed", "changed"),
    ("interrupted", "passed", "changed"), ("missing", "reproduced", "changed"),
])
def test_classes(baseline: str | None, candidate: str | None, change: str) -> None:
    assert classify(baseline, candidate) == change
