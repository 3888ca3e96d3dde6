"""The worker script and its client speak the same protocol version (the worker is never
imported by the harness, so its constant is read from its source)."""

from __future__ import annotations

import ast

from harness.paths import WORKER_SCRIPT
from harness.run import client


def _worker_constant(name: str) -> object:
    tree = ast.parse(WORKER_SCRIPT.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"worker.py defines no {name}")


def test_the_worker_and_the_client_speak_the_same_protocol() -> None:
    assert _worker_constant("PROTOCOL_VERSION") == client.PROTOCOL_VERSION

