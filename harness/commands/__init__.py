"""One module per verb of the command line. Each has ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` (the exit status); a module with verbs of its
own (``report``) names them in ``VERBS`` and the one taken when none is given in ``DEFAULT_VERB``.
"""
