"""Tested envs: resolve a pairing to concrete versions, create or reuse its env with uv, and
record what actually got installed.

An env lives in ``<envs_dir>/<key>/`` where the key is a hash of everything that decides its
content: the pins, the requested Python and the installer's index settings. An env is reused only
when its record (``harness-env.json``, written last) exists with the same key; otherwise it is
built again from nothing. Creating an env holds a file lock on its key, so parallel runs and
threads never build the same env twice at once.

Every uv command is classified when it fails (:func:`failure_kind`): uv saying the requirements
cannot be met is final; a failure of the network is tried again (:mod:`.retry`: at most 3 tries,
5 s then 10 s apart, each retry noted) and, when every try failed, raises
:class:`~harness.errors.InstallNetworkError`, whose last line says so; anything else is final.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from harness.envs.retry import Note, Transient, with_retries
from harness.errors import BadInput, InstallError, InstallNetworkError
from harness.paths import WORKER_SCRIPT
from harness.plan.pairings import Pairing, PairingSpec, pinned_pairing, resolved_pairing, unresolved_pairing

ENV_RECORD = "harness-env.json"
ENV_FORMAT = 2
INSTALL_TIMEOUT_S = 1800.0
_ERROR_TAIL_LINES = 40
#: The last line of an install that failed on the network at every try starts with this.
NETWORK_FAILED = "the network failed after"

#: uv's words when the requirements themselves cannot be met (no such version, no such package).
_RESOLUTION = (
    "no solution found when resolving",
    "not found in the package registry",
    "not found in the provided package locations",
    "requirements are unsatisfiable",
)
#: uv's words when the network failed: the same command may well succeed later.
_NETWORK = (
    "error sending request",
    "request failed after",
    "connection reset",
    "connection refused",
    "connection closed",
    "connection aborted",
    "broken pipe",
    "timed out",
    "timeout",
    "http status server error",
    "429 too many requests",
    "dns error",
    "failed to lookup address",
    "tcp connect error",
    "network is unreachable",
    "unexpected eof",
    "incomplete message",
    "request or response body error",
    "error decoding response body",
)
#: uv's labels in front of each line of an error ("error: ...", "cause: ...", "Caused by: ...").
_UV_LABEL = re.compile(r"^(error|cause|caused by)\s*:\s*", re.IGNORECASE)
#: the URL that uv repeats at the end of an HTTP status line.
_FOR_URL = re.compile(r"\s+for url \([^)]*\)$")
#: uv's exit status for a request it refuses (unsatisfiable requirements, a missing file); 2 is an error.
_UV_FAILURE_STATUS = 1

#: Installer settings that change what an env contains; they are part of the env key.
_UV_SETTINGS = (
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_PRERELEASE",
    "UV_EXCLUDE_NEWER",
    "UV_CONSTRAINT",
    "UV_OVERRIDE",
)


@dataclass(frozen=True)
class Env:
    """A ready env: where it is and what is in it.

    ``packages`` maps every installed distribution (canonical name) to its version; ``modules``
    maps each importable top-level module to the distributions providing it (so ``keras`` →
    ``["keras-nightly"]`` in a nightly env); ``clashes`` the top-level modules whose files two or
    more installed distributions install (see :func:`check_single_owners`).
    """

    key: str
    path: Path
    python_path: Path
    python: str
    packages: dict[str, str]
    modules: dict[str, list[str]]
    reused: bool
    clashes: dict[str, list[str]] = field(default_factory=dict)


#: Environment variables an env's cells run with because of a distribution it holds: with tf-keras
#: installed, ``TF_USE_LEGACY_KERAS=1`` makes ``tf.keras`` Keras 2 (tf-keras) on TensorFlow >= 2.16.
PACKAGE_VARIABLES: dict[str, dict[str, str]] = {"tf-keras": {"TF_USE_LEGACY_KERAS": "1"}}


def env_variables(env: Env) -> dict[str, str]:
    """The environment variables the cells of ``env`` run with, from :data:`PACKAGE_VARIABLES`."""
    found: dict[str, str] = {}
    for package, variables in PACKAGE_VARIABLES.items():
        if package in env.packages:
            found.update(variables)
    return found


def find_uv() -> str:
    """The uv executable; :class:`BadInput` when uv is not installed."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin
    except ImportError:
        raise BadInput("uv is not installed; install it with 'python -m pip install uv'.") from None
    return str(find_uv_bin())


def host_python_version() -> str:
    """The version of the Python running the harness, the default for envs."""
    return platform.python_version()


def env_python(spec: PairingSpec) -> str:
    """The Python version an env of ``spec`` runs: its ``python=``, else the host's."""
    return spec.python or host_python_version()


def resolve_pairing(spec: PairingSpec, exclude_newer: str | None = None, note: Note | None = None) -> Pairing:
    """Resolve a spec's unpinned requirements to the versions the installer would pick now.

    Pinned specs need no resolution. The requirements are resolved together with ``uv pip
    compile``, so "latest keras + latest tensorflow" gives a pair that installs together. A
    failure to resolve is not raised: it becomes the pairing's ``resolve_error`` (after the
    retries of a network failure, noted to ``note``).
    """
    try:
        return resolve_or_raise(spec, exclude_newer, note)
    except InstallError as exc:
        return unresolved_pairing(spec, str(exc))


def installed_versions(spec: PairingSpec, exclude_newer: str | None = None, note: Note | None = None) -> dict[str, str]:
    """Every distribution (canonical name) an env of ``spec`` would hold, with its version, as the
    installer resolves it now (``tensorflow==2.15.1`` brings ``keras`` 2.15.0); :class:`InstallError`
    when it cannot be resolved."""
    command = [find_uv(), "pip", "compile", "-", "--python-version", _minor(env_python(spec)), "--no-header", "--no-annotate",
               "--quiet"]
    if exclude_newer:
        command += ["--exclude-newer", exclude_newer]
    return _compiled_versions(_run_uv(command, note, "\n".join([*spec.requirements, *spec.wheels]) + "\n"))


def resolve_or_raise(spec: PairingSpec, exclude_newer: str | None = None, note: Note | None = None) -> Pairing:
    """:func:`resolve_pairing`, but a failure raises :class:`InstallError` (or
    :class:`InstallNetworkError` when the network failed at every try)."""
    if spec.is_pinned:
        return pinned_pairing(spec)
    command = [
        find_uv(),
        "pip",
        "compile",
        "-",
        "--python-version",
        _minor(env_python(spec)),
        "--no-header",
        "--no-annotate",
        "--quiet",
    ]
    if exclude_newer:
        command += ["--exclude-newer", exclude_newer]
    stdin = "\n".join([*spec.requirements, *spec.wheels]) + "\n"
    versions = _compiled_versions(_run_uv(command, note, stdin))
    wanted = [canonicalize_name(Requirement(r).name) for r in spec.requirements]
    missing = [n for n in wanted if n not in versions]
    if missing:
        raise InstallError(f"The resolver gave no version for {', '.join(missing)}.")
    return resolved_pairing(spec, versions)


def _compiled_versions(output: str) -> dict[str, str]:
    """The ``name==version`` pins of ``uv pip compile``'s output, by canonical name."""
    versions: dict[str, str] = {}
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        for specifier in req.specifier:
            if specifier.operator == "==":
                versions[canonicalize_name(req.name)] = specifier.version
    return versions


def env_key(pins: tuple[str, ...], python: str, exclude_newer: str | None = None) -> str:
    """The hash naming an env: pins (wheel files by content), Python and installer settings."""
    material = {
        "format": ENV_FORMAT,
        "pins": [_pin_identity(p) for p in pins],
        "python": python,
        "exclude_newer": exclude_newer,
        "uv": {name: os.environ.get(name) for name in _UV_SETTINGS if os.environ.get(name)},
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:20]


def ensure_env(
    pairing: Pairing, envs_dir: Path, exclude_newer: str | None = None, note: Note | None = None
) -> Env:
    """Return the env of ``pairing``, creating it with uv when no matching env exists.

    Raises :class:`InstallError` with the installer's message when the requirements cannot be
    installed (a partial env is removed), or when two of its distributions install one top-level
    module (:func:`check_single_owners`), :class:`InstallNetworkError` when the network failed
    at every try (each retry is noted to ``note``). Safe to call from several threads or processes.
    """
    if pairing.resolve_error is not None:
        raise InstallError(pairing.resolve_error)
    python = env_python(pairing.spec)
    key = env_key(pairing.pins, python, exclude_newer)
    envs_dir.mkdir(parents=True, exist_ok=True)
    path = envs_dir / key
    with open(envs_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            env = _read_record(path, key) or _create_env(path, key, pairing.pins, pairing.spec.python, exclude_newer, note)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    check_single_owners(env)
    return env


def check_single_owners(env: Env) -> None:
    """:class:`InstallError` when two installed distributions both install one top-level module
    (``keras`` from ``keras`` and ``keras-nightly``: a TensorFlow pre-release requires the
    nightly): only one of them can be imported, so the pairing would not test what it names."""
    if not env.clashes:
        return
    module, owners = next(iter(sorted(env.clashes.items())))
    versions = ", ".join(f"{name} {env.packages.get(name, '?')}" for name in owners)
    raise InstallError(
        f"two installed distributions both install the top-level module {module!r} ({versions}): one overwrote the "
        f"other, so this pairing does not test what it names; pin packages that agree on one of them: drop "
        f"{owners[0]} and keep what requires {owners[1]}, or pin versions that require {owners[0]} instead")


def describe_env(python_path: Path) -> dict[str, object]:
    """Ask an env's own interpreter what it is and holds (runs the worker's ``--describe``)."""
    proc = subprocess.run(
        [str(python_path), "-I", str(WORKER_SCRIPT), "--describe"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise InstallError(f"The env's Python could not describe itself: {_tail(proc.stderr)}")
    data = json.loads(proc.stdout)
    if not isinstance(data, dict):
        raise InstallError("The env's Python described itself with something other than an object.")
    return data


def _create_env(
    path: Path, key: str, pins: tuple[str, ...], python: str | None, exclude_newer: str | None, note: Note | None
) -> Env:
    started = time.monotonic()
    if path.exists():
        shutil.rmtree(path)
    uv = find_uv()
    interpreter = python or sys.executable
    try:
        _run_uv([uv, "venv", "--quiet", "--python", interpreter, str(path)], note)
        python_path = path / "bin" / "python"
        command = [uv, "pip", "install", "--quiet", "--python", str(python_path), *pins]
        if exclude_newer:
            command += ["--exclude-newer", exclude_newer]
        _run_uv(command, note)
        described = describe_env(python_path)
    except InstallError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    record = {
        "format": ENV_FORMAT,
        "key": key,
        "pins": list(pins),
        "python": described["python"],
        "packages": described["packages"],
        "modules": described["modules"],
        "clashes": described.get("clashes") or {},
        "install_s": round(time.monotonic() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = path / f"{ENV_RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, path / ENV_RECORD)
    return _env_from_record(path, record, reused=False)


def _read_record(path: Path, key: str) -> Env | None:
    try:
        record = json.loads((path / ENV_RECORD).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or record.get("format") != ENV_FORMAT:
        return None
    if not (path / "bin" / "python").exists():
        return None
    return _env_from_record(path, record, reused=True)


def _env_from_record(path: Path, record: dict, reused: bool) -> Env:
    return Env(
        key=str(record["key"]),
        path=path,
        python_path=path / "bin" / "python",
        python=str(record["python"]),
        packages={str(k): str(v) for k, v in dict(record["packages"]).items()},
        modules={str(k): [str(d) for d in v] for k, v in dict(record["modules"]).items()},
        reused=reused,
        clashes={str(k): [str(d) for d in v] for k, v in dict(record.get("clashes") or {}).items()},
    )


def failure_kind(returncode: int | None, message: str) -> str:
    """What a failed uv command says: ``"resolution"`` (the requirements cannot be met: no
    such version or package), ``"network"`` (the network failed: worth trying again) or
    ``"other"`` (anything else). ``returncode`` None: the command did not finish in time.

    uv's own words decide first; a network failure also needs an exit status other than uv's 1,
    which uv gives only to requests it refuses (a file the index does not have, say).
    """
    text = message.lower()
    if any(words in text for words in _RESOLUTION):
        return "resolution"
    if returncode is None:
        return "network"
    if returncode != _UV_FAILURE_STATUS and any(words in text for words in _NETWORK):
        return "network"
    return "other"


def network_failed(message: str) -> bool:
    """True when ``message`` (an install error, a cell's reason) says the network failed at every try."""
    lines = message.strip().splitlines()
    return bool(lines) and lines[-1].startswith(NETWORK_FAILED)


def _run_uv(command: list[str], note: Note | None = None, stdin: str | None = None) -> str:
    """Run uv and return its output; a failure raises :class:`InstallError` with uv's message,
    and a network failure is tried again (each retry noted) until it succeeds or every try failed
    (:class:`InstallNetworkError`)."""

    def attempt() -> str:
        try:
            proc = subprocess.run(
                command, input=stdin, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise Transient(f"the installer did not finish within {INSTALL_TIMEOUT_S:.0f} s") from None
        if proc.returncode == 0:
            return proc.stdout
        message = _tail(proc.stderr or proc.stdout) or f"uv exited with status {proc.returncode}."
        if failure_kind(proc.returncode, message) == "network":
            raise Transient(_network_cause(message), message)
        raise InstallError(message)

    try:
        return with_retries(attempt, note)
    except Transient as failure:
        detail = failure.detail if failure.detail != failure.reason else ""
        last = f"{NETWORK_FAILED} {failure.tries} {'try' if failure.tries == 1 else 'tries'}: {failure.reason}"
        raise InstallNetworkError("\n".join(filter(None, [detail, last]))) from None


def _network_cause(message: str) -> str:
    """One line out of uv's message: what failed (its first line) and the most specific line
    naming the network failure, without uv's ``error:`` / ``cause:`` labels, e.g. ``Failed to
    fetch: http://…/simple/keras/: Connection reset by peer (os error 104)``."""
    lines = [_unlabelled(line) for line in message.splitlines() if line.strip()]
    if not lines:
        return "no message"
    named = [line for line in lines if any(words in line.lower() for words in _NETWORK)] or lines
    head, cause = lines[0], named[-1]
    if "://" in head:
        cause = _FOR_URL.sub("", cause)
    return cause if cause in head or head in cause else f"{head}: {cause}"


def _unlabelled(line: str) -> str:
    return _UV_LABEL.sub("", line.strip())


def _pin_identity(pin: str) -> str:
    """Wheel files count by content, so a rebuilt wheel of the same name makes a new env."""
    if pin.endswith(".whl"):
        digest = hashlib.sha256(Path(pin).read_bytes()).hexdigest()[:16]
        return f"{Path(pin).name}#{digest}"
    return pin


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _tail(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_ERROR_TAIL_LINES:])
