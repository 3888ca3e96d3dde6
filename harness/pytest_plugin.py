"""The pytest plugin: the matrix of your own model or saved file from inside your test suite.
Installed with the tool (the ``pytest11`` entry point ``keras_compat``); it does nothing unless
asked:

- a marker and a fixture for a test of your own::

      @pytest.mark.keras_compat(pairings=["keras==3.5.0,tensorflow==2.16.1", "keras,tensorflow"])
      def test_my_model_loads_everywhere(keras_compat):
          result = keras_compat.check_model("src/mymodel.py:build")  # or check_file("model.keras")
          assert result.loads("keras==3.5.0,tensorflow==2.16.1", saved_with="keras,tensorflow", fmt="keras")

- ``pytest --keras-compat-model=src/mymodel.py:build``: no test file to write; a test item per
  format (``.keras``, ``.weights.h5``, legacy ``.h5``, the SavedModel export), each failing with
  the directions (saved with → loaded with) that failed and their root causes;
- ``--keras-compat-pairing SPEC`` (repeatable) chooses the pairings, ``--keras-compat-expect
  FILE`` judges the run by an expectations file (``matrix --write-expect``): then an item fails
  only for the cells that differ from it.

Each check runs ``python -m harness matrix … --out DIR`` as a subprocess (relative paths are
read from the rootdir, where the harness also finds its config table) and reads ``results.json``;
the cell cache makes a rerun of an unchanged model cost seconds. The run folders go to
``.keras-compat/runs/`` under the rootdir (``--keras-compat-out DIR``), and the terminal summary
names each report.
"""

from __future__ import annotations

import datetime
import itertools
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generator, Sequence

import pytest

from harness.errors import BadInput
from harness.evidence.codec import read_results
from harness.evidence.expect import ExpectKey, compare, pairing_key, read_expectations
from harness.evidence.model import Cell, PairingRecord, Results, ScenarioRecord, Verdict
from harness.plan.model_helper import FORMATS as MODEL_FORMATS
from harness.plan.models import FORMAT_FILES
from harness.plan.pairings import parse_pairing
from harness.report.cause import root_cause

MARKER = "keras_compat"
#: The formats of a ``--model`` run, as ``fmt`` names them: those of the FORMATS scenario loaded in
#: safe mode (the default), and the export.
FORMATS = (*(name for name, fmt in MODEL_FORMATS.items() if fmt.safe_mode), "saved_model")
_LABELS = {**FORMAT_FILES, "saved_model": "SavedModel export"}
#: Verdicts that are no failure: the cell did what it should, or had nothing to do here.
_NOT_FAILED = {Verdict.PASSED.value, Verdict.REPRODUCED.value, Verdict.SKIPPED.value}
_RUNS = pytest.StashKey["list[CompatResult]"]()
_MEMO = pytest.StashKey["dict[tuple[str, ...], CompatResult]"]()


class KerasCompatError(Exception):
    """A check that could not run: bad input (the harness's one line), or no results."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keras-compat", "the Keras/TensorFlow compatibility matrix of your own model")
    group.addoption("--keras-compat-model", action="append", default=[], metavar="FILE.py:FUNCTION",
                    help="run this model through the matrix: a test item per format, no test file to write (repeatable)")
    group.addoption("--keras-compat-pairing", action="append", default=[], metavar="SPEC",
                    help="a pairing to check, e.g. keras==3.5.0,tensorflow==2.16.1 (repeatable; none: the config table's or the defaults)")
    group.addoption("--keras-compat-expect", metavar="FILE",
                    help="judge the runs by this expectations file (matrix --write-expect): only cells that differ fail")
    group.addoption("--keras-compat-out", metavar="DIR", help="where run folders go (default: .keras-compat/runs under the rootdir)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(pairings=None, timeout=None, jobs=None, expect=None): the pairings (and limits) the "
                   f"keras_compat fixture checks with; without them, --keras-compat-pairing or the tool's own defaults")
    config.stash[_RUNS] = []
    config.stash[_MEMO] = {}


# ---------------------------------------------------------------------------- results


class Failures(list):
    """Failing cells, shown one direction a line (``assert not result.failures()`` reads well)."""

    def __repr__(self) -> str:
        return "[\n" + "".join(f"  {describe(c)},\n" for c in self) + "]" if self else "[]"


@dataclass
class CompatResult:
    """One matrix run of a model or file: its cells (``results``), its folder and report, what
    it printed, and its exit status (1: the expectations file does not hold)."""

    subject: str
    folder: Path
    results: Results
    returncode: int = 0
    output: str = ""
    expect: Path | None = None
    asked: list[Cell] = field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        return self.results.cells

    @property
    def report(self) -> Path:
        """The run's page (``index.html``; ``summary.md`` and ``results.json`` are beside it)."""
        return self.folder / "index.html"

    def pairing(self, text: str) -> PairingRecord:
        """The run's pairing named by ``text``: its spec as given (or written otherwise, e.g.
        ``keras==3.5.0, tensorflow==2.16.1``), its label (``keras-3.5.0_tensorflow-2.16.1``) or its id."""
        try:
            label = parse_pairing(text).label
        except BadInput:
            label = None
        for record in self.results.pairings:
            if text in (record.id, record.requested.spec, pairing_key(record)) or label == pairing_key(record):
                return record
        known = ", ".join(record.requested.spec or record.id for record in self.results.pairings)
        raise LookupError(f"keras-compat: no pairing {text!r} in this run (its pairings: {known})")

    def scenarios(self, fmt: str | None) -> list[ScenarioRecord]:
        """The scenarios of a format (``keras``, ``weights_h5``, ``legacy_h5``, ``saved_model``);
        of a file's run, its one scenario whatever ``fmt``."""
        own = [s for s in self.results.scenarios if "file" in s.tags]
        if own or fmt is None:
            return own or list(self.results.scenarios)
        found = [s for s in self.results.scenarios if ("saved-model" in s.tags if fmt == "saved_model" else s.format == fmt)]
        if not found:
            raise LookupError(f"keras-compat: no format {fmt!r} in this run (formats: {', '.join(FORMATS)})")
        return found

    def cells_of(self, fmt: str | None) -> list[Cell]:
        ids = {s.id for s in self.scenarios(fmt)}
        return [c for c in self.cells if c.scenario in ids]

    def loads(self, reader: str, saved_with: str | None = None, fmt: str = "keras") -> bool:
        """Whether the model saved with ``saved_with`` (default: the reader itself) in the format
        ``fmt`` loads with ``reader`` and gives the same values (the cell passed). Pairings are
        named by spec, label or id; :class:`LookupError` for one the run does not have."""
        loader = self.pairing(reader).id
        saver = self.pairing(saved_with).id if saved_with else None
        cells = [c for c in self.cells_of(fmt) if c.pairing == loader
                 and (c.saved_with == (saver or loader) if c.saved_with is not None else saver is None)]
        if not cells:
            raise LookupError(f"keras-compat: this run has no cell of {fmt} saved with {saver or loader}, loaded with {loader}")
        self.asked = cells
        return all(c.verdict == Verdict.PASSED.value for c in cells)

    def failures(self, fmt: str | None = None) -> Failures:
        """The cells that failed (not passed, reproduced or skipped), of one format or all."""
        return Failures(c for c in (self.cells_of(fmt) if fmt else self.cells) if c.verdict not in _NOT_FAILED)

    def changes(self, today: datetime.date | None = None) -> list[str]:
        """With an expectations file: each cell that differs from it, one line each."""
        if self.expect is None:
            return []
        day = today or datetime.datetime.now(datetime.timezone.utc).date()
        found = compare(self.results, read_expectations(self.expect), day,
                        verdicts_only=bool(self.results.run.options.get("expect_verdicts_only")))
        return [f"{c.kind}: {_key_text(c.key)}: {c.was or '—'} -> {c.now or '—'} ({c.reason})" for c in found.changes]

    def explain(self, cells: Sequence[Cell] | None = None) -> str:
        """The failing directions (or ``cells``), one a line with its root cause, and the report."""
        shown = list(self.failures() if cells is None else cells)
        lines = [describe(c) for c in shown] or ["every cell passed"]
        return "\n".join([*lines, f"report: {self.report}"])

    def __repr__(self) -> str:
        """The direction ``loads`` was last asked about (what an assertion's message shows), else the counts."""
        if self.asked:
            return "<keras-compat: " + "; ".join(describe(c) for c in self.asked) + ">"
        return f"<keras-compat {self.subject}: {len(self.failures())} of {len(self.cells)} cells failed; report {self.report}>"


def _key_text(key: ExpectKey) -> str:
    return f"{key.scenario} {key.cell}"


def describe(cell: Cell) -> str:
    """One failing (or asked) direction: ``.keras saved with A → loaded with B: error: TypeError: …``."""
    scenario = cell.scenario
    label = next((_LABELS[f] for f in FORMAT_FILES if scenario.endswith(f"[{f}]")), None)
    if label is None:
        label = _LABELS["saved_model"] if scenario.endswith("_saved_model") else scenario
    where = f"saved with {cell.saved_with} → loaded with {cell.pairing}" if cell.saved_with else f"in {cell.pairing}"
    cause = root_cause(cell.exception_type, cell.message, cell.traceback)
    why = cause.line if cause is not None and cell.verdict != Verdict.PASSED.value else cell.reason
    return f"{label} {where}: {cell.verdict}: {' '.join(why.split())}"


# ---------------------------------------------------------------------------- running the harness


@dataclass(repr=False)
class KerasCompat:
    """What the fixture gives: checks with the pairings (and limits) of the test's marker, else
    of the command line."""

    config: pytest.Config
    pairings: list[str] = field(default_factory=list)
    timeout: float | None = None
    jobs: int | None = None
    expect: Path | None = None
    used: list[CompatResult] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<keras_compat fixture: pairings {self.pairings or 'the defaults'}>"

    def check_model(self, spec: str) -> CompatResult:
        """The matrix of ``FILE.py:FUNCTION`` (the function returns the built model)."""
        path, sep, function = spec.rpartition(":")
        if not sep or not path.endswith(".py"):
            raise KerasCompatError(f"keras-compat: {spec!r} is not FILE.py:FUNCTION (e.g. src/mymodel.py:build)")
        return self._run(spec, ["--model", f"{self._path(path)}:{function}"])

    def check_file(self, saved: str | os.PathLike[str], inputs: str | os.PathLike[str] | None = None,
                   reference: str | os.PathLike[str] | None = None, model: str | None = None) -> CompatResult:
        """Will this saved file load, and load right, in every pairing? ``inputs``/``reference``:
        .npy files; ``model``: ``FILE.py`` (its registered classes) or ``FILE.py:FUNCTION`` (for a
        .weights.h5)."""
        args = ["--file", self._path(saved)]
        for flag, given in (("--inputs", inputs), ("--reference", reference)):
            if given is not None:
                args += [flag, self._path(given)]
        if model is not None:
            path, sep, function = model.rpartition(":") if model.count(":") and not model.endswith(".py") else (model, "", "")
            args += ["--model", self._path(path) + (f":{function}" if sep else "")]
        return self._run(str(saved), args)

    def _path(self, given: str | os.PathLike[str]) -> str:
        """A path as the user wrote it: from the rootdir, else from where pytest was started."""
        path = Path(given)
        if path.is_absolute():
            return str(path)
        for base in (self.config.rootpath, self.config.invocation_params.dir):
            if (base / path).exists():
                return str(base / path)
        return str(self.config.rootpath / path)

    def _run(self, subject: str, args: list[str]) -> CompatResult:
        for spec in self.pairings:
            args += ["--pairing", spec]
        if self.timeout is not None:
            args += ["--timeout", str(self.timeout)]
        if self.jobs is not None:
            args += ["--jobs", str(self.jobs)]
        if self.expect is not None:
            args += ["--expect", self._path(self.expect)]
        memo = self.config.stash[_MEMO]
        if tuple(args) in memo:
            self.used.append(memo[tuple(args)])
            return memo[tuple(args)]
        folder = _new_folder(self.config, subject)
        command = [sys.executable, "-m", "harness", "matrix", *args, "--out", str(folder)]
        proc = subprocess.run(command, cwd=self.config.rootpath, capture_output=True, text=True, check=False)
        output = proc.stdout + proc.stderr
        if proc.returncode == 2 or not (folder / "results.json").is_file():
            last = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}").splitlines()[-1]
            raise KerasCompatError(f"keras-compat could not check {subject}: {last}")
        result = CompatResult(subject=subject, folder=folder, results=read_results(folder / "results.json"),
                              returncode=proc.returncode, output=output,
                              expect=Path(self._path(self.expect)) if self.expect is not None else None)
        memo[tuple(args)] = result
        self.used.append(result)
        self.config.stash[_RUNS].append(result)
        return result


_COUNTER = itertools.count(1)


def _new_folder(config: pytest.Config, subject: str) -> Path:
    given = config.getoption("keras_compat_out")
    root = Path(given) if given else config.rootpath / ".keras-compat" / "runs"
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(subject.split(":")[0]).name)
    folder = root / f"{stamp}-{os.getpid()}-{next(_COUNTER)}-{name}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def _from_options(config: pytest.Config, marker: pytest.Mark | None = None) -> KerasCompat:
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    unknown = set(kwargs) - {"pairings", "timeout", "jobs", "expect"}
    if unknown:
        raise KerasCompatError(f"@pytest.mark.{MARKER} takes pairings, timeout, jobs and expect, not {', '.join(sorted(unknown))}")
    pairings = kwargs.get("pairings") or config.getoption("keras_compat_pairing") or []
    if isinstance(pairings, str):
        pairings = [pairings]
    expect = kwargs.get("expect") or config.getoption("keras_compat_expect")
    return KerasCompat(config=config, pairings=list(pairings), timeout=kwargs.get("timeout"), jobs=kwargs.get("jobs"),
                       expect=Path(expect) if expect else None)


@pytest.fixture
def keras_compat(request: pytest.FixtureRequest) -> KerasCompat:
    """Checks a model (``check_model("src/mymodel.py:build")``) or a saved file
    (``check_file("model.keras")``) with the pairings of the test's ``keras_compat`` marker (else
    ``--keras-compat-pairing``, else the tool's defaults); the result answers ``loads(...)``."""
    checker = _from_options(request.config, request.node.get_closest_marker(MARKER))
    request.node.stash[_USED] = checker
    return checker


_USED = pytest.StashKey[KerasCompat]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test that used the fixture gets a section with every failing direction of its runs."""
    report = yield
    if call.when == "call" and report.failed and _USED in item.stash:
        text = "\n\n".join(f"{r.subject}:\n{r.explain()}" for r in item.stash[_USED].used)
        if text:
            report.sections.append(("keras-compat", text))
    return report


# ---------------------------------------------------------------------------- --keras-compat-model


class ModelRun(pytest.Collector):
    """``--keras-compat-model SPEC``: an item per format; the first to run runs the matrix."""

    def __init__(self, *, spec: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self._result: CompatResult | None = None

    def result(self) -> CompatResult:
        if self._result is None:
            self._result = _from_options(self.config).check_model(self.spec)
        return self._result

    def collect(self) -> list[pytest.Item]:
        return [FormatItem.from_parent(self, name=fmt, nodeid=f"{self.spec}::{fmt}", fmt=fmt) for fmt in FORMATS]


class KerasCompatFailure(AssertionError):
    """An item's failing directions."""


class FormatItem(pytest.Item):
    """Every direction of one format passed (with an expectations file: none differs from it)."""

    def __init__(self, *, fmt: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fmt = fmt
        self.add_marker(MARKER)

    def runtest(self) -> None:
        assert isinstance(self.parent, ModelRun)
        result = self.parent.result()
        cells = result.cells_of(self.fmt)
        if result.expect is not None:
            ids = {s.id for s in result.scenarios(self.fmt)}
            changed = [line for line in result.changes() if line.split(": ", 2)[1].split(" ")[0] in ids]
            if changed:
                raise KerasCompatFailure(f"{_LABELS[self.fmt]}: {len(changed)} cells differ from {result.expect}:\n"
                                         + "\n".join(changed) + f"\nreport: {result.report}")
            return
        failed = result.failures(self.fmt)
        if failed:
            raise KerasCompatFailure(f"{_LABELS[self.fmt]}: {len(failed)} of {len(cells)} directions failed:\n"
                                     + result.explain(failed))
        if cells and all(c.verdict == Verdict.SKIPPED.value for c in cells):
            pytest.skip(f"{_LABELS[self.fmt]}: {cells[0].reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (KerasCompatFailure, KerasCompatError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        assert isinstance(self.parent, ModelRun)
        return self.path, None, f"keras-compat {self.parent.spec} [{_LABELS[self.fmt]}]"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The items of ``--keras-compat-model``, added before ``-k`` and ``-m`` select."""
    for spec in config.getoption("keras_compat_model") or []:
        run = ModelRun.from_parent(session, name=spec, nodeid=spec, spec=spec)
        items.extend(run.collect())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    runs = config.stash.get(_RUNS, [])
    if not runs:
        return
    terminalreporter.write_sep("-", "keras-compat")
    for result in runs:
        counts = Counter(c.verdict for c in result.cells)
        shown = ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common())
        reused = sum(1 for c in result.cells if c.reused_from)
        gate = "" if result.expect is None else ("; expectations hold" if result.returncode == 0 else "; differs from its expectations")
        terminalreporter.write_line(f"{result.subject}: {len(result.cells)} cells ({shown}"
                                    + (f", {reused} reused from the cell cache" if reused else "") + f"){gate}")
        terminalreporter.write_line(f"  report: {result.report}")
