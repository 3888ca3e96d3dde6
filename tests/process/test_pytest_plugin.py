"""The pytest plugin (harness/pytest_plugin.py), driven by pytest's own ``pytester``: a user's
test session in a temporary folder, its model checked against stand-ins for keras and
tensorflow (:mod:`support.fakekeras`), the harness run as a subprocess of that session."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from support import ROOT, local_index_env
from support.fakekeras import PAIRINGS, model_source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytest_plugins = ["pytester"]

OLD, NEW = "keras-1.0+tensorflow-1.0", "keras-3.0+tensorflow-3.0"
PAIRING_ARGS = [f"--keras-compat-pairing={spec}" for spec in PAIRINGS]
#: What keras 1.0 says of a .keras file keras 3.0 wrote.
CAUSE = "TypeError: Unrecognized keyword arguments passed to Dense: {'quantization_config': None}"


def installed() -> bool:
    """Whether this interpreter has the tool installed, its plugin found through the entry point."""
    found = importlib.metadata.entry_points()
    group = found.select(group="pytest11") if hasattr(found, "select") else found.get("pytest11", [])  # type: ignore[attr-defined]
    return any(ep.name == "keras_compat" and ep.value == "harness.pytest_plugin" for ep in group)


@pytest.fixture
def session(pytester: pytest.Pytester, framework_wheels: Path, shared_envs: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user's folder with a model file, whose pytest finds only the stand-in wheels."""
    for name, value in local_index_env(framework_wheels, shared_envs).items():
        if name in ("UV_FIND_LINKS", "UV_NO_INDEX", "HARNESS_ENVS_DIR", "PYTHONPATH", "HARNESS_CACHE"):
            monkeypatch.setenv(name, value)
    pytester.makepyfile(mymodel=model_source("relu"))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess, with the plugin as the tool installs it (the entry point), or
    named with -p where this interpreter runs the tests from a checkout it has not installed."""
    plugin = [] if installed() else ["-p", "harness.pytest_plugin"]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args, timeout=600)


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"keras_compat": "harness.pytest_plugin"}


def test_the_plugin_does_nothing_unless_asked(session: pytest.Pytester) -> None:
    session.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(session)
    result.assert_outcomes(passed=1)
    assert not any("keras-compat" in line for line in result.stdout.lines if not line.startswith("plugins:"))
    assert not (session.path / ".keras-compat").exists()


TESTS = f'''
import pytest

PAIRINGS = {PAIRINGS!r}


@pytest.mark.keras_compat(pairings=PAIRINGS)
def test_old_saves_load_in_the_new(keras_compat):
    result = keras_compat.check_model("mymodel.py:build")
    assert result.loads(PAIRINGS[1], saved_with=PAIRINGS[0], fmt="keras")
    assert result.loads("keras-1.0_tensorflow-1.0", fmt="legacy_h5")  # a label, loading its own save
    assert all(result.loads(PAIRINGS[0], saved_with=PAIRINGS[1], fmt="weights_h5") for _ in range(2))
    assert len(result.cells) == 16 and len(result.failures()) == 3 and result.report.is_file()


@pytest.mark.keras_compat(pairings=PAIRINGS)
def test_new_keras_files_load_in_the_old(keras_compat):
    result = keras_compat.check_model("mymodel.py:build")
    assert result.loads(PAIRINGS[0], saved_with=PAIRINGS[1], fmt="keras")
'''


def test_the_marker_and_the_fixture(session: pytest.Pytester) -> None:
    session.makepyfile(test_compat=TESTS)
    result = run(session, "-rA")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    print(out)
    # the assertion's message names the direction asked about and its cause
    asked = f"<keras-compat: .keras saved with {NEW} → loaded with {OLD}: error: {CAUSE}>"
    assert any(line.startswith("E ") and asked in line for line in result.stdout.lines), out
    # under it, every failing direction of the run
    assert "- keras-compat -" in out and f"legacy .h5 saved with {NEW} → loaded with {OLD}: error: {CAUSE}" in out
    # one run for both tests, named in the terminal summary
    assert out.count("mymodel.py:build: 16 cells (13 passed, 3 error)") == 1
    [folder] = list((session.path / ".keras-compat" / "runs").iterdir())
    assert f"  report: {folder / 'index.html'}" in result.stdout.lines


def test_keras_compat_model_needs_no_test_file(session: pytest.Pytester) -> None:
    result = run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS, "-v")
    out = result.stdout.str()
    print(out)
    result.assert_outcomes(passed=1, failed=3)
    assert "mymodel.py:build::weights_h5 PASSED" in out
    result.stdout.fnmatch_lines([
        "*_ keras-compat mymodel.py:build [[].keras[]] _*",
        ".keras: 1 of 4 directions failed:",
        f".keras saved with {NEW} → loaded with {OLD}: error: {CAUSE}",
        "report: */index.html",
    ])
    assert "FAILED mymodel.py:build::saved_model" in out


def test_keras_compat_expect_fails_only_what_changed(session: pytest.Pytester) -> None:
    first = run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS)
    first.assert_outcomes(passed=1, failed=3)
    [folder] = list((session.path / ".keras-compat" / "runs").iterdir())
    import subprocess

    written = subprocess.run([sys.executable, "-m", "harness", "matrix", "--resume", str(folder), "--write-expect",
                              str(session.path / "expect.toml")], capture_output=True, text=True, timeout=600, check=False)
    assert written.returncode == 0, written.stdout + written.stderr
    held = run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS, "--keras-compat-expect=expect.toml")
    held.assert_outcomes(passed=4)
    assert "expectations hold" in held.stdout.str()
    (session.path / "mymodel.py").write_text(model_source("gelu"))
    changed = run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS, "--keras-compat-expect=expect.toml")
    print(changed.stdout.str())
    changed.assert_outcomes(failed=4)
    changed.stdout.fnmatch_lines([
        f"*.weights.h5: 3 cells differ from {session.path / 'expect.toml'}:",
        "changed: mymodel_formats[weights_h5] keras-3.0_tensorflow-3.0 -> keras-1.0_tensorflow-1.0: passed -> error (ValueError) "
        "(load raised ValueError: Unknown activation function: 'gelu')",
    ])


def test_a_rerun_of_an_unchanged_model_reuses_every_cell(session: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE", "on")
    monkeypatch.setenv("HARNESS_ENVS_DIR", str(tmp_path / "envs"))  # a cache of its own
    run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS).assert_outcomes(passed=1, failed=3)
    again = run(session, "--keras-compat-model=mymodel.py:build", *PAIRING_ARGS)
    again.assert_outcomes(passed=1, failed=3)
    assert "mymodel.py:build: 16 cells (13 passed, 3 error, 16 reused from the cell cache)" in again.stdout.str()
