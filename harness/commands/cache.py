"""``cache``: what the cell cache of an envs folder holds, and its pruning.

``cache info`` prints its entries and bytes (with ``--files``, each entry with the files it
depends on: those its phase read, each reused only while unchanged); ``cache prune`` removes the least recently used
entries until it fits ``--max-size`` (and those unused for ``--older-than`` days); ``cache clear``
removes every entry. A run prunes the cache to ``$HARNESS_CACHE_MAX`` (default 4 GiB) when it ends.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.evidence.cache import CellCache, cache_bound, parse_size
from harness.paths import default_envs_dir

NAME = "cache"
HELP = "the cell cache: info, prune, clear"
VERBS = ("info", "prune", "clear")
DEFAULT_VERB = "info"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("verb", choices=VERBS, help="info (the default), prune or clear")
    parser.add_argument("--envs-dir", type=Path, metavar="DIR",
                        help="the envs folder whose cache it is (default: .harness/envs or $HARNESS_ENVS_DIR)")
    parser.add_argument("--max-size", metavar="SIZE",
                        help="prune: keep at most this much, e.g. 500M or 8G (default: $HARNESS_CACHE_MAX, else 4G)")
    parser.add_argument("--older-than", type=_days, metavar="DAYS", help="prune: also remove entries unused for this many days")
    parser.add_argument("--files", action="store_true",
                        help="info: list each entry (scenario, phase, env) with the files it depends on")


def run(args: argparse.Namespace) -> int:
    cache = CellCache(args.envs_dir or default_envs_dir())
    if args.verb == "clear":
        count, size = cache.size()
        cache.clear()
        print(f"cell cache {cache.root}: removed {count} entries ({_mib(size)})")
        return 0
    if args.verb == "prune":
        bound = parse_size(args.max_size or "", "--max-size") or cache_bound()
        older = args.older_than * 86400 if args.older_than is not None else None
        removed, freed = cache.prune(bound, older)
        count, size = cache.size()
        print(f"cell cache {cache.root}: pruned {removed} entries ({_mib(freed)}); {count} entries ({_mib(size)}) kept, "
              f"bound {_mib(bound)}")
        return 0
    count, size = cache.size()
    print(f"cell cache {cache.root}: {count} entries, {_mib(size)} on disk")
    if args.files:
        for summary in cache.summaries():
            print(f"{summary.scenario} ({summary.kind}, env {summary.env or '?'}, from {summary.source}): "
                  f"{len(summary.depends)} {'file' if len(summary.depends) == 1 else 'files'}")
            for dependency in summary.depends:
                print(f"    {dependency.path}  {(dependency.sha256 or 'absent')[:12]}")
    return 0


def _days(text: str) -> float:
    """A number of days, 0 or more (a negative one would silently mean nothing)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days, 0 or more, not {text!r}")
    return value


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
