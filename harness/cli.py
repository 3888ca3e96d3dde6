"""The command line: ``python -m harness <command> ...``: parse, dispatch, and turn errors into exit
codes. The only place that does the last.

Exit statuses: 0 the command completed (whatever the verdicts, unless a gate was asked for), 1 a
question answered "no" (bisect found no transition, readiness found a regression, a matrix
differs from its ``--expect`` file or has a ``--fail-on`` verdict), 2 bad input (one line on
stderr, no traceback), 130 interrupted (what finished is kept and rendered).

When ``HARNESS_ERROR_FILE`` is set, the one-line error is also written there
(:func:`harness.errors.tell_caller`), so a caller such as the noxfile can repeat it as its own
last line.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
from types import ModuleType
from typing import NoReturn, Sequence

from harness import __version__
from harness.errors import BadInput, HarnessError, RunStopped, clip_quoted, tell_caller

#: What the harness imports on the host (pyproject.toml's dependencies; uv is checked where it is run).
HOST_MODULES = ("jinja2", "packaging", "h5py", "numpy", "pypi_simple", "requests")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{self.prog}: {message}.")


def command_modules() -> list[ModuleType]:
    """The verbs, in the order ``--help`` lists them (imported only once the host packages are
    known to be there)."""
    from harness.commands import atlas, bench, bisect, cache, claims, inspect, listing, matrix, readiness, report

    return [matrix, report, bisect, atlas, readiness, inspect, claims, bench, cache, listing]


#: Two or three examples per verb, shown at the end of its ``--help`` (``{prog}``: how it was started).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "matrix": (
        "{prog} matrix --model mymodel.py:build --pairing keras==3.5.0,tensorflow==2.16.1 --pairing keras,tensorflow",
        "{prog} matrix --file model.keras --inputs x.npy --reference y.npy",
        "{prog} matrix --only gru_weights_into_grucell --expect ci/expect.toml",
    ),
    "report": ("{prog} report reports/runs/<run>/results.json", "{prog} report merge stage1/ stage2/ --out merged"),
    "bisect": ("{prog} bisect --scenario gru_weights_into_grucell --package keras --old 3.0.0 --new 3.15.1 "
               "--with tensorflow==2.16.1",),
    "atlas": ("{prog} atlas --package keras --old 3.10.0 --new 3.15.1 --with tensorflow==2.16.1 --only gru_weights_into_grucell",),
    "readiness": ("{prog} readiness --baseline keras==3.15.1,tensorflow --candidate keras-nightly,tensorflow",
                  "{prog} readiness --baseline keras==3.15.1,tensorflow --candidate ./dist/keras-3.16.0-py3-none-any.whl"),
    "inspect": ("{prog} inspect model.weights.h5", "{prog} inspect old.weights.h5 --against mymodel.py:build"),
    "claims": ("{prog} claims", "{prog} claims reports/runs/<run>"),
    "bench": ("{prog} bench", "{prog} bench --cache"),
    "cache": ("{prog} cache info --files", "{prog} cache prune --max-size 1G", "{prog} cache clear"),
    "list": ("{prog} list", "{prog} list --json"),
}


def build_parser(modules: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    from harness.commands import program_name

    prog = program_name()
    parser = _Parser(prog=prog, description="Compatibility matrix harness for Keras and TensorFlow.")
    parser.add_argument("--version", action="version", version=f"keras-compat {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in modules if modules is not None else command_modules():
        examples = "\n".join(f"  {line.format(prog=prog)}" for line in EXAMPLES.get(module.NAME, ()))
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                                  epilog=f"examples:\n{examples}" if examples else None,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def with_default_verbs(argv: list[str], modules: Sequence[ModuleType]) -> list[str]:
    """``report RESULTS…`` → ``report render RESULTS…``: a command with verbs of its own takes its
    default verb when the next word is none of them (nor a request for help)."""
    if not argv:
        return argv
    for module in modules:
        verbs = getattr(module, "VERBS", ())
        if argv[0] == module.NAME and verbs and (len(argv) < 2 or argv[1] not in (*verbs, "-h", "--help")):
            return [argv[0], module.DEFAULT_VERB, *argv[1:]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness command line; returns the exit status."""
    signal.signal(signal.SIGTERM, _stop)
    # Ctrl-C stops a run even when whatever started it ignored SIGINT (a shell's background job, a
    # CI runner): Python keeps an inherited SIG_IGN, and the run could then not be interrupted.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _tolerant_streams()
    try:
        _check_host_packages()
        modules = command_modules()
        words = with_default_verbs(list(sys.argv[1:] if argv is None else argv), modules)
        args = build_parser(modules).parse_args(words)
        return int(args.handler(args))
    except RunStopped as exc:
        print(f"harness: interrupted; {exc}", file=sys.stderr)
        return 130
    except HarnessError as exc:
        return _fail(str(exc))
    except OSError as exc:  # a path given that cannot be used (a file where a folder should be, no permission)
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(f"Cannot use{where}: {exc.strerror or exc}.")
    except KeyboardInterrupt:
        print("harness: interrupted; the cells that finished are kept.", file=sys.stderr)
        return 130


def _check_host_packages() -> None:
    """Refuse to start, in one line, when a package the harness imports on the host is missing."""
    missing = [name for name in HOST_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise BadInput(
            f"The harness needs {', '.join(missing)} on this machine: run it through nox "
            "(python -m pip install nox uv && nox -s matrix), or 'python -m pip install -e .' in this checkout."
        )


def _tolerant_streams() -> None:
    """Make stdout and stderr write what their encoding can hold and escape the rest (``\\u2713``),
    so a console or pipe that is not UTF-8 (``PYTHONIOENCODING=ascii``) never fails a command."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a stream that cannot change now keeps its own setting
            continue


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (a CI job cancelled) stops like Ctrl-C: what finished is kept."""
    raise KeyboardInterrupt


def _fail(message: str) -> int:
    line = clip_quoted(" ".join(message.split()))
    print(f"error: {line}", file=sys.stderr)
    tell_caller(line)
    return 2
