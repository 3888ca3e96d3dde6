"""Where things are: the checkout or the installed package's own files, the per-user cache, and the
one rule for new output folders.

Two situations: run from this checkout (``noxfile.py`` and ``scenarios/`` beside the package),
everything stays in the checkout as it always did; installed as a tool (a wheel), the scenario
library and the templates come from the package itself, envs go to a per-user cache and run
folders to ``reports/runs/`` under the current folder (or the config file's). Every module that
needs a location asks here; nothing else computes it from ``__file__``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.errors import BadInput

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent
#: Run from a checkout of this repository (an editable install counts), not from an installed wheel.
IN_CHECKOUT = (REPO_ROOT / "noxfile.py").is_file() and (REPO_ROOT / "scenarios").is_dir()
SCENARIOS = REPO_ROOT / "scenarios" if IN_CHECKOUT else PACKAGE / "library"
TEMPLATES = REPO_ROOT / "reports" / "templates" if IN_CHECKOUT else PACKAGE / "templates"
WORKER_SCRIPT = PACKAGE / "run" / "worker.py"


def runs_dir(base: Path | None = None) -> Path:
    """Where run folders go by default: ``reports/runs/`` in the checkout, else under ``base`` (the
    config file's folder) or the current folder."""
    if IN_CHECKOUT and base is None:
        return REPO_ROOT / "reports" / "runs"
    return (base or Path.cwd()).absolute() / "reports" / "runs"


def default_envs_dir() -> Path:
    """``$HARNESS_ENVS_DIR``; else ``.harness/envs`` in the checkout, or the per-user cache
    (``$XDG_CACHE_HOME/keras-compat/envs``, by default ``~/.cache/keras-compat/envs``)."""
    configured = os.environ.get("HARNESS_ENVS_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    if IN_CHECKOUT:
        return REPO_ROOT / ".harness" / "envs"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser().resolve() / "keras-compat" / "envs"


def new_output_folder(prefix: str = "", base: Path | None = None) -> Path:
    """A folder under :func:`runs_dir` named ``<prefix><UTC time>`` that does not exist yet
    (``-2``, ``-3``, … appended when another run took that name in the same second)."""
    root = runs_dir(base)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = root / f"{prefix}{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{prefix}{stamp}-{suffix}"
    return candidate


def check_output_folder(folder: Path) -> None:
    """Refuse (:class:`BadInput`) an output folder that is not a new or empty real folder."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise BadInput(f"The output folder {str(folder)!r} is not a folder.")
    if folder.exists() and any(folder.iterdir()):
        raise BadInput(f"The output folder {str(folder)!r} is not empty; choose another --out.")


def shown_path(path: Path) -> str:
    """A path as reports print it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
