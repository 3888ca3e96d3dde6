"""The root cause of a cell's exception, as the report shows it first.

A Keras load failure is usually a chain: the exception the scenario saw wraps the one that went
wrong, often inside a message that repeats a config dump of many thousand characters. The root
cause is the last cause of the chain (the first exception Python prints in the traceback), and for
a long Keras message its final clause (what follows the last ``Exception encountered:``), never
the dump.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: A message longer than this is cut down to its final clause.
LONG_MESSAGE = 400
#: The most of a root cause the report keeps (its head).
CAUSE_CHARS = 600

_CHAIN = re.compile(
    r"\n(?:The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)\n"
)
_HEADER = "Traceback (most recent call last):"
_TYPE = re.compile(r"^[A-Za-z_][\w.]*$")
_KERAS_CLAUSE = "Exception encountered:"
_PARAGRAPH = re.compile(r"\n\s*\n")
_DUMP = re.compile(r"^(?:config=|\{|\[|List of objects)")


@dataclass(frozen=True)
class Cause:
    """An exception as ``type`` and ``text``; ``chained`` is true when it is not the raised one."""

    type: str
    text: str
    chained: bool = False

    @property
    def line(self) -> str:
        """``Type: text`` on one line (the form used in tooltips and titles)."""
        flat = " ".join(self.text.split())
        return f"{self.type}: {flat}" if flat else self.type

    @property
    def short_type(self) -> str:
        """The class name without its module (``keras.src.X.Error`` → ``Error``)."""
        return self.type.rsplit(".", 1)[-1]


def root_cause(exception_type: str | None, message: str | None, traceback: str | None) -> Cause | None:
    """The cause to show first, or None when the cell raised nothing.

    The chain is read from the traceback text; without one, the raised exception is its own
    root. The text is the message's :func:`final_clause`.
    """
    if not exception_type:
        return None
    first = _first_exception(traceback or "")
    if first is not None:
        return Cause(type=first[0], text=final_clause(first[1]), chained=True)
    return Cause(type=exception_type, text=final_clause(message or ""))


def final_clause(message: str) -> str:
    """The clause of a message that says what went wrong.

    Keras nests causes as ``… Exception encountered: <cause>``: the text after the last one is
    kept. Otherwise a message up to :data:`LONG_MESSAGE` characters is kept whole, and a longer one
    is cut to its last paragraph that is not a config dump or a list of objects.
    """
    text = message.strip()
    if _KERAS_CLAUSE in text:
        text = text.rsplit(_KERAS_CLAUSE, 1)[1].strip()
    elif len(text) > LONG_MESSAGE:
        paragraphs = [p.strip() for p in _PARAGRAPH.split(text) if p.strip()]
        prose = [p for p in paragraphs if not _DUMP.match(p)]
        text = (prose or paragraphs or [text])[-1]
    return text if len(text) <= CAUSE_CHARS else text[:CAUSE_CHARS] + "…"


def _first_exception(traceback: str) -> tuple[str, str] | None:
    """``(type, message)`` of the first exception a traceback prints (the end of its chain)."""
    if _HEADER not in traceback or not _CHAIN.search(traceback):
        return None
    segment = _CHAIN.split(traceback)[0]
    lines = segment.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == _HEADER), None)
    if start is None:
        return None
    body = lines[start + 1:]
    first = next((i for i, line in enumerate(body) if line and not line[0].isspace()), None)
    if first is None:
        return None
    text = "\n".join(body[first:]).strip()
    head, sep, rest = text.partition(": ")
    if _TYPE.match(head):
        return head, rest.strip() if sep else ""
    if _TYPE.match(text):
        return text, ""
    return None
