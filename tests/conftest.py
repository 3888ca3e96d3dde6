"""Fixtures shared by every kind of test: a local folder of fake wheels for uv, a shared envs
folder, and the harness command line run against them (helpers live in :mod:`support`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
#: Every harness run of the suite measures again and keeps nothing in a cell cache, unless a test
#: of the cache turns it on for its own runs (``local_index_env(..., cache="on")``).
os.environ["HARNESS_CACHE"] = "off"

from support import FAKE, Harness, build_wheel, local_index_env  # noqa: E402


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local folder of fake wheels: harness-fake 1.0, 2.0.dev1 (a pre-release) and 3.0."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    for version in ("1.0", "2.0.dev1", "3.0"):
        build_wheel(folder, FAKE, version)
    build_wheel(folder, "fakekeras-nightly", "3.16.0.dev2026102704",
                {"fakekeras/__init__.py": "__version__ = '3.16.0.dev2026102704'\n"})
    return folder


@pytest.fixture(scope="session")
def shared_envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("envs")


@pytest.fixture
def harness(wheelhouse: Path, shared_envs: Path, tmp_path: Path) -> Iterator[Harness]:
    """The harness CLI against the local wheelhouse only (no package index)."""
    yield Harness(env=local_index_env(wheelhouse, shared_envs), tmp=tmp_path)


@pytest.fixture(scope="session")
def framework_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local folder of stand-ins for keras and tensorflow (1.0 and 3.0), with numpy: enough for
    ``matrix --model`` (see :mod:`support.fakekeras`)."""
    from support.fakekeras import fake_framework_wheels

    return fake_framework_wheels(tmp_path_factory.mktemp("frameworks"))
