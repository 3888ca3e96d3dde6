"""The tested envs on the host: resolving a pairing to concrete versions, creating or reusing its
env with uv and recording what got installed (:mod:`.install`), and the releases a package index
lists (:mod:`.package_index`). Imports :mod:`harness.plan` and the base modules.
"""
