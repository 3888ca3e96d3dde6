"""``list``: the scenarios of a folder (checked against the contract, nothing run) and the default
pairings, as text, JSON, or the README's library table."""

from __future__ import annotations

import argparse
import json

from harness.commands.common import add_scenario_dirs
from harness.paths import SCENARIOS
from harness.plan.pairings import DEFAULT_PAIRINGS, parse_pairing
from harness.plan.scenarios import load_scenarios

NAME = "list"
HELP = "list scenarios and the default pairings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario_dirs(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--markdown", action="store_true", help="the scenario library as a Markdown table (for README.md)")


def run(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.scenario_dirs or [SCENARIOS])
    pairings = [parse_pairing(text) for text in DEFAULT_PAIRINGS]
    if args.json:
        listing = {
            "scenarios": [{"id": s.id, "title": s.title, "kind": s.kind, "tags": list(s.tags), "links": list(s.links)} for s in scenarios],
            "pairings": [{"spec": p.text, "label": p.label} for p in pairings],
        }
        print(json.dumps(listing, indent=1))
        return 0
    if args.markdown:
        print("| id | what a user was doing | kind | groups | upstream |")
        print("|---|---|---|---|---|")
        for s in scenarios:
            links = " ".join(f"[{link.split('github.com/')[-1]}]({link})" for link in s.links)
            title = s.title.replace("|", "\\|")
            print(f"| `{s.id}` | {title} | {s.kind} | {', '.join(s.tags)} | {links} |")
        return 0
    for s in scenarios:
        print(f"{s.id:<40} {s.kind:<5} {','.join(s.tags):<24} {s.title}")
    for p in pairings:
        print(f"pairing {p.text}")
    return 0
