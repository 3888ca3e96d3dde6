"""The releases of a package between two versions, as candidates for probes: what a bisect
searches and what an atlas runs.

A candidate is a release of the index uv uses (:mod:`harness.envs.package_index`) from ``old`` to
``new`` inclusive that is not yanked, is a final release unless pre-releases are asked for (or it
is an end of the range), and whose ``Requires-Python`` admits the Python of the env it would be
installed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from packaging.version import InvalidVersion, Version

from harness.envs.install import env_python
from harness.envs.package_index import list_releases
from harness.envs.retry import Note
from harness.errors import BadInput
from harness.plan.pairings import parse_pairing


@dataclass(frozen=True)
class ReleaseRange:
    """Which releases of ``package`` are asked for: ``old`` to ``new``, with the partner pins
    ``with_`` (they decide the env's Python), pre-releases when ``pre``, read from ``index_url``
    or ``find_links`` (else the indexes uv uses)."""

    package: str
    old: str
    new: str
    with_: Sequence[str] = field(default_factory=tuple)
    pre: bool = False
    index_url: str | None = None
    find_links: Path | None = None


def candidate_versions(asked: ReleaseRange, note: Note | None = None) -> list[str]:
    """Releases from ``old`` to ``new`` inclusive, oldest first, from the index: yanked never,
    pre-releases only with ``pre`` (or when an end is one), and only those whose
    ``Requires-Python`` admits the env's Python: the others are not candidates, and ``note`` is
    told which. An end that is not a release, or cannot install on that Python, is refused
    (:class:`BadInput`)."""
    try:
        old, new = Version(asked.old), Version(asked.new)
    except InvalidVersion as exc:
        raise BadInput(f"{exc}; --old and --new take versions such as 3.0.0.") from None
    if not old < new:
        raise BadInput(f"--old {asked.old} must be an older version than --new {asked.new}.")
    releases = list_releases(asked.package, asked.index_url, asked.find_links, note)
    python = env_python(parse_pairing(",".join([asked.package, *asked.with_])))
    known = {r.version: r for r in releases}
    for end, flag in ((old, "--old"), (new, "--new")):
        if end not in known or known[end].yanked:
            shown = ", ".join(str(r.version) for r in releases[-8:] if not r.yanked) or "none"
            raise BadInput(f"{flag} {end}: {asked.package} {end} is not a release on the index (latest: {shown}).")
        if not known[end].supports_python(python):
            raise BadInput(f"{flag} {end}: {asked.package} {end} cannot install on the env's Python {python} "
                           f"(Requires-Python {known[end].python_requirement}).")
    chosen = [
        r for r in releases
        if old <= r.version <= new and not r.yanked
        and (asked.pre or not r.version.is_prerelease or r.version in (old, new))
    ]
    refused = [r for r in chosen if not r.supports_python(python)]
    if refused and note is not None:
        listed = ", ".join(f"{r.version} (Requires-Python {r.python_requirement})" for r in refused)
        note(f"not candidates, since they cannot install on the env's Python {python}: {listed}")
    return [str(r.version) for r in chosen if r not in refused]
