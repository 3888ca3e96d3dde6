"""What a matrix run is asked to do: its options, the record of them a run folder keeps, and the
options read back from that record (untrusted) when a run is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ResultsError
from harness.evidence.model import RunInfo
from harness.plan.cells import CROSS_MODES, parse_shard

DEFAULT_TIMEOUT_S = 300.0
#: How much of a cell's output (stdout and stderr) is kept: the head and the tail of this many bytes.
DEFAULT_MAX_OUTPUT = 64 * 2**20
ISOLATIONS = ("fork", "spawn")
#: ``--fresh`` without a scenario: no cell is taken from the cell cache.
FRESH_ALL = "*"


@dataclass
class MatrixOptions:
    """Everything a matrix run needs; the command line fills it in.

    ``generated`` holds scenario modules by file name (``--model``, ``--file``): the run writes them
    into its own ``scenarios/`` folder and runs them instead of ``scenario_dirs``. ``fresh`` names
    the scenarios whose cells run again instead of being taken from the cell cache
    (:data:`FRESH_ALL`: every one); their new results replace the cached ones.
    """

    scenario_dirs: list[Path]
    pairings: list[str] = field(default_factory=list)
    only: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    out: Path | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    jobs: int = 1
    envs_dir: Path | None = None
    isolation: str = "fork"
    cross: str = "all"
    load_artifacts: list[Path] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    exclude_newer: str | None = None
    max_output: int = DEFAULT_MAX_OUTPUT
    config: Path | None = None
    generated: dict[str, str] = field(default_factory=dict)
    fresh: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    def is_fresh(self, scenario_id: str) -> bool:
        """Whether the scenario's cells must run again rather than come from the cell cache."""
        return FRESH_ALL in self.fresh or scenario_id in self.fresh

    def record(self) -> dict[str, Any]:
        """The options as the run's record keeps them (``run.json``: ``run.options``); folders are
        recorded absolute, so the run can be resumed from anywhere."""
        return {
            "timeout": self.timeout,
            "jobs": self.jobs,
            "isolation": self.isolation,
            "cross": self.cross,
            "only": list(self.only),
            "tags": list(self.tags),
            "scenario_dirs": [str(d.absolute()) for d in self.scenario_dirs],
            "load_artifacts": [str(d.absolute()) for d in self.load_artifacts],
            "max_output": self.max_output,
            "config": str(self.config) if self.config is not None else None,
        }

    @property
    def shard_text(self) -> str | None:
        return f"{self.shard[0]}/{self.shard[1]}" if self.shard else None


def options_from_record(run: RunInfo, envs_dir: Path | None) -> MatrixOptions:
    """The options a recorded run was started with (checked: the record is untrusted)."""
    recorded = run.options

    def strings(key: str) -> list[str]:
        value = recorded.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ResultsError(f"The run's option {key!r} is not a list of strings.")
        return value

    dirs = [Path(d) for d in strings("scenario_dirs")]
    for folder in dirs:
        if ".." in folder.parts or not folder.is_absolute():
            raise ResultsError(f"The run's scenarios folder {str(folder)!r} is not a plain absolute path.")
    timeout, cross, isolation = recorded.get("timeout"), recorded.get("cross"), recorded.get("isolation")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ResultsError("The run's timeout is not a positive number.")
    if cross not in CROSS_MODES or isolation not in ISOLATIONS:
        raise ResultsError("The run's cross or isolation option is not one this harness knows.")
    jobs = recorded.get("jobs", 1)
    max_output = recorded.get("max_output", DEFAULT_MAX_OUTPUT)
    if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output <= 0:
        raise ResultsError("The run's max_output is not a positive whole number of bytes.")
    return MatrixOptions(
        scenario_dirs=dirs,
        only=strings("only"),
        tags=strings("tags"),
        timeout=float(timeout),
        jobs=jobs if isinstance(jobs, int) and not isinstance(jobs, bool) and jobs > 0 else 1,
        envs_dir=envs_dir,
        isolation=str(isolation),
        cross=str(cross),
        shard=parse_shard(run.shard) if run.shard else None,
        max_output=max_output,
    )
