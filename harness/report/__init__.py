"""The report: a plain page model computed from results (with the words, the mapping picture and
the reproduce commands it shows), the terminal table, and the jinja2 rendering of index.html,
summary.md and junit.xml (autoescape, once). Imports :mod:`harness.evidence`, :mod:`harness.plan`
and the base modules.
"""
