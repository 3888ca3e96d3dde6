"""The scenario contract, read without importing scenarios, and the REQUIRES logic."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput, ContractError
from harness.plan.models import ModelFile, file_scenarios, model_scenarios
from harness.plan.scenarios import discover_scenarios, read_scenario, select_scenarios, unmet_requirement
from support import ROOT, write_scenario

GOOD = '''
    """Title line

    What the user did.
    """
    import keras_is_not_imported_on_the_host
    SIGNATURE = r"ValueError: .*expected \\d+ variables"
    LINKS = ["https://github.com/keras-team/keras/issues/20407"]
    REQUIRES = {"keras": ">=3.6"}
    TAGS = ("rnn", "cell")
    RTOL = 1e-4
    def run(workdir):
        pass
'''


def test_a_good_scenario_is_read_without_importing_it(tmp_path: Path) -> None:
    scenario = read_scenario(write_scenario(tmp_path, "good_one", GOOD))
    assert scenario.id == "good_one" and scenario.title == "Title line"
    assert scenario.description == "What the user did."
    assert scenario.kind == "run" and scenario.signature == r"ValueError: .*expected \d+ variables"
    assert scenario.links == ("https://github.com/keras-team/keras/issues/20407",)
    assert scenario.requires == {"keras": ">=3.6"} and scenario.tags == ("rnn", "cell")
    assert scenario.rtol == 1e-4 and scenario.atol == 1e-5
    assert len(scenario.sha256) == 64


def test_cross_scenarios_and_helpers(tmp_path: Path) -> None:
    write_scenario(tmp_path, "_helper", "X = 1\n")
    write_scenario(tmp_path, "cross_one", '''
        """Cross"""
        from _helper import X
        def save(workdir): return {"a": X}
        def load(workdir): return {"a": X}
    ''')
    [scenario] = discover_scenarios([tmp_path])
    assert scenario.kind == "cross"
    before = scenario.sha256
    write_scenario(tmp_path, "_helper", "X = 2\n")
    [after] = discover_scenarios([tmp_path])
    assert after.sha256 != before  # the helper it imports is part of its identity


@pytest.mark.parametrize(
    "body, rule",
    [
        ("def run(workdir): pass\n", "needs a module docstring"),
        ('"""T"""\nSIGNATURE = 3\ndef run(workdir): pass\n', "SIGNATURE must be a non-empty string"),
        ('"""T"""\nSIGNATURE = "(unclosed"\ndef run(workdir): pass\n', "not a valid regular expression"),
        ('"""T"""\nSIGNATURE = "a" + str(1)\ndef run(workdir): pass\n', "must be a literal"),
        ('"""T"""\nLINKS = ["javascript:alert(1)"]\ndef run(workdir): pass\n', "not an http(s) URL"),
        ('"""T"""\nLINKS = "https://x"\ndef run(workdir): pass\n', "LINKS must be a list"),
        ('"""T"""\nREQUIRES = {"keras": "at least 3"}\ndef run(workdir): pass\n', "PEP 440"),
        ('"""T"""\nREQUIRES = ["keras"]\ndef run(workdir): pass\n', "REQUIRES must be a mapping"),
        ('"""T"""\nTAGS = "rnn"\ndef run(workdir): pass\n', "TAGS must be a tuple"),
        ('"""T"""\nSAVE_REQUIRES = {"keras": "<3"}\ndef run(workdir): pass\n', "SAVE_REQUIRES is for cross-version"),
        ('"""T"""\nSAVE_REQUIRES = {"keras": "old"}\ndef save(w): pass\ndef load(w): pass\n', "SAVE_REQUIRES entry"),
        ('"""T"""\nLOAD_WRITES = True\ndef run(workdir): pass\n', "LOAD_WRITES is for cross-version"),
        ('"""T"""\nLOAD_WRITES = 1\ndef save(w): pass\ndef load(w): pass\n', "LOAD_WRITES must be True or False"),
        ('"""T"""\nTAGS = ("Has Space",)\ndef run(workdir): pass\n', "TAGS entry"),
        ('"""T"""\nRTOL = -1\ndef run(workdir): pass\n', "RTOL must be a finite non-negative number"),
        ('"""T"""\n', "defines neither run"),
        ('"""T"""\ndef save(workdir): pass\n', "load is missing"),
        ('"""T"""\ndef run(workdir): pass\ndef save(w): pass\ndef load(w): pass\n', "not both"),
        ('"""T"""\ndef run(): pass\n', "exactly one argument"),
        ('"""T"""\ndef run(a, b): pass\n', "exactly one argument"),
        ('"""T"""\ndef run(workdir):\n  return (\n', "does not parse"),
        ('"""T"""\nFORMATS = ("keras",)\ndef run(workdir): pass\n', "FORMATS is for cross-version scenarios"),
        ('"""T"""\nFORMATS = ["keras"]\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS must be a non-empty tuple"),
        ('"""T"""\nFORMATS = "keras"\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS must be a non-empty tuple"),
        ('"""T"""\nFORMATS = ()\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS must be a non-empty tuple"),
        ('"""T"""\nFORMATS = ("keras", "keras")\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS names 'keras' twice"),
        ('"""T"""\nFORMATS = ("Keras",)\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS entry 'Keras'"),
        ('"""T"""\nFORMATS = ("a]b",)\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS entry 'a]b'"),
        ('"""T"""\nFORMATS = (1,)\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS entry 1"),
        ('"""T"""\nFORMATS = tuple("ab")\ndef save(w, f): pass\ndef load(w, f): pass\n', "FORMATS must be a literal"),
        ('"""T"""\nFORMATS = ("keras",)\ndef save(w): pass\ndef load(w, f): pass\n', "save() must take two arguments"),
        ('"""T"""\nFORMATS = ("keras",)\ndef save(w, f): pass\ndef load(w, f, g): pass\n', "load() must take two arguments"),
        ('"""T"""\ndef save(w, f): pass\ndef load(w): pass\n', "save() must take exactly one argument"),
    ],
)
def test_contract_breaks_name_the_file_and_the_rule(tmp_path: Path, body: str, rule: str) -> None:
    path = tmp_path / "broken.py"
    path.write_text(body)
    with pytest.raises(ContractError) as info:
        read_scenario(path)
    assert str(path) in str(info.value) and rule in str(info.value)


def test_formats_make_one_scenario_per_format(tmp_path: Path) -> None:
    write_scenario(tmp_path, "model", '''
        """One model

        In two formats.
        """
        FORMATS = ("keras", "weights_h5")
        TAGS = ("formats",)
        def save(workdir, fmt): pass
        def load(workdir, fmt): pass
    ''')
    write_scenario(tmp_path, "other", '"""T"""\ndef save(w): pass\ndef load(w): pass\n')
    read = read_scenario(tmp_path / "model.py")
    assert (read.id, read.formats, read.format) == ("model", ("keras", "weights_h5"), None)
    scenarios = discover_scenarios([tmp_path])
    assert [(s.id, s.module, s.format) for s in scenarios] == [
        ("model[keras]", "model", "keras"), ("model[weights_h5]", "model", "weights_h5"), ("other", "other", None)]
    assert [s.title for s in scenarios[:2]] == ["One model [keras]", "One model [weights_h5]"]
    assert len({s.sha256 for s in scenarios[:2]}) == 1 and all(s.kind == "cross" for s in scenarios)
    assert [s.id for s in select_scenarios(scenarios, only=["model"])] == ["model[keras]", "model[weights_h5]"]
    assert [s.id for s in select_scenarios(scenarios, only=["model[weights_h5]"])] == ["model[weights_h5]"]
    assert [s.id for s in select_scenarios(scenarios, tags=["formats"])] == ["model[keras]", "model[weights_h5]"]
    with pytest.raises(BadInput, match=r"Unknown scenario id 'model\[h5\]'"):
        select_scenarios(scenarios, only=["model[h5]"])


def test_a_model_of_your_own_is_one_scenario_with_formats(tmp_path: Path) -> None:
    for name, text in model_scenarios(ModelFile(tmp_path / "mymodel.py", "build")).items():
        (tmp_path / name).write_text(text)
    scenarios = discover_scenarios([tmp_path])
    assert [s.id for s in scenarios] == ["mymodel_formats[keras]", "mymodel_formats[legacy_h5]",
                                         "mymodel_formats[weights_h5]", "mymodel_saved_model"]
    assert all(s.kind == "cross" for s in scenarios) and scenarios[-1].backends == ("tensorflow",)


def test_an_unsafe_load_is_a_scenario_of_its_own(tmp_path: Path) -> None:
    model = ModelFile(tmp_path / "mymodel.py", "build")
    for name, text in model_scenarios(model, unsafe_load=True).items():
        (tmp_path / "model" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "model" / name).write_text(text)
    assert [s.id for s in discover_scenarios([tmp_path / "model"]) if s.module == "mymodel_formats"] == [
        "mymodel_formats[keras]", "mymodel_formats[keras_unsafe]", "mymodel_formats[legacy_h5]",
        "mymodel_formats[legacy_h5_unsafe]", "mymodel_formats[weights_h5]"]
    for suffix, weights_only, expected in ((".keras", False, {"file_m_keras": True, "file_m_keras_unsafe": False}),
                                           (".weights.h5", True, {"file_m_weights_h5": True})):
        folder = tmp_path / suffix.strip(".")
        folder.mkdir()
        sources = file_scenarios(tmp_path / f"m{suffix}", "3.5.0", model, None, None, "3.5.0", unsafe_load=True,
                                 weights_only=weights_only)
        for name, text in sources.items():
            (folder / name).write_text(text)
        found = {s.id: s for s in discover_scenarios([folder])}
        assert set(found) == set(expected)
        for scenario_id, safe in expected.items():
            assert f"SAFE_MODE = {safe}" in (folder / f"{scenario_id}.py").read_text()
            assert found[scenario_id].save_requires == {"keras": "==3.5.0"}


def test_discovery_skips_private_files_and_refuses_duplicates(tmp_path: Path) -> None:
    write_scenario(tmp_path / "a", "one", '"""T"""\ndef run(w): pass\n')
    write_scenario(tmp_path / "a", "_not_a_scenario", "this is not even python (")
    write_scenario(tmp_path / "b", "one", '"""T"""\ndef run(w): pass\n')
    assert [s.id for s in discover_scenarios([tmp_path / "a"])] == ["one"]
    with pytest.raises(BadInput, match="defined twice"):
        discover_scenarios([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(BadInput, match="does not exist"):
        discover_scenarios([tmp_path / "missing"])


def test_selection_by_id_and_tag(tmp_path: Path) -> None:
    write_scenario(tmp_path, "a", '"""T"""\nTAGS = ("rnn",)\ndef run(w): pass\n')
    write_scenario(tmp_path, "b", '"""T"""\nTAGS = ("cross",)\ndef run(w): pass\n')
    write_scenario(tmp_path, "c", '"""T"""\ndef run(w): pass\n')
    scenarios = discover_scenarios([tmp_path])
    assert [s.id for s in select_scenarios(scenarios, only=["c"])] == ["c"]
    assert [s.id for s in select_scenarios(scenarios, tags=["rnn"])] == ["a"]
    assert [s.id for s in select_scenarios(scenarios, only=["c"], tags=["cross"])] == ["b", "c"]
    with pytest.raises(BadInput, match="Unknown scenario id 'zz'; known ids: a, b, c"):
        select_scenarios(scenarios, only=["zz"])
    with pytest.raises(BadInput, match="Unknown tag 'gpu'"):
        select_scenarios(scenarios, tags=["gpu"])


@pytest.mark.parametrize(
    "requires, packages, modules, unmet",
    [
        ({"keras": ">=3.6"}, {"keras": "3.6.0"}, {}, None),
        ({"keras": ">=3.6"}, {"keras": "3.5.0"}, {}, "the env has keras 3.5.0"),
        ({"keras": ">=3.6"}, {}, {}, "keras is not installed"),
        # a nightly distribution counts as the package it provides
        ({"keras": ">=3.6"}, {"keras-nightly": "3.16.0.dev2026102704"}, {"keras": ["keras-nightly"]}, None),
        ({"tensorflow": "<2.17"}, {"tf-nightly": "2.23.0.dev20261027"}, {"tensorflow": ["tf-nightly"]},
         "tf-nightly 2.23.0.dev20261027 (judged as 2.23.0)"),
        # a pre-release is judged as its release would be
        ({"keras": "<3.16"}, {"keras": "3.16.0rc1"}, {}, "judged as 3.16.0"),
        ({"keras": ">=3.16"}, {"keras": "3.16.0rc1"}, {}, None),
        ({"keras": "==3.5.0"}, {"keras": "3.5.0.post1"}, {}, None),
        ({"keras": ">=3", "tensorflow": ">=2.16"}, {"keras": "3.5.0", "tensorflow": "2.15.1"}, {}, "tensorflow 2.15.1"),
    ],
)
def test_requires(requires: dict, packages: dict, modules: dict, unmet: str | None) -> None:
    reason = unmet_requirement(requires, packages, modules)
    if unmet is None:
        assert reason is None
    else:
        assert reason is not None and unmet in reason


def test_shipped_scenarios_follow_the_contract() -> None:
    scenarios = discover_scenarios([ROOT / "scenarios"])
    ids = {s.id for s in scenarios}
    assert {"gru_weights_into_grucell", "gru_get_set_weights_into_grucell", "gru_legacy_h5_into_grucell",
            "gru_cross_version[keras]", "gru_cross_version[weights_h5]", "formats_mixed_model[legacy_h5]"} <= ids
    for scenario in scenarios:
        assert scenario.links, scenario.id
        assert scenario.signature, scenario.id


def test_the_readme_lists_every_shipped_scenario() -> None:
    readme = (ROOT / "README.md").read_text()
    for scenario in discover_scenarios([ROOT / "scenarios"]):
        assert f"| `{scenario.id}` |" in readme, f"README.md's scenario table lacks {scenario.id}"


def test_load_writes_is_read_without_importing_and_defaults_to_false(tmp_path: Path) -> None:
    declared = write_scenario(tmp_path, "writes", '"""T"""\nLOAD_WRITES = True\ndef save(w): pass\ndef load(w): pass\n')
    plain = write_scenario(tmp_path, "reads", '"""T"""\ndef save(w): pass\ndef load(w): pass\n')
    assert read_scenario(declared).load_writes is True and read_scenario(plain).load_writes is False
