"""Claims in the scenario contract: what upstream said about a failure, as checkable statements
about versions (``CLAIMS``, an optional literal list in a scenario module).

Each entry has ``link`` (the thread), ``says`` (the words, quoted) and ``kind``:

- ``fixed_in``: ``package`` (default ``keras``) and ``version``: the failure is gone from that
  version on;
- ``broken_since``: ``package`` and ``version``: the failure is there from that version on;
- ``works_with``: ``pairing`` (a pairing spec): on that pairing it works;
- ``not_supported``: ``saved_with`` and ``loaded_with`` (PEP 440 specifiers on ``package``): a
  file written by the one is not read by the other.

Pure: this module reads and checks the literals; claims are judged from measured cells only
(:mod:`harness.evidence.claims`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.errors import BadInput, ContractError
from harness.plan.pairings import parse_pairing

KINDS = ("fixed_in", "broken_since", "works_with", "not_supported")
_LINK_PREFIXES = ("https://", "http://")
#: The keys each kind takes besides link, says and kind (and which of them are required).
_PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fixed_in": (("version",), ("package",)),
    "broken_since": (("version",), ("package",)),
    "works_with": (("pairing",), ()),
    "not_supported": (("saved_with", "loaded_with"), ("package",)),
}


@dataclass(frozen=True)
class Claim:
    """One checked ``CLAIMS`` entry (fields a kind does not take are empty)."""

    link: str
    says: str
    kind: str
    package: str = "keras"
    version: str = ""
    pairing: str = ""
    saved_with: str = ""
    loaded_with: str = ""


def read_claims(where: str, value: Any) -> tuple[Claim, ...]:
    """The ``CLAIMS`` of a scenario; :class:`ContractError` naming the file and the entry."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ContractError(f"{where}: CLAIMS must be a list of mappings (link, says, kind, and the kind's parameters).")
    return tuple(_claim(where, index, entry) for index, entry in enumerate(value, 1))


def _claim(where: str, index: int, entry: Any) -> Claim:
    name = f"{where}: CLAIMS entry {index}"
    if not isinstance(entry, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in entry.items()):
        raise ContractError(f"{name} must be a mapping of strings to strings.")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ContractError(f"{name}: kind {kind!r} is not one of {', '.join(KINDS)}.")
    required, optional = _PARAMETERS[kind]
    allowed = {"link", "says", "kind", *required, *optional}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ContractError(f"{name}: {', '.join(unknown)} is not a key of a {kind} claim (it takes {', '.join(sorted(allowed))}).")
    missing = [key for key in ("link", "says", *required) if not entry.get(key, "").strip()]
    if missing:
        raise ContractError(f"{name}: a {kind} claim needs {', '.join(missing)}.")
    if not entry["link"].startswith(_LINK_PREFIXES) or any(c in entry["link"] for c in " \"'<>"):
        raise ContractError(f"{name}: link {entry['link'][:80]!r} is not an http(s) URL.")
    claim = Claim(**{key: entry[key].strip() for key in entry})
    _check_parameters(name, claim)
    return claim


def _check_parameters(name: str, claim: Claim) -> None:
    try:
        if claim.version:
            Version(claim.version)
        for spec in (claim.saved_with, claim.loaded_with):
            if spec:
                SpecifierSet(spec)
    except (InvalidVersion, InvalidSpecifier) as exc:
        raise ContractError(f"{name}: {exc}.") from None
    if claim.pairing:
        try:
            parse_pairing(claim.pairing)
        except BadInput as exc:
            raise ContractError(f"{name}: {exc}") from None
