"""Progress lines: counts, and an estimate of the time left that env set-up does not inflate."""

from __future__ import annotations

import io

import pytest

from harness.evidence.model import Cell
from harness.run import progress as progress_module
from harness.run.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_env_set_up_is_left_out_of_the_estimate(clock: Clock) -> None:
    out = io.StringIO()
    progress = Progress(11, out, envs=2)
    clock.now += 60.0
    progress.set_up(60.0, env_ready=True)  # one env installed and imported in a minute
    clock.now += 2.0
    progress.cell_finished(Cell(scenario="s", pairing="p", verdict="passed", duration_s=2.0))
    line = out.getvalue().strip().splitlines()[-1]
    assert "[ 1/11] passed" in line and "passed 1" in line
    assert "about 20 s of cells left and 1 env to set up" in line  # 10 cells of 2 s, not of 62 s


def test_parallel_set_up_counts_once_per_job(clock: Clock) -> None:
    out = io.StringIO()
    progress = Progress(3, out, envs=2, jobs=2)
    clock.now += 30.0
    progress.set_up(30.0, env_ready=True)
    progress.set_up(30.0, env_ready=True)  # two envs set up side by side in the same 30 s
    clock.now += 4.0
    progress.cell_finished(Cell(scenario="s", pairing="p", verdict="passed"))
    assert out.getvalue().strip().endswith("about 8 s of cells left")
    clock.now += 4.0
    progress.cell_finished(Cell(scenario="t", pairing="p", verdict="error"))
    progress.cell_finished(Cell(scenario="u", pairing="p", verdict="error"))
    assert out.getvalue().strip().endswith("error 2 | done")


def test_one_env_with_cells_in_flight_counts_its_set_up_whole(clock: Clock) -> None:
    """``--jobs 2`` on one pairing: its one set-up held up every cell slot, so all of it is left out."""
    out = io.StringIO()
    progress = Progress(5, out, envs=1, jobs=2)
    clock.now += 30.0
    progress.set_up(30.0, env_ready=True)
    clock.now += 2.0  # two cells in flight side by side end within the same 2 s
    progress.cell_finished(Cell(scenario="s", pairing="p", verdict="passed"))
    progress.cell_finished(Cell(scenario="t", pairing="p", verdict="passed"))
    assert out.getvalue().strip().endswith("about 3 s of cells left")  # 3 cells at one per second, not 15 s of set-up
