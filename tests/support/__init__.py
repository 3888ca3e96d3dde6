"""Helpers for the tests: tiny wheels built in the test, a local package folder for uv, fake
scenario folders, and a way to run the harness as a real subprocess."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent

FAKE = "harness-fake"  # the name of the fake distribution most tests install


def build_wheel(folder: Path, name: str, version: str, modules: dict[str, str] | None = None,
                requires: list[str] | None = None) -> Path:
    """Write a minimal pure-Python wheel into ``folder`` and return its path.

    ``modules`` maps file paths inside the wheel (``pkg/__init__.py``) to their source.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    if modules is None:
        modules = {f"{dist}/__init__.py": f"__version__ = {version!r}\n"}
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    for requirement in requires or []:
        metadata += f"Requires-Dist: {requirement}\n"
    files = dict(modules)
    files[f"{info}/METADATA"] = metadata
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: harness-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/top_level.txt"] = "\n".join(sorted({p.split("/")[0].removesuffix(".py") for p in modules})) + "\n"
    record_lines = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record_lines) + "\n"
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def write_scenario(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body).lstrip())
    return path


@dataclass
class Harness:
    """Runs ``python -m harness`` as a subprocess with a local package folder for uv."""

    env: dict[str, str]
    tmp: Path

    def run(self, *args: str, timeout: float = 600, check_code: int | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )
        if check_code is not None and proc.returncode != check_code:
            raise AssertionError(
                f"exit {proc.returncode} (wanted {check_code})\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}"
            )
        return proc

    def results(self, out: Path) -> dict:
        return json.loads((out / "results.json").read_text())


def local_index_env(wheelhouse: Path, envs: Path, cache: str = "off") -> dict[str, str]:
    """The environment of a harness run against a local wheel folder only. The cell cache is off
    (every run measures again) unless ``cache`` is ``on``: tests of the cache ask for it."""
    env = dict(os.environ)
    env.update(UV_FIND_LINKS=str(wheelhouse), UV_NO_INDEX="1", HARNESS_ENVS_DIR=str(envs), PYTHONPATH=str(ROOT),
               HARNESS_CACHE=cache)
    env.pop("HARNESS_ERROR_FILE", None)
    return env


def keras3_weights(path: Path | Any, layout: dict[str, list[tuple[int, ...]]], names: dict[str, str] | None = None) -> None:
    """An HDF5 file in the Keras 3 weights layout: ``layout`` maps group paths to array shapes."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        for group, shapes in layout.items():
            created = handle.require_group(group)
            if names and group in names:
                created.attrs["name"] = names[group]
            for index, shape in enumerate(shapes):
                created.create_dataset(str(index), data=np.full(shape, index, dtype="float32"))


def keras_zip(path: Path, metadata: dict[str, Any]) -> Path:
    """A file shaped like a ``.keras`` zip (``metadata.json``, ``config.json``, ``model.weights.h5``)
    with the given metadata, for what is read from it on the host."""
    import io

    inner = io.BytesIO()
    keras3_weights(inner, {"layers/dense/vars": [(3, 2), (2,)]})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps({"class_name": "Functional"}))
        archive.writestr("model.weights.h5", inner.getvalue())
    return path

GRU_FILE = {
    "layers/dense/vars": [(5, 2), (2,)],
    "layers/gru/cell/vars": [(3, 15), (5, 15), (2, 15)],
    "layers/gru_1/cell/vars": [(5, 15), (5, 15), (2, 15)],
}
