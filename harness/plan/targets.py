"""``MODULE:FUNCTION`` references to code that runs only inside a tested env, checked on the host
with :mod:`ast` (the module is never imported here).
"""

from __future__ import annotations

import ast
from pathlib import Path

from harness.errors import BadInput


def checked_target(spec: str) -> str:
    """``spec`` made absolute when it names a file; :class:`BadInput` when the file or its function is missing."""
    module, sep, function = spec.rpartition(":")
    if not sep or not module or not function.isidentifier():
        raise BadInput(f"{spec!r} is not MODULE:FUNCTION (e.g. scenarios/_gru.py:build_step_model).")
    if module.endswith(".py"):
        path = Path(module).resolve()
        if not path.is_file():
            raise BadInput(f"{module!r} does not exist.")
        defined = top_level_names(path)
        if function not in defined:
            known = ", ".join(sorted(defined)[:8]) or "nothing"
            raise BadInput(f"{module!r} defines no {function!r} at module level (it defines: {known}).")
        return f"{path}:{function}"
    return spec


def top_level_names(path: Path) -> set[str]:
    """Names a module binds at its top level, read with ``ast`` (the module is not run on the host)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as exc:
        raise BadInput(f"{str(path)!r} is not valid Python: {exc}") from None
    except OSError as exc:
        raise BadInput(f"{str(path)!r} cannot be read: {exc.strerror or exc}") from None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names
