"""Version pairings: the defaults, how a pairing is written, and the ids derived from it.

A pairing is written as comma-separated items, e.g. ``keras==3.5.0,tensorflow==2.16.1``:

- a requirement (PEP 508, extras allowed, no markers or URLs): ``keras==3.5.0``,
  ``jax[cpu]==0.4.31``; a bare name (``keras``) or a range (``keras>=3.5,<3.6``) is resolved to a
  concrete version when the run starts;
- a local wheel file: ``./dist/keras-3.16.0-py3-none-any.whl``;
- ``backend=NAME``: the ``KERAS_BACKEND`` the scenarios run with (default ``tensorflow``);
- ``python=X.Y``: the interpreter of the env (default: the Python running the harness).

This module parses and names; it never installs anything (see :mod:`harness.envs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from harness.errors import BadInput

#: The pairings a run uses when none is given. A bare name means "the latest release".
DEFAULT_PAIRINGS: tuple[str, ...] = (
    "keras==3.5.0,tensorflow==2.16.1",
    "keras==3.6.0,tensorflow==2.16.1",
    "keras,tensorflow",
)

BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch", "numpy", "openvino")
DEFAULT_BACKEND = "tensorflow"

_PYTHON_RE = re.compile(r"^3\.\d+(\.\d+)?$")
_SAFE_ID_RE = re.compile(r"[^A-Za-z0-9._+-]+")
_OPERATOR_WORDS = {"===": "eq", "==": "", "!=": "ne", "~=": "compat", ">=": "ge", "<=": "le", ">": "gt", "<": "lt"}


@dataclass(frozen=True)
class PairingSpec:
    """A pairing as the user wrote it, parsed and validated.

    ``requirements`` keeps the user's requirement strings (normalised), ``wheels`` absolute paths of
    local wheel files. ``names`` lists the canonical distribution names of both, in order.
    """

    text: str
    requirements: tuple[str, ...]
    wheels: tuple[str, ...] = ()
    backend: str = DEFAULT_BACKEND
    python: str | None = None
    names: tuple[str, ...] = field(default=())

    @property
    def is_pinned(self) -> bool:
        """True when every requirement names exactly one version (``==X``, no wildcard)."""
        return all(_pinned_version(Requirement(r)) is not None for r in self.requirements)

    @property
    def label(self) -> str:
        """A short stable name for this spec before resolution (used for nox session names)."""
        parts = []
        for text in self.requirements:
            req = Requirement(text)
            parts.append(f"{canonicalize_name(req.name)}-{_spec_word(req)}")
        for wheel in self.wheels:
            name, version, _, _ = parse_wheel_filename(Path(wheel).name)
            parts.append(f"{name}-{version}-wheel")
        return _decorate("_".join(parts), self.backend, self.python, sep="_")


@dataclass(frozen=True)
class Pairing:
    """A pairing resolved to concrete versions, ready to install.

    ``pins`` are what the installer receives (``name==version`` or a wheel path); ``versions``
    maps each requested distribution to its concrete version. ``id`` is derived from them and is
    safe in file names and HTML ids. ``resolve_error`` is set when "latest" could not be resolved;
    such a pairing cannot be installed and its cells are ``install_failed``.
    """

    spec: PairingSpec
    pins: tuple[str, ...]
    versions: dict[str, str]
    id: str
    resolve_error: str | None = None


def parse_pairing(text: str) -> PairingSpec:
    """Parse one pairing spec; raise :class:`BadInput` naming the bad item."""
    raw = text.strip()
    if not raw:
        raise BadInput("A pairing is empty; expected e.g. 'keras==3.5.0,tensorflow==2.16.1'.")
    requirements: list[str] = []
    wheels: list[str] = []
    names: list[str] = []
    backend = DEFAULT_BACKEND
    python: str | None = None
    for item in _split_items(raw):
        if item.startswith("backend="):
            backend = item.split("=", 1)[1]
            if backend not in BACKENDS:
                raise BadInput(
                    f"Pairing {raw!r}: backend {backend!r} is not one of {', '.join(BACKENDS)}."
                )
            continue
        if item.startswith("python="):
            python = item.split("=", 1)[1]
            if not _PYTHON_RE.match(python):
                raise BadInput(f"Pairing {raw!r}: python {python!r} is not a version like 3.11.")
            continue
        if item.endswith(".whl"):
            path = Path(item).expanduser().resolve()
            try:
                name, _, _, _ = parse_wheel_filename(path.name)
            except InvalidWheelFilename:
                raise BadInput(f"Pairing {raw!r}: {item!r} is not a valid wheel file name.") from None
            if not path.is_file():
                raise BadInput(f"Pairing {raw!r}: wheel file {item!r} does not exist.")
            wheels.append(str(path))
            names.append(str(name))
            continue
        requirement = _parse_requirement(raw, item)
        requirements.append(str(requirement))
        names.append(str(canonicalize_name(requirement.name)))
    if not names:
        raise BadInput(f"Pairing {raw!r} names no package; expected e.g. 'keras==3.5.0,tensorflow==2.16.1'.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInput(f"Pairing {raw!r} names {', '.join(duplicates)} more than once.")
    return PairingSpec(
        text=raw,
        requirements=tuple(requirements),
        wheels=tuple(wheels),
        backend=backend,
        python=python,
        names=tuple(names),
    )


def pinned_pairing(spec: PairingSpec) -> Pairing:
    """The pairing of a spec that needs no resolution (every requirement pinned)."""
    versions: dict[str, str] = {}
    pins: list[str] = []
    for text in spec.requirements:
        req = Requirement(text)
        version = _pinned_version(req)
        if version is None:
            raise ValueError(f"{text!r} is not pinned")
        versions[canonicalize_name(req.name)] = version
        pins.append(text)
    for wheel in spec.wheels:
        wheel_name, wheel_version, _, _ = parse_wheel_filename(Path(wheel).name)
        versions[str(wheel_name)] = str(wheel_version)
        pins.append(wheel)
    return Pairing(spec=spec, pins=tuple(pins), versions=versions, id=pairing_id(spec, versions))


def resolved_pairing(spec: PairingSpec, versions: dict[str, str]) -> Pairing:
    """The pairing of a spec whose unpinned requirements resolved to ``versions`` (name → version)."""
    pins: list[str] = []
    concrete: dict[str, str] = {}
    for text in spec.requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        version = _pinned_version(req) or versions.get(name)
        if version is None:
            raise ValueError(f"no version resolved for {name}")
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        pins.append(f"{req.name}{extras}=={version}")
        concrete[name] = version
    for wheel in spec.wheels:
        wheel_name, wheel_version, _, _ = parse_wheel_filename(Path(wheel).name)
        concrete[str(wheel_name)] = str(wheel_version)
        pins.append(wheel)
    return Pairing(spec=spec, pins=tuple(pins), versions=concrete, id=pairing_id(spec, concrete))


def unresolved_pairing(spec: PairingSpec, error: str) -> Pairing:
    """A pairing whose resolution failed: named after the spec, carrying the resolver's message."""
    return Pairing(spec=spec, pins=(), versions={}, id=spec.label.replace("_", "+"), resolve_error=error)


def pairing_id(spec: PairingSpec, versions: dict[str, str]) -> str:
    """Derive the id of a resolved pairing, e.g. ``keras-3.5.0+tensorflow-2.16.1+backend-jax``."""
    wheel_names = {str(parse_wheel_filename(Path(w).name)[0]) for w in spec.wheels}
    parts = []
    for name in spec.names:
        suffix = "-wheel" if name in wheel_names else ""
        parts.append(f"{name}-{versions[name]}{suffix}")
    return _decorate("+".join(parts), spec.backend, spec.python, sep="+")


def _decorate(base: str, backend: str, python: str | None, sep: str) -> str:
    if backend != DEFAULT_BACKEND:
        base += f"{sep}backend-{backend}"
    if python:
        base += f"{sep}py{python}"
    return _SAFE_ID_RE.sub("", base)


def _split_items(text: str) -> list[str]:
    """Split on commas, keeping ``keras>=3.5,<3.6`` together (a part starting with an operator
    continues the previous requirement)."""
    items: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise BadInput(f"Pairing {text!r} has an empty item.")
        if part[0] in "<>=!~" and items:
            items[-1] = f"{items[-1]},{part}"
        else:
            items.append(part)
    return items


def _parse_requirement(raw: str, item: str) -> Requirement:
    try:
        req = Requirement(item)
    except InvalidRequirement:
        raise BadInput(
            f"Pairing {raw!r}: {item!r} is not a requirement; expected NAME==VERSION, NAME, "
            "NAME>=X,<Y, backend=NAME, python=X.Y or a path to a .whl file."
        ) from None
    if req.marker is not None or req.url is not None:
        raise BadInput(f"Pairing {raw!r}: {item!r} may not carry an environment marker or a URL.")
    return req


def _pinned_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _spec_word(req: Requirement) -> str:
    pinned = _pinned_version(req)
    if pinned is not None:
        return pinned
    if not req.specifier:
        return "latest"
    ordered = sorted(req.specifier, key=lambda s: (s.version, s.operator))
    words = [f"{_OPERATOR_WORDS[s.operator]}{s.version}" for s in ordered]
    return "-".join(words)
