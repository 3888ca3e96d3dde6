"""The layer rule of harness/, read from the imports (nothing is imported to check it).

The rooms run plan → envs → run → evidence → report, with commands on top and cli above them.
Each room may import only the rooms below it that it needs; the base modules (errors, paths,
clock) are below every room, and plan, the bottom room, imports only errors.
"""

from __future__ import annotations

import ast

import pytest

from support import ROOT

HARNESS = ROOT / "harness"
BASE = {"errors", "paths", "clock"}
#: What each room (or top-level module) may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "clock": set(),
    "paths": {"errors"},
    "plan": {"errors"},
    "envs": {"plan"} | BASE,
    "evidence": {"plan"} | BASE,
    "run": {"plan", "envs", "evidence"} | BASE,
    "report": {"evidence", "plan"} | BASE,
    "commands": {"plan", "envs", "run", "evidence", "report"} | BASE,
    "cli": {"commands", "errors", "__init__"},
    # front doors beside the command line: the GitHub Action's outputs and the pytest plugin read results
    "action": {"evidence", "plan"} | BASE,
    "pytest_plugin": {"evidence", "plan", "report"} | BASE,
    "__main__": {"cli"},
    "__init__": set(),
}


def room_of(module: str) -> str:
    """``harness.run.engine`` → ``run``; ``harness.paths`` → ``paths``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def harness_imports(source: str, module: str) -> set[str]:
    """Every harness module a source imports, at any depth (a lazy import counts too)."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "harness")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "harness":
                continue
            if base == "harness":  # a module of the package, or a name of its __init__
                found.update(f"harness.{alias.name}" if _is_module(alias.name) else "harness" for alias in node.names)
            else:
                found.add(base)
    return found


def _is_module(name: str) -> bool:
    return (HARNESS / name).is_dir() or (HARNESS / f"{name}.py").is_file()


def violations(sources: dict[str, str]) -> list[str]:
    """``module imports other`` for every import that crosses the rule."""
    wrong = []
    for module, source in sorted(sources.items()):
        room = room_of(module)
        for imported in sorted(harness_imports(source, module)):
            target = room_of(imported)
            if target != room and target not in ALLOWED[room]:
                wrong.append(f"{module} imports {imported} ({room} may import {', '.join(sorted(ALLOWED[room])) or 'nothing'})")
    return wrong


def harness_sources() -> dict[str, str]:
    sources = {}
    for path in sorted(HARNESS.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__" and len(parts) > 2:
            parts = parts[:-1]
        sources[".".join(parts)] = path.read_text()
    return sources


def test_every_room_imports_only_what_is_below_it() -> None:
    sources = harness_sources()
    assert {room_of(m) for m in sources} <= set(ALLOWED), "a module outside the known rooms"
    assert violations(sources) == []


def test_the_worker_uses_the_standard_library_only() -> None:
    worker = (HARNESS / "run" / "worker.py").read_text()
    assert harness_imports(worker, "harness.run.worker") == set()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(worker)) if isinstance(node, ast.Import)
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(ast.parse(worker))
                                             if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - {"numpy", "warnings", "gc", "ctypes"} <= set(__import__("sys").stdlib_module_names)


@pytest.mark.parametrize("module, source", [
    ("harness.plan.cells", "from harness.evidence.model import Cell\n"),
    ("harness.evidence.records", "def f():\n    from harness.run.verdict import decide_verdict\n"),
    ("harness.report.model", "import harness.run.engine\n"),
    ("harness.envs.install", "from harness import report\n"),
    ("harness.cli", "from harness.run.launch import run_matrix\n"),
    ("harness.run.engine", "from ..commands import matrix\n"),
])
def test_an_import_across_the_rule_is_caught(module: str, source: str) -> None:
    assert len(violations({module: source})) == 1


def test_the_worker_declares_the_result_format_the_host_reads() -> None:
    from harness.evidence.phase import RESULT_FORMAT

    tree = ast.parse((HARNESS / "run" / "worker.py").read_text())
    declared = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "RESULT_FORMAT" for t in node.targets)
                and isinstance(node.value, ast.Constant)]
    assert declared == [RESULT_FORMAT]


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by their basename (the test folders are not packages): two of
    one name stop the whole suite at collection."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
