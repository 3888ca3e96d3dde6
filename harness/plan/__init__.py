"""WHAT runs, decided before anything is installed: pairings (how one is written, its id),
scenarios (discovery and the contract, read with ast), cells (keys, the expansion of scenarios x
pairings, shards), the bisect search, and MODULE:FUNCTION references. Pure: nothing here starts a
process or imports the framework under test. Imports only :mod:`harness.errors`.
"""
