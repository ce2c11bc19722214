"""How each ``%migrate`` command's result is shown: the display side of the command table.

The command table (:mod:`sakyum_magic._commands.table`) is data and imports no display code (nor
pandas); the front end looks up here, by command name, the function that turns a command's result
into what the notebook shows. A command added with :func:`~sakyum_magic.register_command` brings its
own, or shows its result as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from . import render

Show = Callable[[Any, argparse.Namespace], Any]


def _verbose(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "verbose", False))


def _migration(result: Any, args: argparse.Namespace) -> Any:
    """upgrade, downgrade and stamp: the steps, with each one's SQL under it when ``--show-sql`` asks."""
    return render.migration(result, verbose=_verbose(args), show_sql=bool(getattr(args, "show_sql", False)))


def _revisions(empty_note: str) -> Show:
    return lambda infos, args: render.revisions(infos, _verbose(args), empty_note)


def _lint(result: Any, args: argparse.Namespace) -> Any:
    from .lint import lint

    return lint(result)


def _checks(results: Any, args: argparse.Namespace) -> Any:
    from .._features.checks import render_checks

    return render_checks(results)


def _squashed(done: Any, args: argparse.Namespace) -> Any:
    """squash: what was replaced and where it went, then the new file."""
    verb = "written" if done.written else "would be written (--sql: nothing was changed)"
    head = f"Revision {done.revision} {verb}: {done.path}, replacing {len(done.replaced)} revisions"
    kept = f"; their files are in {done.kept_in}" if done.written else ""
    proof = "The new chain builds the same schema as the old one (proved on a scratch database)."
    return render.preformatted(f"{head}{kept}.\n{proof}\n\n{done.source}")


NO_BRANCHES = "No branch points: no revision has more than one child."

SHOWS: dict[str, Show] = {
    "config": lambda record, args: render.binding(record),
    "init": lambda result, args: render.init(result),
    "revision": lambda result, args: render.new_revisions(result),
    "upgrade": _migration,
    "downgrade": _migration,
    "stamp": _migration,
    "current": lambda result, args: render.current(result, verbose=_verbose(args)),
    "history": lambda result, args: render.history(result, verbose=_verbose(args)),
    "heads": _revisions(render.NO_REVISIONS),
    "branches": _revisions(NO_BRANCHES),
    "show": lambda infos, args: render.revisions(infos, verbose=True),
    "merge": lambda result, args: render.new_revisions(result),
    "check": lambda ops, args: render.check(ops),
    "diff": lambda ops, args: render.diff(ops),
    "plan": lambda result, args: render.plan(result),
    "lint": _lint,
    "log": lambda entries, args: render.log(entries),
    "fleet": lambda result, args: render.fleet(result),
    "test": _checks,
    "squash": _squashed,
}


def register_show(name: str, show: Show) -> None:
    """Show the results of command ``name`` with ``show(result, args)``."""
    SHOWS[name] = show


def shown(name: str, result: Any, args: argparse.Namespace) -> Any:
    """What the notebook shows for ``result`` of command ``name``: the result itself when the command
    has no show function (a graph, or a result that displays itself)."""
    show = SHOWS.get(name)
    return result if show is None else show(result, args)
