"""One module per verb of the command line. Each has ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status); a module with verbs of its
own (``report``) names them in ``VERBS`` and the one taken when none is given in ``DEFAULT_VERB``.
"""


def program_name() -> str:
    """How the user started the command line: ``keras-compat`` (installed, or so named), else
    ``python -m harness`` (in this checkout)."""
    import sys
    from pathlib import Path

    from harness.paths import IN_CHECKOUT

    return "keras-compat" if Path(sys.argv[0]).name == "keras-compat" or not IN_CHECKOUT else "python -m harness"
