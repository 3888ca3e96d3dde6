"""Scenario discovery and the scenario contract, checked without importing the scenario.

Scenario modules are read with :mod:`ast` on the host: the tested framework is never imported
here. Module-level names of the contract must be literals, so they can be read this way:

- docstring (required): its first line is the title;
- ``SIGNATURE``: a regular expression searched in ``"<ExceptionType>: <message>"``;
- ``LINKS``: http(s) URLs of upstream reports;
- ``REQUIRES``: ``{"distribution": "PEP 440 specifier"}``;
- ``SAVE_REQUIRES`` (cross-version scenarios only): the same, for the pairings ``save`` runs in
  (default: ``REQUIRES``), e.g. a file written by Keras 2 and read by Keras 3;
- ``LOAD_WRITES`` (cross-version scenarios only): ``True`` when ``load`` modifies or appends to
  the saved files; each load then gets a private copy of them instead of read-only links to the
  one stored save;
- ``TAGS``: group names (lowercase letters, digits, ``-`` and ``_``);
- ``RTOL`` / ``ATOL``: non-negative numbers (default 1e-5);
- ``BACKENDS``: the Keras backends it runs on (default all); a cell of another backend is skipped;
- ``CLAIMS``: what upstream said about it, as checkable statements (see :mod:`harness.plan.claims`);
- ``ENV``: the names of environment variables its outcome depends on (``KERAS_*`` and ``TF_*``
  always count); a change to one of them makes the cell cache run its cells again;
- ``CACHE``: ``False`` for a scenario whose outcome the cell cache must never reuse (it reads the
  clock, or its answer is random); default ``True``;
- ``FORMATS`` (cross-version scenarios only): a tuple of format names, e.g. ``("keras", "weights_h5")``;
  then ``save(workdir, fmt)`` and ``load(workdir, fmt)`` take the format, and the module is one
  scenario per format, ``<module>[<format>]`` (see :func:`expand_formats`);
- either ``run(workdir)``, or both ``save(workdir)`` and ``load(workdir)``.

A module breaking a rule raises :class:`ContractError` naming the file and the rule. Only
regular files (a link to one included) of at most :data:`MAX_SCENARIO_BYTES` are read, as
scenarios or as the helpers they import: a FIFO or a device named ``*.py`` is refused unread.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from harness.errors import BadInput, ContractError
from harness.plan.claims import Claim, read_claims
from harness.plan.pairings import BACKENDS

#: The largest scenario (or helper) file read.
MAX_SCENARIO_BYTES = 1024 * 1024
DEFAULT_RTOL = 1e-5
DEFAULT_ATOL = 1e-5
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: What a scenario file's module name may be.
MODULE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What a name in ``FORMATS`` may be.
FORMAT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
#: What a scenario id may be: its module name, followed for a scenario with ``FORMATS`` by one of
#: its formats in brackets (``formats_mixed_model[keras]``).
SCENARIO_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[a-z][a-z0-9_]*\])?$")
#: What a link to an upstream report may be.
LINK = re.compile(r"^https?://[^\s\"'<>]+$")
_CONTRACT_NAMES = ("SIGNATURE", "LINKS", "REQUIRES", "SAVE_REQUIRES", "LOAD_WRITES", "TAGS", "RTOL", "ATOL", "BACKENDS",
                   "CLAIMS", "FORMATS", "ENV", "CACHE")
#: What a name in ``ENV`` may be.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Scenario:
    """A scenario module as read from its file.

    ``kind`` is ``"run"`` (single env) or ``"cross"`` (``save``/``load``). ``load_writes``: its
    load writes into the saved files, so each load needs a copy of its own. ``sha256`` hashes the
    file and the ``_*.py`` helpers it imports from its folder, so results can tell whether they
    came from the same scenario text. A module with ``FORMATS`` is read as one scenario whose
    ``formats`` lists them, and run as one scenario per format (:func:`expand_formats`): ``format``
    is that scenario's format, ``id`` is ``<module>[<format>]``, and the siblings share the rest.
    ``helpers`` are the helper files ``sha256`` covers; ``env`` the variables of ``ENV``;
    ``cacheable`` is False for ``CACHE = False``.
    """

    id: str
    title: str
    path: Path
    kind: str
    description: str = ""
    signature: str | None = None
    links: tuple[str, ...] = ()
    requires: dict[str, str] = field(default_factory=dict)
    save_requires: dict[str, str] | None = None
    tags: tuple[str, ...] = ()
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    sha256: str = ""
    backends: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = ()
    load_writes: bool = False
    formats: tuple[str, ...] = ()
    format: str | None = None
    helpers: tuple[Path, ...] = ()
    env: tuple[str, ...] = ()
    cacheable: bool = True

    @property
    def module(self) -> str:
        """The module name of the scenario's file (the id without its format)."""
        return module_name(self.id)


def module_name(scenario_id: str) -> str:
    """``formats_mixed_model[keras]`` → ``formats_mixed_model``; an id without a format is its module."""
    return scenario_id.partition("[")[0]


def expand_formats(scenario: Scenario) -> list[Scenario]:
    """A scenario with ``FORMATS`` as one scenario per format, in the order of ``FORMATS`` (each
    with its ``format`` set, its id ``<module>[<format>]`` and its title followed by the format);
    any other scenario as itself."""
    return [replace(scenario, id=f"{scenario.id}[{name}]", format=name, title=f"{scenario.title} [{name}]")
            for name in scenario.formats] or [scenario]


def discover_scenarios(folders: Sequence[Path]) -> list[Scenario]:
    """Every scenario in ``folders`` (non-recursive, ``_*.py`` excluded), sorted by id.

    Raises :class:`BadInput` for a missing folder or a duplicate id, :class:`ContractError` for a
    module that breaks the contract.
    """
    found: dict[str, Scenario] = {}
    for folder in folders:
        if not folder.is_dir():
            raise BadInput(f"The scenarios folder {str(folder)!r} does not exist.")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            for scenario in expand_formats(read_scenario(path)):
                if scenario.id in found:
                    raise BadInput(
                        f"Scenario id {scenario.id!r} is defined twice: {found[scenario.id].path} and {path}."
                    )
                found[scenario.id] = scenario
    return [found[k] for k in sorted(found)]


def select_scenarios(
    scenarios: Sequence[Scenario], only: Iterable[str] = (), tags: Iterable[str] = ()
) -> list[Scenario]:
    """Keep the scenarios named in ``only`` and/or carrying one of ``tags`` (no filter: all).

    A name in ``only`` is a scenario id (``formats_mixed_model[keras]``: one format) or the module
    of a scenario with ``FORMATS`` (``formats_mixed_model``: every format of it). An id or tag that
    matches nothing is :class:`BadInput`, naming it and the valid choices.
    """
    only, tags = list(only), list(tags)
    known_ids = {s.id for s in scenarios} | {s.module for s in scenarios}
    for name in only:
        if name not in known_ids:
            raise BadInput(f"Unknown scenario id {name!r}; known ids: {', '.join(sorted(known_ids)) or 'none'}.")
    known_tags = {t for s in scenarios for t in s.tags}
    for tag in tags:
        if tag not in known_tags:
            raise BadInput(f"Unknown tag {tag!r}; known tags: {', '.join(sorted(known_tags)) or 'none'}.")
    if not only and not tags:
        return list(scenarios)
    return [s for s in scenarios if s.id in only or s.module in only or set(s.tags) & set(tags)]


def load_scenarios(dirs: Sequence[Path], only: Sequence[str] = (), tags: Sequence[str] = ()) -> list[Scenario]:
    """Discover, check and select scenarios; none at all is bad input."""
    scenarios = select_scenarios(discover_scenarios(dirs), only, tags)
    if not scenarios:
        raise BadInput(f"No scenario found in {', '.join(str(d) for d in dirs)}.")
    return scenarios


def read_scenario(path: Path) -> Scenario:
    """Read one scenario file and check it against the contract."""
    source = read_source(path)
    if not MODULE_ID.match(path.stem):
        raise ContractError(f"{path}: the file name must be a Python identifier (it is the scenario id).")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ContractError(f"{path}: does not parse (line {exc.lineno}: {exc.msg}).") from None
    except (MemoryError, RecursionError, ValueError):
        raise ContractError(f"{path}: cannot be parsed (too deeply nested or not Python source).") from None
    docstring = ast.get_docstring(tree)
    if not docstring or not docstring.strip():
        raise ContractError(f"{path}: a scenario needs a module docstring; its first line is the title.")
    title, _, description = docstring.strip().partition("\n")
    literals = _module_literals(path, tree)
    functions = _module_functions(tree)
    kind = _kind(path, functions)
    save_requires = None
    if "SAVE_REQUIRES" in literals:
        if kind != "cross":
            raise ContractError(f"{path}: SAVE_REQUIRES is for cross-version scenarios (save and load) only.")
        save_requires = _requires(path, literals["SAVE_REQUIRES"], "SAVE_REQUIRES")
    load_writes = literals.get("LOAD_WRITES", False)
    if not isinstance(load_writes, bool):
        raise ContractError(f"{path}: LOAD_WRITES must be True or False.")
    if load_writes and kind != "cross":
        raise ContractError(f"{path}: LOAD_WRITES is for cross-version scenarios (save and load) only.")
    formats = _formats(path, literals.get("FORMATS"), kind)
    _check_arguments(path, functions, kind, with_format=bool(formats))
    cacheable = literals.get("CACHE", True)
    if not isinstance(cacheable, bool):
        raise ContractError(f"{path}: CACHE must be True or False.")
    sha256, helpers = _content_hash(path, source, tree)
    return Scenario(
        id=path.stem,
        title=title.strip(),
        path=path.resolve(),
        kind=kind,
        description=description.strip(),
        signature=_signature(path, literals.get("SIGNATURE")),
        links=_links(path, literals.get("LINKS")),
        requires=_requires(path, literals.get("REQUIRES")),
        save_requires=save_requires,
        tags=_tags(path, literals.get("TAGS")),
        rtol=_tolerance(path, "RTOL", literals.get("RTOL", DEFAULT_RTOL)),
        atol=_tolerance(path, "ATOL", literals.get("ATOL", DEFAULT_ATOL)),
        sha256=sha256,
        helpers=helpers,
        env=_env_names(path, literals.get("ENV")),
        cacheable=cacheable,
        backends=_backends(path, literals.get("BACKENDS")),
        claims=read_claims(str(path), literals.get("CLAIMS")),
        load_writes=load_writes,
        formats=formats,
    )


def read_source(path: Path) -> bytes:
    """The bytes of a scenario or helper file: a regular file (a link to one included) of at most
    :data:`MAX_SCENARIO_BYTES`. Opened without blocking, so a FIFO never hangs discovery;
    anything else is :class:`ContractError`, a file that cannot be opened :class:`BadInput`."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise BadInput(f"Cannot read scenario file {str(path)!r}: {exc.strerror}.") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ContractError(f"{path}: is not a regular file, so it is not read as a scenario.")
        try:
            source = handle.read(MAX_SCENARIO_BYTES + 1)
        except OSError as exc:
            raise BadInput(f"Cannot read scenario file {str(path)!r}: {exc.strerror}.") from None
    if len(source) > MAX_SCENARIO_BYTES:
        raise ContractError(f"{path}: is larger than {MAX_SCENARIO_BYTES // 1024} KiB, the most a scenario file may be.")
    return source


def _env_names(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, str) and _ENV_NAME.match(v) for v in value):
        raise ContractError(f"{path}: ENV must be a tuple of environment variable names, e.g. ('MY_VAR',).")
    return tuple(sorted(set(value)))


def _content_hash(path: Path, source: bytes, tree: ast.Module) -> tuple[str, tuple[Path, ...]]:
    """Hash of the scenario file and of the ``_*.py`` helper modules of its folder that it imports,
    directly or through another helper; and those helpers' paths."""
    digest = hashlib.sha256(source)
    hashed: list[Path] = []
    seen: set[str] = set()
    pending = _helper_names(tree)
    while pending:
        name = min(pending)
        pending.discard(name)
        seen.add(name)
        helper = path.parent / f"{name}.py"
        if not helper.is_file():
            continue
        text = read_source(helper)
        hashed.append(helper.resolve())
        digest.update(b"\0" + name.encode() + b"\0" + text)
        try:
            pending |= _helper_names(ast.parse(text)) - seen
        except (SyntaxError, ValueError):  # the import of a broken helper fails in the cell; its text is hashed
            pass
    return digest.hexdigest(), tuple(hashed)


def _helper_names(tree: ast.Module) -> set[str]:
    """The ``_*`` modules a module imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n.startswith("_")}


def _module_literals(path: Path, tree: ast.Module) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _CONTRACT_NAMES and value is not None:
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    raise ContractError(
                        f"{path}: {target.id} must be a literal (line {node.lineno}), so it can be read "
                        "without importing the scenario."
                    ) from None
    return values


def _module_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _kind(path: Path, functions: dict[str, ast.FunctionDef]) -> str:
    has_run = "run" in functions
    has_save, has_load = "save" in functions, "load" in functions
    if has_run and (has_save or has_load):
        raise ContractError(f"{path}: define either run(workdir) or save(workdir) and load(workdir), not both.")
    if has_save != has_load:
        missing = "load" if has_save else "save"
        raise ContractError(f"{path}: a cross-version scenario needs both save(workdir) and load(workdir); {missing} is missing.")
    if not (has_run or has_save):
        raise ContractError(f"{path}: defines neither run(workdir) nor save(workdir) and load(workdir).")
    return "run" if has_run else "cross"


def _check_arguments(path: Path, functions: dict[str, ast.FunctionDef], kind: str, with_format: bool) -> None:
    """``run``/``save``/``load`` take the work folder, and with ``FORMATS`` the format too."""
    wanted = 2 if with_format else 1
    for name in ("run",) if kind == "run" else ("save", "load"):
        args = functions[name].args
        positional = [*args.posonlyargs, *args.args]
        required = len(positional) - len(args.defaults)
        if required > wanted or (len(positional) < wanted and args.vararg is None):
            what = "two arguments, the work folder and the format (FORMATS)" if with_format else "exactly one argument, the work folder"
            raise ContractError(f"{path}: {name}() must take {what}.")


def _formats(path: Path, value: Any, kind: str) -> tuple[str, ...]:
    """``FORMATS``: a non-empty tuple of distinct format names, on a cross-version scenario only."""
    if value is None:
        return ()
    if kind != "cross":
        raise ContractError(f"{path}: FORMATS is for cross-version scenarios (save and load) only.")
    if not isinstance(value, tuple) or not value:
        raise ContractError(f"{path}: FORMATS must be a non-empty tuple of format names, e.g. ('keras', 'weights_h5').")
    for name in value:
        if not isinstance(name, str) or not FORMAT_NAME.match(name):
            raise ContractError(f"{path}: FORMATS entry {name!r} must be lowercase letters, digits or '_', starting with a letter.")
    repeated = sorted({name for name in value if value.count(name) > 1})
    if repeated:
        raise ContractError(f"{path}: FORMATS names {repeated[0]!r} twice.")
    return tuple(value)


def _signature(path: Path, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ContractError(f"{path}: SIGNATURE must be a non-empty string (a regular expression).")
    try:
        re.compile(value)
    except re.error as exc:
        raise ContractError(f"{path}: SIGNATURE is not a valid regular expression ({exc}).") from None
    return value


def _links(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ContractError(f"{path}: LINKS must be a list of URL strings.")
    for link in value:
        if not LINK.match(link):
            raise ContractError(f"{path}: LINKS entry {link!r} is not an http(s) URL.")
    return tuple(value)


def _requires(path: Path, value: Any, label: str = "REQUIRES") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ContractError(f"{path}: {label} must be a mapping like {{'keras': '>=3.6'}}.")
    out: dict[str, str] = {}
    for name, spec in value.items():
        if not isinstance(name, str) or not isinstance(spec, str):
            raise ContractError(f"{path}: {label} keys and values must be strings.")
        try:
            requirement = Requirement(name)
            SpecifierSet(spec)
        except (InvalidRequirement, InvalidSpecifier):
            raise ContractError(f"{path}: {label} entry {name!r}: {spec!r} is not a package name and PEP 440 specifier.") from None
        if str(requirement) != name.strip():
            raise ContractError(f"{path}: {label} key {name!r} must be a bare package name.")
        out[name.strip()] = spec
    return out


def _tags(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ContractError(f"{path}: TAGS must be a tuple of strings, e.g. ('rnn', 'cross').")
    for tag in value:
        if not isinstance(tag, str) or not _TAG_RE.match(tag):
            raise ContractError(f"{path}: TAGS entry {tag!r} must be lowercase letters, digits, '-' or '_'.")
    return tuple(value)


def _backends(path: Path, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, str) and v in BACKENDS for v in value):
        raise ContractError(f"{path}: BACKENDS must be a tuple of backends from {', '.join(BACKENDS)}.")
    return tuple(value)


def _tolerance(path: Path, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ContractError(f"{path}: {name} must be a finite non-negative number.")
    return float(value)


def unmet_requirement(
    requires: dict[str, str], packages: dict[str, str], modules: dict[str, list[str]], label: str = "REQUIRES"
) -> str | None:
    """Why an env falls outside a scenario's REQUIRES, or None when every entry is met.

    A name is looked up first as an installed distribution, then as an importable module (so
    ``keras-nightly`` counts as ``keras`` and ``tf-nightly`` as ``tensorflow``). A pre-release,
    dev or post release is judged as its release would be (``3.16.0.dev1`` as ``3.16.0``).
    """
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    for name, spec in requires.items():
        found = packages.get(canonicalize_name(name))
        provider = name
        if found is None:
            for dist in modules.get(name.replace("-", "_"), []):
                if dist in packages:
                    found, provider = packages[dist], dist
                    break
        if found is None:
            return f"{label} {name}{spec}, but {name} is not installed"
        try:
            release = Version(Version(found).base_version)
        except InvalidVersion:
            return f"{label} {name}{spec}, but {provider} has the unreadable version {found!r}"
        if not SpecifierSet(spec).contains(release, prereleases=True):
            shown = f"{provider} {found}" + (f" (judged as {release})" if str(release) != found else "")
            return f"{label} {name}{spec}, but the env has {shown}"
    return None
