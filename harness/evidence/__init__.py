"""What a run leaves on disk and how it is read back (never trusted): the result model with its
schema version and verdict groups, its checked JSON form, the typed facts of a phase, the
conversion between facts and stored records, the run folder's layout, cross-version saves,
merged runs, known cells, and the anatomy and mapping of saved model files. Imports
:mod:`harness.plan` and the base modules.
"""
