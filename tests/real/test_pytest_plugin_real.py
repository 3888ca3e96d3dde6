"""The pytest plugin, for real: a user's test of a tiny model on two real Keras/TensorFlow
pairings, run with pytester; the failing direction's message, as pytest printed it, is kept in
test-artifacts/pytest-plugin-real.txt."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from support import ROOT

pytestmark = pytest.mark.real
pytest_plugins = ["pytester"]

OLD, NEW = "keras==3.5.0,tensorflow==2.16.1", "keras==3.15.1,tensorflow==2.21.0"

MODEL = '''import keras


def build():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
'''

TESTS = f'''import pytest

OLD, NEW = {OLD!r}, {NEW!r}


@pytest.mark.keras_compat(pairings=[OLD, NEW])
def test_weights_and_old_files_load_everywhere(keras_compat):
    result = keras_compat.check_model("mymodel.py:build")
    for saver in (OLD, NEW):
        for loader in (OLD, NEW):
            assert result.loads(loader, saved_with=saver, fmt="weights_h5")
    assert result.loads(NEW, saved_with=OLD, fmt="keras")


@pytest.mark.keras_compat(pairings=[OLD, NEW])
def test_new_keras_files_load_in_the_old_release(keras_compat):
    result = keras_compat.check_model("mymodel.py:build")
    assert result.loads(OLD, saved_with=NEW, fmt="keras")
'''


def test_the_plugin_on_two_real_pairings(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(mymodel=MODEL, test_compat=TESTS)
    group = importlib.metadata.entry_points()
    found = group.select(group="pytest11") if hasattr(group, "select") else group.get("pytest11", [])  # type: ignore[attr-defined]
    plugin = [] if any(ep.name == "keras_compat" for ep in found) else ["-p", "harness.pytest_plugin"]
    result = pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", timeout=3600)
    out = result.stdout.str()
    Path(ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "pytest-plugin-real.txt").write_text(out)
    result.assert_outcomes(passed=1, failed=1)
    assert ("<keras-compat: .keras saved with keras-3.15.1+tensorflow-2.21.0 → loaded with keras-3.5.0+tensorflow-2.16.1: "
            "error: ValueError: Unrecognized keyword arguments passed to Dense: {'quantization_config': None}>") in out, out
    assert "mymodel.py:build: 16 cells" in out and "report: " in out
