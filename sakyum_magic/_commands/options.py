"""Every option of ``%migrate``, declared once with Alembic's flag names (see :mod:`.table`).

Keyed by the name of the parameter each fills, which is also the parsed argument's name; the
options of the magic itself (``-v``, ``--show-sql``, ``-x``) fill no parameter and carry their help.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .._guards.safety import Rename, parse_rename

if TYPE_CHECKING:
    from .._schema.renames import TableRename


@dataclass(frozen=True)
class Option:
    """A command-line option: its flags and argparse settings.

    Its help is the ``:param:`` line of the parameter it fills; ``help`` here is for the options of
    the magic itself, which fill no parameter.
    """

    flags: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    help: str = ""


def option(*flags: str, help: str = "", **settings: Any) -> Option:
    """An :class:`Option`; ``settings`` are ``ArgumentParser.add_argument`` keywords."""
    return Option(flags, settings, help)


def _rename(value: str) -> Rename:
    try:
        return parse_rename(value)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _table_rename(value: str) -> TableRename:
    from .._schema.renames import parse_table_rename

    try:
        return parse_table_rename(value)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# Keyed by the name of the parameter each fills (also the parsed argument's name).
OPTIONS: dict[str, Option] = {
    "message": option("-m", "--message"),
    "autogenerate": option("--autogenerate", action="store_true"),
    "sql": option("--sql", action="store_true"),
    "tag": option("--tag"),
    "head": option("--head"),
    "splice": option("--splice", action="store_true"),
    "branch_label": option("--branch-label"),
    "version_path": option("--version-path"),
    "rev_id": option("--rev-id"),
    "depends_on": option("--depends-on"),
    "allow_drop": option("--allow-drop", action="store_true"),
    "renames": option("--rename", action="append", type=_rename, metavar="TABLE.OLD:NEW", default=[]),
    "table_renames": option(
        "--rename-table", action="append", type=_table_rename, metavar="OLD:NEW", default=[]
    ),
    "purge": option("--purge", action="store_true"),
    "refresh": option("--refresh", action="store_true"),
    "rev_range": option("-r", "--rev-range"),
    "indicate_current": option("-i", "--indicate-current", action="store_true"),
    "resolve_dependencies": option("--resolve-dependencies", action="store_true"),
    "schema": option("--schema"),
    "include_schemas": option("--include-schemas", action="store_true"),
    "url": option("--url"),
    "metadata": option("--metadata", nargs="+", metavar="EXPR"),
    "directory": option("--dir", metavar="DIR"),
    "ini": option("--ini", metavar="PATH"),
    "show_all": option("--all", action="store_true"),
    "limit": option("-n", "--limit", type=int, metavar="N"),
    "single_head": option("--single-head", action="store_true"),
    "since": option("--since", metavar="REV"),
    "locks": option("--locks", action="store_true"),
    "lock_timeout": option("--lock-timeout", metavar="DURATION"),
    "statement_timeout": option("--statement-timeout", metavar="DURATION"),
    "retries": option("--retries", type=int, metavar="N", default=0),
    "retry_delay": option("--retry-delay", type=float, metavar="SECONDS", default=1.0),
    "allow_lint": option("--allow-lint", action="store_true"),
    "online": option("--online", action="store_true"),
    "lint": option("--lint", action="store_true"),
    "large": option("--large", type=int, metavar="ROWS", default=0),
    "executor": option("--executor", choices=("process", "dask")),
    "canary": option("--canary", type=int, metavar="N"),
    "parallel": option("--parallel", type=int, metavar="K"),
    "max_failures": option("--max-failures", type=int, metavar="F"),
    "continue_on_error": option("--continue-on-error", action="store_true"),
    "models": option("--models", action="store_true"),
    "at": option("--at", metavar="REV"),
    "diff": option("--diff", action="store_true"),
    "table_pattern": option("--tables", metavar="PATTERN"),
    # The magic's own options: they fill no parameter of the function.
    "verbose": option(
        "-v",
        "--verbose",
        action="store_true",
        help="more detail: the revisions' depends_on and doc columns; Alembic's log lines of a run",
    ),
    "show_sql": option(
        "--show-sql",
        action="store_true",
        help="show the SQL each step ran, under that step (the result's .sql holds it in any case)",
    ),
    "x": option(
        "-x",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argument for env.py, read there with context.get_x_argument() (repeatable)",
    ),
}
