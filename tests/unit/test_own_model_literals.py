"""A user's values (paths, names, the function's name, a saved file's metadata, a signature) reach
the generated scenario modules only as literals: hostile ones parse, run no code, and read back
unchanged."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.commands import own
from harness.plan.models import HELPER, ModelFile, file_scenarios, model_scenarios, writer_version
from harness.plan.scenarios import read_scenario
from support import keras_zip

MARKER = "PLANTED"
PLANT = f"__import__('pathlib').Path({MARKER!r}).touch()"

#: Values that broke out of a docstring or a literal, or did not parse, when pasted into source.
HOSTILE = {
    "triple_double": f'3.5.0"""\n{PLANT}\nx = """',
    "triple_single": f"3.5.0'''\n{PLANT}\nx = '''",
    "backslashes": "my\\x_model\\N{\\u12 \\",
    "quotes": "it's \"quoted\" ''' and \"\"\"",
    "unicode": "mödel ☃ \u202e\u200b 模型",
    "very_long": "a" * 180 + f'"""\n{PLANT}\n"""',
    "surrogate": "bytes\udcff\udcfe",
}

#: Every name the generated modules import from their helper, as a stub that does nothing.
STUB_HELPER = "def _nothing(*args, **kwargs):\n    return None\n\n" + "".join(
    f"{name} = _nothing\n" for name in ("export_saved_model", "given_inputs", "keep_inputs", "kept_inputs", "load_format",
                                        "open_saved", "outputs", "save_format", "serve_saved_model"))


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import generated sources (their helper replaced by a stub) with the current folder in
    ``tmp_path``, and check afterwards that no planted code ran."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / f"{HELPER}.py").write_text(STUB_HELPER)
    monkeypatch.syspath_prepend(str(folder))
    names: list[str] = []

    def load(sources: dict[str, str]) -> dict[str, Any]:
        modules = {}
        for file_name, text in sources.items():
            if file_name == f"{HELPER}.py":
                continue
            ast.parse(text)  # parses, whatever the values
            path = folder / file_name
            path.write_text(text, encoding="utf-8")
            name = f"generated_{len(names)}_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            names.append(name)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            modules[path.stem] = module
        return modules

    sys.modules.pop(HELPER, None)
    yield load
    for name in [*names, HELPER]:
        sys.modules.pop(name, None)
    assert not list(tmp_path.rglob(MARKER)), "planted code ran"


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_values_of_a_file_scenario_are_literals(key: str, tmp_path: Path, imported: Any) -> None:
    value = HOSTILE[key]
    saved = tmp_path / "in" / f"{value}.keras"
    model = ModelFile(tmp_path / f"{value}.py", value)
    inputs, reference = tmp_path / f"{value}.npy", tmp_path / f"{value}-y.npy"
    for given_reference in (None, reference):
        modules = imported(file_scenarios(saved, value, model, inputs, given_reference, None, value))
        [module] = modules.values()
        assert (module.FILE, module.MODEL, module.INPUTS, module.SIGNATURE) == (str(saved), str(model.path), str(inputs), value)
        if given_reference is not None:
            assert module.REFERENCE == str(reference)
        assert saved.name in module.__doc__ and "unknown writer" in module.__doc__
        assert not hasattr(module, "SAVE_REQUIRES")


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_values_of_a_model_scenario_are_literals(key: str, tmp_path: Path, imported: Any) -> None:
    value = HOSTILE[key]
    model = ModelFile(tmp_path / "deep" / f"{value}.py", value)
    modules = imported(model_scenarios(model))
    assert len(modules) == 2
    for module in modules.values():
        assert (module.MODEL, module.FUNCTION) == (str(model.path), value)
        assert str(model.path) in module.__doc__


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_generated_modules_keep_the_scenario_contract(key: str, tmp_path: Path) -> None:
    value = HOSTILE[key]
    model = ModelFile(tmp_path / f"{value}.py", "build")
    sources = {**model_scenarios(model), **file_scenarios(tmp_path / f"{value}.keras", value, model, None, None, None)}
    for file_name, text in sources.items():
        (tmp_path / file_name).write_text(text, encoding="utf-8")
        if file_name != f"{HELPER}.py":
            scenario = read_scenario(tmp_path / file_name)
            assert scenario.title and "\n" not in scenario.title
            assert len(file_name.encode()) <= 100


def test_a_writer_version_is_kept_only_when_it_is_a_version(tmp_path: Path) -> None:
    saved = tmp_path / "model.keras"
    [text] = [t for n, t in file_scenarios(saved, "3.5.0", None, None, None, "3.5.0").items() if n != f"{HELPER}.py"]
    module = ast.parse(text)
    assert "written by keras 3.5.0" in (ast.get_docstring(module) or "")
    assert 'SAVE_REQUIRES = {"keras": "==3.5.0"}' in text or "SAVE_REQUIRES = {'keras': '==3.5.0'}" in text
    assert writer_version("3.15.1") == "3.15.1" and writer_version("3.16.0.dev2026102704") == "3.16.0.dev2026102704"
    for bad in (None, "", "three", HOSTILE["triple_double"], "3.5.0\n", "3.5.0 "):
        assert writer_version(bad) is None


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_hostile_metadata_of_a_saved_file_is_never_code(key: str, tmp_path: Path, imported: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    value = HOSTILE[key]
    saved = keras_zip(tmp_path / "model.keras", {"keras_version": value, "backend": value, "date_saved": value})
    args = argparse.Namespace(model=None, file=saved, inputs=None, reference=None, signature=None, pairings=[])
    modules = imported(own.generated_scenarios(args))
    [module] = modules.values()
    assert "unknown writer" in module.__doc__ and value not in module.__doc__ and module.FILE == str(saved)
    printed = capsys.readouterr().out
    assert len(printed.splitlines()) == 2 and printed.startswith("inputs: made from") and value not in printed


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_a_hostile_file_name_is_never_code(key: str, tmp_path: Path, imported: Any, capsys: pytest.CaptureFixture[str]) -> None:
    name = HOSTILE[key].replace("/", "_") + ".keras"
    try:
        saved = keras_zip(tmp_path / name, {"keras_version": "3.5.0"})
    except (UnicodeEncodeError, OSError):
        pytest.skip("this filesystem cannot hold that name")
    args = argparse.Namespace(model=None, file=saved, inputs=None, reference=None, signature=None, pairings=["keras==3.5.0"])
    modules = imported(own.generated_scenarios(args))  # a pinned pairing: nothing to resolve
    [module] = modules.values()
    assert module.FILE == str(saved) and module.SAVE_REQUIRES == {"keras": "==3.5.0"}
    assert "written by keras 3.5.0" in module.__doc__
    assert "written by keras 3.5.0" in capsys.readouterr().out
