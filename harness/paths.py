"""Where things are: the checkout and the package's own files, and the one rule for new output folders.

Every module that needs a location of the harness itself asks here; nothing else computes it
from ``__file__``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.errors import BadInput

PACKAGE = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE.parent
SCENARIOS = REPO_ROOT / "scenarios"
TEMPLATES = REPO_ROOT / "reports" / "templates"
RUNS = REPO_ROOT / "reports" / "runs"
WORKER_SCRIPT = PACKAGE / "run" / "worker.py"


def default_envs_dir() -> Path:
    """``$HARNESS_ENVS_DIR``, else ``.harness/envs`` in the checkout."""
    configured = os.environ.get("HARNESS_ENVS_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return REPO_ROOT / ".harness" / "envs"


def new_output_folder(prefix: str = "") -> Path:
    """A folder under ``reports/runs/`` named ``<prefix><UTC time>`` that does not exist yet
    (``-2``, ``-3``, … appended when another run took that name in the same second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = RUNS / f"{prefix}{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = RUNS / f"{prefix}{stamp}-{suffix}"
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
