"""What ``%migrate`` does with a line: parse it, ready what the command needs, call it, show the result.

Every step is read from the command table (:mod:`sakyum_magic._commands.table`). Kept apart from
:mod:`sakyum_magic._frontend.magic` so that ``%load_ext`` imports none of this (nor Alembic, SQLAlchemy or
pandas) until the first ``%migrate``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError

from .._commands import lines
from .._commands.table import COMMANDS, Command
from .._core.errors import (
    DropRefusedError,
    LintError,
    MigrationError,
    MultipleHeadsError,
    PendingChangesError,
    SakyumError,
)
from .._core.migrator import Migrator
from .._display import render, shows
from .._display.results import ResultFrame, ResultText
from .._features.graph import RevisionGraph
from . import session
from .parser import HelpRequested, build_parser, parse_line

if TYPE_CHECKING:
    from .magic import MigrateMagics as Magics


def parser() -> argparse.ArgumentParser:
    """The %migrate parser, built once per set of commands (a registered command adds one)."""
    return _parser(tuple(COMMANDS))


@cache
def _parser(_names: tuple[str, ...]) -> argparse.ArgumentParser:
    return build_parser()


def run_line(magics: Magics, line: str, cell: str | None = None) -> Any:
    """Parse ``line``, run its command, and return what to display; errors become a UsageError.

    ``cell`` is the text under a ``%%migrate`` line, for the parameter the command takes it in.
    """
    try:
        args = parse_line(parser(), line)
    except HelpRequested as asked:
        return render.preformatted(asked.text)
    command = COMMANDS[args.command]
    if cell is not None:
        _take_cell(command, args, cell)
    with session.one_evaluation(magics):
        result = _run(magics, command, args)
    show = command.show or (lambda result, args: shows.shown(command.name, result, args))
    shown = show(result, args)
    # Also any other shape that takes a footer (the ER picture of %migrate schema).
    if isinstance(shown, ResultFrame | ResultText | RevisionGraph) or hasattr(type(shown), "describe_with"):
        bound = {"directory": magics.directory}  # what init without DIR made, for `alembic init DIR`
        shown.describe_with(
            command=("%" if cell is not None else "") + lines.migrate_line(command, args),
            alembic=lines.alembic_line(command, args, magics.ini, bound),
            equivalent=lines.equivalent(command, args, magics.ini, bound, result),
            show_cli=magics.show_cli,
        )
    return shown


def _take_cell(command: Command, args: argparse.Namespace, cell: str) -> None:
    """The cell's text goes to the command's cell parameter; a line-only command refuses a cell."""
    if command.cell is None:
        takes = ", ".join(["models", *(c.name for c in COMMANDS.values() if c.cell is not None)])
        raise UsageError(
            f"%%migrate {command.name} takes no cell: run it as a line (%migrate {command.name}); "
            f"%%migrate cells are {takes}"
        )
    # A blank first line: the line numbers of the text are the cell's, where the %%migrate line is 1.
    setattr(args, command.cell, "\n" + cell)


def _run(magics: Magics, command: Command, args: argparse.Namespace) -> Any:
    """Call the command; the core's errors become one-line UsageErrors, with a table where it helps."""
    migrator = magics.migrator
    try:
        with migrator.no_new_database_on_error():
            if command.runs_env_py:
                session.note_older_env(magics)
            if command.needs_metadata(args, migrator):
                session.require_metadata(magics)
            with _x_arguments(migrator, args.x if command.runs_env_py else ()):
                result = command.call(magics, args)
            command.run_after(magics, result)
            return result
    except SakyumError as exc:
        _explain(magics, exc, bool(getattr(args, "show_sql", False)))
        if magics.tracebacks:
            raise  # Alembic's --raiseerr: the whole chain, this package's frames included
        raise UsageError(str(exc)) from None


def _explain(magics: Magics, exc: SakyumError, show_sql: bool) -> None:
    """What is shown above a core error's one line: the table that helps, or what a failed run did."""
    if isinstance(exc, PendingChangesError):
        session.show(magics, render.diff(exc.operations or []))
    elif isinstance(exc, DropRefusedError):
        session.show(magics, render.refused(exc.operations or []))
    elif isinstance(exc, LintError):
        from .._display.lint import lint

        session.show(magics, lint(exc.result))
    elif isinstance(exc, MultipleHeadsError):
        session.show(magics, render.heads_way_out(magics.migrator.heads(), exc.heads))
    elif isinstance(exc, MigrationError):
        _show_log(magics, exc.result, show_sql)
        if exc.user_traceback and not magics.tracebacks:  # the revision's own frames, not this package's
            session.show(magics, render.preformatted(exc.user_traceback))


def _show_log(magics: Magics, result: Any, show_sql: bool) -> None:
    """After a failed run: what was applied before the failure, with Alembic's log of the run (and
    each applied step's SQL, with ``--show-sql``)."""
    if getattr(result, "log", ()):
        session.show(magics, render.migration(result, verbose=True, show_sql=show_sql))


@contextmanager
def _x_arguments(migrator: Migrator, values: list[str] | tuple[str, ...]) -> Iterator[None]:
    """``-x KEY=VALUE`` for env.py (``context.get_x_argument()``), for the duration of one command."""
    held = cast(Any, migrator)
    before = getattr(held, "x_arguments", ())
    held.x_arguments = tuple(values)
    try:
        yield
    finally:
        held.x_arguments = before
