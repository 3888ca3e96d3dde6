"""The bisect search as tables: every transition found within the probe budget, skips stepped around."""

from __future__ import annotations

import pytest

from harness.plan.bisection import find_transition, probe_budget


def versions(n: int) -> list[str]:
    return [f"1.{i}" for i in range(n)]


def table_probe(change_at: int, skipped: set[int] = frozenset(), old: str = "passed", new: str = "reproduced"):
    calls: list[str] = []

    def probe(version: str) -> str | None:
        calls.append(version)
        index = int(version.split(".")[1])
        if index in skipped:
            return None
        return new if index >= change_at else old

    return probe, calls


@pytest.mark.parametrize("n", [2, 3, 5, 8, 40, 41, 100])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_finds_every_transition_within_the_budget(n: int, where: str) -> None:
    change_at = {"first": 1, "middle": n // 2, "last": n - 1}[where]
    probe, calls = table_probe(change_at)
    result = find_transition(versions(n), probe)
    assert result.status == "found"
    assert (result.last_old, result.first_new) == (f"1.{change_at - 1}", f"1.{change_at}")
    assert len(calls) <= probe_budget(n) and len(calls) == len(set(calls))


def test_equal_ends_are_refused_after_the_ends_and_the_middle() -> None:
    probe, calls = table_probe(change_at=99)
    result = find_transition(versions(10), probe)
    assert result.status == "same" and result.old_verdict == result.new_verdict == "passed"
    assert calls == ["1.0", "1.9", "1.4"] and result.inside == []


def test_an_end_that_cannot_be_probed() -> None:
    probe, _ = table_probe(change_at=5, skipped={0})
    assert find_transition(versions(10), probe).status == "end_skipped"


def test_skipped_versions_are_stepped_around() -> None:
    probe, calls = table_probe(change_at=30, skipped={20, 21, 19, 25})
    result = find_transition(versions(40), probe)
    assert result.status == "found" and result.first_new == "1.30" and result.last_old == "1.29"
    assert set(calls) & {"1.19", "1.20", "1.21", "1.25"}  # it met skipped versions and went around them


def test_only_skipped_versions_between_gives_a_range() -> None:
    probe, _ = table_probe(change_at=12, skipped={10, 11, 12, 13})
    result = find_transition(versions(20), probe)
    assert result.status == "range"
    assert (result.last_old, result.first_new) == ("1.9", "1.14")
    assert result.skipped_between == ["1.10", "1.11", "1.12", "1.13"]


def test_a_third_verdict_counts_as_old() -> None:
    def probe(version: str) -> str | None:
        index = int(version.split(".")[1])
        return "error" if index < 3 else "passed" if index < 7 else "reproduced"

    result = find_transition(versions(10), probe)
    assert (result.last_old, result.first_new, result.old_verdict) == ("1.6", "1.7", "error")


def test_a_skip_in_the_middle_still_tries_the_version_after_it() -> None:
    # 1.1 old, 1.2 skipped, 1.3 new: 1.3 must be probed, so only 1.2 is left between them
    probe, calls = table_probe(change_at=3, skipped={2})
    result = find_transition(versions(5), probe)
    assert (result.status, result.last_old, result.first_new, result.skipped_between) == ("range", "1.1", "1.3", ["1.2"])
    assert "1.3" in calls
