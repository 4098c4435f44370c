"""`robolearn --help` and `robolearn <command> --help`: every option with its default and meaning.

Options come from where the command reads them, so the help cannot drift from the code:
Hydra commands (train, fleet, bc) list their composed config (with any overrides given
before `--help`), each field's meaning taken from the comment beside it in its dataclass;
the other commands list the defaults they pass to `parse_overrides`.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

HELP_FLAGS = ("--help", "-h")
FIELD = re.compile(r"^\s+(\w+)\s*:[^=#]+(?:=[^#]*)?(?:#\s*(.*))?$")


class HelpRequested(Exception):
    """Raised where a command reads its options, carrying them, when `--help` is among its arguments."""

    def __init__(self, options: Any):
        super().__init__("help requested")
        self.options = options


def wants_help(args: list[str]) -> bool:
    return any(arg in HELP_FLAGS for arg in args)


@cache
def field_comments(cls: type) -> dict[str, str]:
    """A dataclass field's comment: the one on its line, else the comment lines just above it."""
    comments, above = {}, []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = FIELD.match(line)
        if match:
            comments[match.group(1)] = match.group(2) or " ".join(above)
        above = []
    for base in cls.__mro__[1:]:
        if is_dataclass(base):
            comments = field_comments(base) | comments
    return comments


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return "null" if value is None else str(value)


def option_lines(options: Any, prefix: str = "") -> list[str]:
    """`key=default  meaning` for a dataclass (nested ones flattened as a.b) or a dict of defaults."""
    if is_dataclass(options):
        comments = field_comments(type(options))
        items = [(f.name, getattr(options, f.name), comments.get(f.name, "")) for f in fields(options)]
    else:
        items = [(key, value, "") for key, value in options.items()]
    lines = []
    for key, value, meaning in items:
        if is_dataclass(value):
            lines += option_lines(value, f"{prefix}{key}.")
            continue
        entry = f"  {prefix}{key}={format_value(value)}"
        lines.append(f"{entry:44s} {meaning}".rstrip() if meaning else entry)
    return lines


def command_usage(doc: str, command: str) -> str:
    """The command's block of the CLI's docstring (its usage lines and summary)."""
    lines, block = doc.splitlines(), []
    for line in lines:
        if re.match(rf"^    robolearn {command}\b", line):
            block = [line]
        elif block and (line.startswith("     ") and not line.strip().startswith("robolearn ")):
            block.append(line)
        elif block:
            break
    return "\n".join(block)


def group_choices(config_dir: Any, options: Any) -> list[str]:
    """Config groups a Hydra command takes (`policy=moe`), from the files under configs/<group>/."""
    names = {f.name for f in fields(options)} if is_dataclass(options) else set()
    return [f"  {group.name}: {' | '.join(sorted(p.stem for p in group.glob('*.yaml')))}"
            for group in sorted(config_dir.iterdir()) if group.is_dir() and group.name in names]
