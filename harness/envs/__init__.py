"""The tested envs on the host: resolving a pairing to concrete versions, creating or reusing its
env with uv and recording what got installed (:mod:`.install`), the releases a package index
lists (:mod:`.package_index`), and the bounded retries of both when the network fails
(:mod:`.retry`). Imports :mod:`harness.plan` and the base modules.
"""
