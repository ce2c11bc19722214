"""The two command lines a result carries: the ``%migrate`` line that made it, and the ``alembic``
command that does the same (or the nearest one, or a word that there is none).

Both are derived from a :class:`~sakyum_magic._commands.table.Command` of the table and the parsed line: the
``%migrate`` line lists the command's positionals and options (those left at their defaults left out); the
``alembic`` line takes the names in ``Command.alembic`` (or ``Command.nearest``), in that order, with
Alembic's flags. Neither ever holds a password: a URL, and any ``-x`` value that holds one, is masked,
and so is a password typed into any other word (a ``-m`` message quoting a URL).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_text, mask_url
from .options import OPTIONS

if TYPE_CHECKING:
    from .table import Command

DEFAULT_INI = "alembic.ini"


def migrate_line(command: Command, args: argparse.Namespace) -> str:
    """The parsed line as ``%migrate`` takes it, options at their defaults left out."""
    names = [*command.positionals(), *command.option_names()]
    return shlex.join(["%migrate", command.name, *map(mask_text, _words(command, names, args))])


def alembic_line(
    command: Command, args: argparse.Namespace, ini: str | None = None, bound: Mapping[str, Any] | None = None
) -> str:
    """The equivalent ``alembic`` command line ("" when there is none).

    ``bound`` gives the session's values of the positionals the line leaves out (``init``'s
    directory), which the ``alembic`` command needs spelled out. Options that take a value use
    their short flag (``-m``, ``-r``), as the ``alembic`` command is usually typed.
    """
    return _alembic_words(command, command.alembic, args, ini, bound or {})


def equivalent(
    command: Command,
    args: argparse.Namespace,
    ini: str | None = None,
    bound: Mapping[str, Any] | None = None,
    result: Any = None,
) -> str:
    """The line shown under a result: the ``alembic`` command that does the same, the nearest one,
    or that there is none; the command itself between backquotes. A ``nearest`` that depends on
    the result (plan's, by direction) is given ``result``."""
    exact = alembic_line(command, args, ini, bound)
    differs = [text for name, text in command.differs.items() if getattr(args, name, None)]
    if exact and differs:
        return f"nearest alembic command: `{exact}` ({'; '.join(differs)})"
    if exact:
        return f"alembic equivalent: `{exact}`"
    unlike = f" ({command.unlike})" if command.unlike else ""
    shape = command.nearest(result) if callable(command.nearest) else command.nearest
    nearest = _alembic_words(command, shape, args, ini, bound or {})
    if nearest:
        return f"nearest alembic command: `{nearest}`{unlike}"
    return f"no alembic equivalent{unlike}"


def _alembic_words(
    command: Command,
    shape: tuple[str, ...] | None,
    args: argparse.Namespace,
    ini: str | None,
    bound: Mapping[str, Any],
) -> str:
    if shape is None:
        return ""
    words = ["alembic"]
    if ini and ini != DEFAULT_INI:
        words += ["-c", ini]
    words += _option_words("x", getattr(args, "x", None) or [])
    subcommand, *names = shape
    said = _words(command, names, args, bound, short=True)
    return shlex.join([*words, subcommand, *map(mask_text, said)])


def _words(
    command: Command,
    names: list[str],
    args: argparse.Namespace,
    bound: Mapping[str, Any] | None = None,
    short: bool = False,
) -> list[str]:
    positionals = command.positionals()
    defaults = {p.name: p.default for p in command.parameters()}
    words: list[str] = []
    for name in names:
        if name.startswith("-"):  # a flag of the nearest alembic command, written as it is
            words.append(name)
            continue
        if name.startswith("="):  # a value the result gave, written as it is
            words.append(name[1:])
            continue
        name, _, fallback = name.partition("|")  # "rev_range|heads": the value given, else "heads"
        value = getattr(args, name, None)
        if name in positionals:
            value = (bound or {}).get(name) if value is None else value
            value = fallback or None if value is None else value
            values = value if isinstance(value, list | tuple) else [value]
            words += [str(v) for v in values if v is not None]
        elif value != defaults.get(name):
            words += _option_words(name, value, short)
    return words


def _option_words(name: str, value: Any, short: bool = False) -> list[str]:
    """The words of one option; ``short``: its first flag when it takes a value (``-m MESSAGE``)."""
    flags = OPTIONS[name].flags
    if value is True:
        return [flags[-1]]
    if value is None or value is False or value == []:
        return []
    flag = flags[0] if short else flags[-1]
    if name == "url":
        return [flag, mask_url(value) if value else value]
    if not isinstance(value, list):
        return [flag, str(value)]
    if name == "x":  # an env.py argument may carry a URL or a password
        return [word for v in value for word in (flag, mask_text(str(v)))]
    if OPTIONS[name].settings.get("action") == "append":
        return [word for v in value for word in (flag, str(v))]
    return [flag, *map(str, value)]
