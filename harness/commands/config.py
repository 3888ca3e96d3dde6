"""The config table: ``[tool.keras-compat]`` in the nearest ``pyproject.toml``, or a
``keras-compat.toml``, searched upward from the current folder; its values are the defaults of
the command line, which overrides them.

A key of the table names an option (``pairings``, ``scenarios``, ``timeout``, ``jobs``, ``out``,
``cross``, ``expect``, ``expect_verdicts_only``, ``fail_on``, ``fail_on_claim_change``, ``unsafe_load``).
Folders and files in it are relative to the file's own folder. An unknown key, a wrong type or a
file that cannot be read is :class:`BadInput` naming the key and the file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.errors import BadInput
from harness.evidence.expect import parse_toml, verdict_list
from harness.evidence.model import Verdict
from harness.plan.cells import CROSS_MODES

TABLE = "tool.keras-compat"
OWN_FILE = "keras-compat.toml"


@dataclass(frozen=True)
class Config:
    """The table found (``path`` None: none), and its values by option (``dest``) name."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    def describe(self) -> str:
        """Which table of the file is in use, and the keys it sets."""
        table = "[tool.keras-compat]" if self.path is not None and self.path.name == "pyproject.toml" else "the whole file"
        named = {dest: key for key, (dest, _) in KEYS.items()}
        keys = ", ".join(sorted(named.get(dest, dest) for dest in self.values)) or "no keys"
        return f"{table}: {keys}"


def _strings(key: str, value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadInput(f"{where}: {key} must be a list of strings, e.g. {key} = [\"...\"].")
    if not value:  # it would silently mean the defaults
        raise BadInput(f"{where}: {key} is an empty list; name at least one, or leave the key out to use the defaults.")
    return list(value)


def _positive_number(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise BadInput(f"{where}: {key} must be a positive number of seconds.")
    return float(value)


def _positive_int(key: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadInput(f"{where}: {key} must be a positive whole number.")
    return value


def _text(key: str, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"{where}: {key} must be a string.")
    return value


def _cross(key: str, value: Any, where: str) -> str:
    if value not in CROSS_MODES:
        raise BadInput(f"{where}: {key} must be one of {', '.join(CROSS_MODES)}.")
    return str(value)


def _verdicts(key: str, value: Any, where: str) -> tuple[Verdict, ...]:
    if not isinstance(value, list):
        raise BadInput(f"{where}: {key} must be a list of verdicts, e.g. {key} = [\"crashed\", \"timeout\"].")
    return verdict_list(value, f"{where}: {key}")


def _flag(key: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"{where}: {key} must be true or false.")
    return value


#: Each key: the option (argparse ``dest``) it sets, and how its value is checked.
KEYS: dict[str, tuple[str, Callable[[str, Any, str], Any]]] = {
    "pairings": ("pairings", _strings),
    "scenarios": ("scenario_dirs", _strings),
    "timeout": ("timeout", _positive_number),
    "jobs": ("jobs", _positive_int),
    "out": ("out", _text),
    "cross": ("cross", _cross),
    "expect": ("expect", _text),
    "expect_verdicts_only": ("expect_verdicts_only", _flag),
    "fail_on": ("fail_on", _verdicts),
    "fail_on_claim_change": ("fail_on_claim_change", _flag),
    "unsafe_load": ("unsafe_load", _flag),
}
#: Options whose values are paths, taken relative to the config file's folder.
_PATHS = ("scenario_dirs", "out", "expect")


def find_config(start: Path | None = None) -> Config:
    """The nearest config table upward from ``start`` (default: the current folder)."""
    folder = (start or Path.cwd()).absolute()
    for candidate in [folder, *folder.parents]:
        own = candidate / OWN_FILE
        if own.is_file():
            return _read(own, own=True)
        project = candidate / "pyproject.toml"
        if project.is_file():
            found = _read(project, own=False)
            if found.path is not None:
                return found
    return Config()


def _read(path: Path, own: bool) -> Config:
    try:
        data = parse_toml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"The config file {str(path)!r} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise BadInput(f"The config file {str(path)!r} is not UTF-8 text.") from None
    except ValueError as exc:  # the TOML parser's error
        raise BadInput(f"The config file {str(path)!r} is not valid TOML ({exc}).") from None
    table = data if own else data.get("tool", {}).get("keras-compat")
    if table is None:
        return Config()
    where = str(path) if own else f"{path} [{TABLE}]"
    if not isinstance(table, dict):
        raise BadInput(f"{where}: [{TABLE}] must be a table.")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in KEYS:
            raise BadInput(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(KEYS))}.")
        dest, check = KEYS[key]
        values[dest] = check(key, value, where)
    return Config(path=path, values=values)


def apply_config(args: argparse.Namespace, config: Config, only: tuple[str, ...] | None = None) -> None:
    """Fill the options the command line left unset from the config table (paths made relative
    to the file's folder); what the command line gave wins. ``only`` limits it to those options."""
    for dest, value in config.values.items():
        given = getattr(args, dest, None)
        if given not in (None, []) or (only is not None and dest not in only):
            continue
        if dest in _PATHS and config.folder is not None:
            value = [config.folder / v for v in value] if isinstance(value, list) else config.folder / value
        if dest in ("pairings", "scenario_dirs") and not isinstance(value, list):
            value = [value]
        setattr(args, dest, value)
