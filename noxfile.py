"""The front door. Sessions parse nothing themselves: they install the harness's few host
packages and call ``python -m harness``. The default pairings are declared once, in
``harness/plan/pairings.py``; each also gets a session of its own (``nox -l`` lists them).

    nox -s matrix                      every default pairing, every scenario
    nox -s matrix -- --pairing keras==3.15.1,tensorflow==2.21.0 --only gru_weights_into_grucell
    nox -s "matrix-keras-3.5.0_tensorflow-2.16.1"
    nox -s report -- reports/runs/<run>/results.json
    nox -s tests
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["matrix"]

HOST_PACKAGES = ["jinja2>=3.1", "packaging>=23", "h5py>=3.8", "numpy>=1.23", "uv>=0.4"]
#: junitparser and xmlschema read junit.xml as JUnit readers do (with tests/support/junit.xsd);
#: cmarkgfm is GitHub's own Markdown, for summary.md.
TEST_PACKAGES = ["pytest>=8", "playwright>=1.40", "nox>=2024.4.15", "pyyaml>=6", "ruff>=0.6", "mypy>=1.10",
                 "junitparser>=3.1", "xmlschema>=3.0", "cmarkgfm>=2024.1"]
CHROMIUM = "/usr/bin/chromium"


def _harness(session: nox.Session, *args: str) -> None:
    """Run the harness; on bad input, end the session with the harness's one-line message."""
    session.install(*HOST_PACKAGES)
    error_file = Path(session.create_tmp()) / "harness-error.txt"
    error_file.unlink(missing_ok=True)
    session.run(
        "python", "-m", "harness", *args,
        env={"HARNESS_ERROR_FILE": str(error_file)},
        success_codes=[0, 2],
    )  # exit 1 (bisect found nothing, readiness said no) fails the session as it should
    if error_file.exists():
        session.error(error_file.read_text().strip().rstrip("."))  # nox adds its own full stop


@nox.session
def matrix(session: nox.Session) -> None:
    """Every scenario on every pairing (the defaults, or those given with --pairing)."""
    _harness(session, "matrix", *session.posargs)


def _pairing_session(spec_text: str) -> None:
    label = parse_pairing(spec_text).label

    @nox.session(name=f"matrix-{label}")
    def one_pairing(session: nox.Session) -> None:
        _harness(session, "matrix", "--pairing", spec_text, *session.posargs)

    one_pairing.__doc__ = f"Every scenario on {spec_text} only."


for _spec in DEFAULT_PAIRINGS:
    _pairing_session(_spec)


@nox.session
def report(session: nox.Session) -> None:
    """Render index.html, summary.md and junit.xml again from stored results (no installs)."""
    _harness(session, "report", *session.posargs)


@nox.session
def bisect(session: nox.Session) -> None:
    """The first released version where a scenario's verdict changes (real installs per probe)."""
    _harness(session, "bisect", *session.posargs)


@nox.session
def readiness(session: nox.Session) -> None:
    """A candidate (nightly, pre-release, wheel) against a baseline; regressions fail the session."""
    _harness(session, "readiness", *session.posargs)


@nox.session
def inspect(session: nox.Session) -> None:
    """What is inside a saved model file; with --against, how it maps onto a model, and a remapped copy."""
    _harness(session, "inspect", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Print figures: env creation (cold, warm), matrix wall time against its floor, report rendering."""
    _harness(session, "bench", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (installs Debian's chromium for the browser tests when it is missing)."""
    _ensure_chromium(session)
    session.install(*HOST_PACKAGES, *TEST_PACKAGES)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the harness, the tests and this noxfile."""
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the harness."""
    session.install("mypy", *HOST_PACKAGES)
    session.run("mypy", "harness")


def _ensure_chromium(session: nox.Session) -> None:
    if Path(CHROMIUM).exists() or os.environ.get("HARNESS_SKIP_CHROMIUM_INSTALL"):
        return
    apt = shutil.which("apt-get")
    if apt is None:
        session.error(f"{CHROMIUM} is missing and apt-get is not available; install Chromium by hand")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    session.run(*sudo, apt, "update", "-qq", external=True)
    session.run(*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", "chromium", external=True,
                env={"DEBIAN_FRONTEND": "noninteractive"})
