"""Pages read back for the report tests: index.html parsed into its tags, texts and scripts, and
Markdown as GitHub renders it (cmark-gfm) into its tables and text."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import cmarkgfm
from cmarkgfm.cmark import Options


class Collector(HTMLParser):
    """Collects tags, attributes and text of a page, and the text of its scripts by type."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[str, str]] = []
        self._script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs).get("type") or "text/javascript"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))
        else:
            self.text.append(data)

    def all(self, tag: str, cls: str = "") -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and cls in (a.get("class") or "").split() + [""]]


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    return collector


def embedded_data(page: Collector) -> dict[str, Any]:
    [text] = [data for kind, data in page.scripts if kind == "application/json"]
    return json.loads(text)


class Inside(HTMLParser):
    """The texts inside every element ``tag`` whose attributes include ``attrs``, one list per element."""

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        super().__init__()
        self.tag, self.attrs = tag, attrs
        self.found: list[list[str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth:
            self._depth += tag == self.tag
        elif tag == self.tag and all(dict(attrs).get(k) == v for k, v in self.attrs.items()):
            self._depth = 1
            self.found.append([])

    def handle_endtag(self, tag: str) -> None:
        if self._depth and tag == self.tag:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.found[-1].append(data)


def texts_inside(html: str, tag: str, **attrs: str) -> list[list[str]]:
    """The non-blank texts inside each ``tag`` element with these attributes (``class_`` for ``class``)."""
    finder = Inside(tag, {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})
    finder.feed(html)
    return [[t for t in found if t.strip()] for found in finder.found]


class Tables(HTMLParser):
    """The rows of every table in rendered Markdown, as lists of cell texts, and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self._cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.tables[-1][-1].append("")
            self._cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell:
            self.tables[-1][-1][-1] += data


def github(markdown: str) -> Tables:
    """summary.md as GitHub renders it (raw HTML such as <details> kept, as GitHub does)."""
    parsed = Tables()
    parsed.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    return parsed
