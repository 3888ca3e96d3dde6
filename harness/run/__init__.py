"""The only code that starts processes for cells: the worker that runs inside an env
(``worker.py``, stdlib only, run by path), its client on the host, the engine that runs a matrix
env by env, and :func:`.verdict.decide_verdict`, the one place a verdict is decided. Imports
:mod:`harness.plan`, :mod:`harness.envs` and :mod:`harness.evidence`.
"""
