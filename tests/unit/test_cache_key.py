"""The cell cache's key: every ingredient, changed alone, names another entry."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import BadInput
from harness.evidence.cache import CellIngredients, environment_of, parse_size

BASE = CellIngredients(
    kind="load", scenario="s", scenario_sha256="a" * 64, backend="tensorflow", python="3.11.7",
    packages=(("keras", "3.5.0"), ("tensorflow", "2.16.1")), rtol=1e-5, atol=1e-5, signature="ValueError",
    timeout=300.0, isolation="fork", max_output=64 * 2**20, protocol="p" * 64, artifact="f" * 64, env="e1",
    environment=(("KERAS_HOME", "/a"),),
)
CHANGED = {
    "kind": "run", "scenario": "t", "scenario_sha256": "b" * 64, "backend": "jax", "python": "3.12.1",
    "packages": (("keras", "3.6.0"), ("tensorflow", "2.16.1")), "rtol": 1e-4, "atol": 1e-3, "signature": None,
    "timeout": 60.0, "isolation": "spawn", "max_output": 2**20, "protocol": "q" * 64, "artifact": "e" * 64,
    "env": "e2", "environment": (("KERAS_HOME", "/b"),),
}


def test_every_field_is_an_ingredient() -> None:
    assert set(CHANGED) == {f.name for f in dataclasses.fields(CellIngredients)}


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_each_ingredient_changed_alone_changes_the_key(name: str) -> None:
    assert dataclasses.replace(BASE, **{name: CHANGED[name]}).digest() != BASE.digest()


def test_the_key_is_stable() -> None:
    assert dataclasses.replace(BASE).digest() == BASE.digest()


@pytest.mark.parametrize("text,size", [("500M", 500 * 2**20), ("8G", 8 * 2**30), ("1234", 1234), ("2GiB", 2 * 2**30), ("", 0)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "-1G", "nan", "0"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(BadInput):
        parse_size(text)


def test_the_environment_that_matters() -> None:
    environ = {"KERAS_BACKEND": "jax", "TF_USE_LEGACY_KERAS": "1", "MY_VAR": "x", "HOME": "/root", "PATH": "/bin"}
    assert environment_of((), environ) == (("KERAS_BACKEND", "jax"), ("TF_USE_LEGACY_KERAS", "1"))
    assert environment_of(("MY_VAR", "UNSET"), environ) == (("KERAS_BACKEND", "jax"), ("MY_VAR", "x"), ("TF_USE_LEGACY_KERAS", "1"))
