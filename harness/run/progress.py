"""Progress lines for long runs: one line per finished cell with counts and an estimate of time left.

Thread-safe; every line is written whole and flushed at once, so parallel envs never interleave
inside a line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import TextIO

from harness.clock import format_duration
from harness.evidence.model import VERDICTS, Cell


class Progress:
    """Counts finished cells out of ``total`` and prints a line for each.

    The estimate of time left is the wall time per finished cell so far, leaving out the time
    spent setting envs up (installs and framework imports, reported with :meth:`set_up`; divided
    by how many are set up side by side: ``jobs``, at most ``envs``), times the cells left; envs
    still to set up are named apart, since their cost is not the cells'. With ``jobs`` cells in
    flight the wall time per finished cell is already the time between cells finishing side by
    side (not a cell's own duration), so the estimate needs no other correction. It is shown once
    a cell has finished. A cell reused from the cell cache is shown as ``reused`` and counts
    toward no estimate.
    """

    def __init__(self, total: int, stream: TextIO | None = None, already_done: int = 0, envs: int = 0, jobs: int = 1):
        self.total = total
        self.stream = stream or sys.stdout
        self.done = already_done
        self._fresh = 0
        self.counts: Counter[str] = Counter()
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._setup_s = 0.0
        self._envs_left = envs
        self._jobs = max(1, min(jobs, envs) if envs else jobs)  # set-ups side by side: a pairing each

    def set_up(self, seconds: float, env_ready: bool = False) -> None:
        """Time spent setting an env up (not running cells); ``env_ready``: one env fewer to set up."""
        with self._lock:
            self._setup_s += max(0.0, seconds) / self._jobs
            if env_ready:
                self._envs_left = max(0, self._envs_left - 1)

    def note(self, text: str) -> None:
        with self._lock:
            self._write(text)

    def cell_finished(self, cell: Cell) -> None:
        with self._lock:
            self.done += 1
            self._fresh += 0 if cell.reused_from else 1
            self.counts[cell.verdict] += 1
            width = len(str(self.total))
            where = cell.pairing if not cell.saved_with or cell.saved_with == cell.pairing else f"{cell.saved_with} -> {cell.pairing}"
            counts = ", ".join(f"{v} {self.counts[v]}" for v in VERDICTS if self.counts[v])
            self._write(
                f"[{self.done:>{width}}/{self.total}] {cell.verdict:<14} {cell.scenario} @ {where} "
                f"({'reused' if cell.reused_from else f'{cell.duration_s:.1f} s'}) | {counts} | {self._eta()}"
            )

    def _eta(self) -> str:
        left = self.total - self.done
        if left <= 0:
            return "done"
        elapsed = max(0.0, time.monotonic() - self._started - self._setup_s)
        per_cell = elapsed / max(1, self._fresh)
        envs = f" and {self._envs_left} env{'s' if self._envs_left > 1 else ''} to set up" if self._envs_left else ""
        return f"about {format_duration(per_cell * left)} of cells left{envs}"

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
