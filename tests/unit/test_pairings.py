"""Pairing specs: parsing, validation, derived ids (pure tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing, pinned_pairing, resolved_pairing
from support import build_wheel


@pytest.mark.parametrize(
    "text, requirements, backend, python, pinned, label",
    [
        ("keras==3.5.0,tensorflow==2.16.1", ("keras==3.5.0", "tensorflow==2.16.1"), "tensorflow", None, True,
         "keras-3.5.0_tensorflow-2.16.1"),
        ("keras,tensorflow", ("keras", "tensorflow"), "tensorflow", None, False, "keras-latest_tensorflow-latest"),
        ("keras>=3.5,<3.6, tensorflow==2.16.1", ("keras<3.6,>=3.5", "tensorflow==2.16.1"), "tensorflow", None, False,
         "keras-ge3.5-lt3.6_tensorflow-2.16.1"),
        ("keras==3.5.0,jax[cpu]==0.4.31,backend=jax", ("keras==3.5.0", "jax[cpu]==0.4.31"), "jax", None, True,
         "keras-3.5.0_jax-0.4.31_backend-jax"),
        ("keras==3.5.0,backend=numpy,python=3.10", ("keras==3.5.0",), "numpy", "3.10", True,
         "keras-3.5.0_backend-numpy_py3.10"),
        ("keras==3.*", ("keras==3.*",), "tensorflow", None, False, "keras-3.*"),
    ],
)
def test_parse(text: str, requirements: tuple, backend: str, python: str | None, pinned: bool, label: str) -> None:
    spec = parse_pairing(text)
    assert spec.requirements == requirements
    assert spec.backend == backend and spec.python == python
    assert spec.is_pinned is pinned
    assert spec.label == label.replace("*", "")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("keras==3.5.0,,tensorflow", "empty item"),
        ("keras===", "not a requirement"),
        ("keras==3.5.0,backend=cntk", "backend 'cntk'"),
        ("keras==3.5.0,python=two", "python 'two'"),
        ("keras==3.5.0,keras==3.6.0", "more than once"),
        ("keras; python_version>'3'", "marker"),
        ("backend=jax", "names no package"),
        ("./missing/keras-3.0.0-py3-none-any.whl", "does not exist"),
        ("not-a-wheel.whl", "not a valid wheel"),
    ],
)
def test_bad_specs_are_bad_input(text: str, fragment: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_pairing(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_ids_come_from_concrete_versions() -> None:
    pinned = pinned_pairing(parse_pairing("keras==3.5.0,tensorflow==2.16.1"))
    assert pinned.id == "keras-3.5.0+tensorflow-2.16.1"
    assert pinned.pins == ("keras==3.5.0", "tensorflow==2.16.1")
    latest = resolved_pairing(parse_pairing("keras,tensorflow"), {"keras": "3.15.1", "tensorflow": "2.21.0"})
    assert latest.id == "keras-3.15.1+tensorflow-2.21.0"
    assert latest.pins == ("keras==3.15.1", "tensorflow==2.21.0")
    jax = pinned_pairing(parse_pairing("keras==3.5.0,jax[cpu]==0.4.31,backend=jax"))
    assert jax.id == "keras-3.5.0+jax-0.4.31+backend-jax"


def test_wheel_paths(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, "keras", "3.16.0")
    spec = parse_pairing(f"{wheel},tensorflow==2.21.0")
    assert spec.wheels == (str(wheel),) and spec.is_pinned
    pairing = pinned_pairing(spec)
    assert pairing.id == "keras-3.16.0-wheel+tensorflow-2.21.0"
    assert pairing.versions == {"keras": "3.16.0", "tensorflow": "2.21.0"}


def test_defaults_are_the_three_documented_pairings() -> None:
    specs = [parse_pairing(t) for t in DEFAULT_PAIRINGS]
    assert [s.text for s in specs] == ["keras==3.5.0,tensorflow==2.16.1", "keras==3.6.0,tensorflow==2.16.1", "keras,tensorflow"]
    assert [s.is_pinned for s in specs] == [True, True, False]
