"""The ``%migrate`` command table: every subcommand declared once.

A :class:`Command` names the function it calls (a :class:`~sakyum_magic._core.migrator.Migrator` method, or
for ``config`` a function of the session), which of that function's parameters are given by position, what
must be ready first, how its result is shown, and the ``alembic`` command line it corresponds to, or the
nearest one (the lines themselves are built by :mod:`sakyum_magic._commands.lines`). Its options are the
function's other parameters that have an entry in :data:`OPTIONS`, where each option is declared once with
Alembic's flag names, plus the magic's own (``-v``, ``--show-sql``; ``-x`` for every command that runs
env.py). Help is the function's docstring: the first line sums the command up, and each ``:param name:`` line
is that argument's help (as Alembic's ``CommandLine._generate_args`` derives its command line from
``alembic.command``).

The parser, ``%migrate?``, ``%migrate SUB -h`` (:mod:`sakyum_magic._frontend.parser`) and the dispatch
(:mod:`sakyum_magic._frontend.handlers`) are derived from :data:`COMMANDS`. To add a subcommand, write the
Migrator method, with a ``:param:`` line per parameter, and add one ``Command`` below.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .._core.migrator import Migrator
from .._display import render
from .._features.checks import render_checks
from .._frontend import fleet as fleet_line
from .._frontend import session
from .._guards.safety import Rename, parse_rename

if TYPE_CHECKING:
    from .._frontend.magic import MigrateMagics
    from .._schema.renames import TableRename

Show = Callable[[Any, argparse.Namespace], Any]


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


def _always(args: argparse.Namespace, migrator: Migrator) -> bool:
    return True


def _never(args: argparse.Namespace, migrator: Migrator) -> bool:
    return False


def _unless_lint(args: argparse.Namespace, migrator: Migrator) -> bool:
    """``check --lint`` lints first; the models are asked for only when it compares them."""
    return not getattr(args, "lint", False)


@dataclass(frozen=True)
class Command:
    """One ``%migrate`` subcommand.

    ``positional`` names the parameters given by position, each with argparse's ``nargs`` mark when
    it is not exactly one (``"revision?"``, ``"revisions+"``, ``"tables*"``). ``own_options`` are
    options of the magic that the function does not take (``verbose`` changes what is shown).
    ``alembic`` is the ``alembic`` subcommand followed by the arguments Alembic's command line has
    too, in the order the line shows them; None when Alembic has no such command. ``nearest``, for
    a command Alembic lacks, is the ``alembic`` command that comes closest, in the same form (a
    word starting with ``-`` is a flag written as it is, one starting with ``=`` a value), or a
    function of the result giving that form (plan's depends on its direction). ``unlike`` says in
    a few words how the nearest command differs, or what there is instead when there is none; both
    are shown under the result (:meth:`equivalent`). ``differs`` names options Alembic's command
    lacks, each with how the result differs when the option is given: the ``alembic`` line is then
    only the nearest command. ``cell`` names the parameter that the text of
    a ``%%migrate`` cell fills (None: the command is a line only).
    """

    name: str
    function: Callable[..., Any]
    show: Show
    positional: tuple[str, ...] = ()
    own_options: tuple[str, ...] = ()
    alembic: tuple[str, ...] | None = None
    nearest: tuple[str, ...] | Callable[[Any], tuple[str, ...]] | None = None
    unlike: str = ""
    differs: Mapping[str, str] = field(default_factory=dict)
    needs_metadata: Callable[[argparse.Namespace, Migrator], bool] = _never
    runs_env_py: bool = True
    on_session: bool = False
    after: Callable[[MigrateMagics, Any], None] | None = None
    cell: str | None = None

    def parameters(self) -> list[inspect.Parameter]:
        """The function's parameters, without the first (the migrator or the session)."""
        return list(inspect.signature(self.function).parameters.values())[1:]

    def positionals(self) -> dict[str, str | None]:
        """Each positional parameter with its nargs (None: exactly one)."""
        marks = {"?", "+", "*"}
        return {p.rstrip("?+*"): (p[-1] if p[-1] in marks else None) for p in self.positional}

    def option_names(self) -> list[str]:
        """The options, in order: the function's parameters that have one, then the magic's own."""
        taken = [p.name for p in self.parameters() if p.name in OPTIONS and p.name not in self.positionals()]
        names = [*taken, *(n for n in self.own_options if n not in taken)]
        return [*names, "x"] if self.runs_env_py else names

    def call(self, magics: MigrateMagics, args: argparse.Namespace) -> Any:
        """Call the function with the parsed arguments it takes."""
        given = vars(args)
        values = {p.name: given[p.name] for p in self.parameters() if p.name in given}
        return self.function(magics if self.on_session else magics.migrator, **values)

    def migrate_line(self, args: argparse.Namespace) -> str:
        """The parsed line as ``%migrate`` takes it (see :mod:`sakyum_magic._commands.lines`)."""
        from .lines import migrate_line

        return migrate_line(self, args)

    def alembic_line(
        self, args: argparse.Namespace, ini: str | None = None, bound: Mapping[str, Any] | None = None
    ) -> str:
        """The equivalent ``alembic`` command line, "" when there is none (see
        :mod:`sakyum_magic._commands.lines`)."""
        from .lines import alembic_line

        return alembic_line(self, args, ini, bound)

    def equivalent(
        self,
        args: argparse.Namespace,
        ini: str | None = None,
        bound: Mapping[str, Any] | None = None,
        result: Any = None,
    ) -> str:
        """The line shown under a result that names its ``alembic`` twin, the nearest, or none."""
        from .lines import equivalent

        return equivalent(self, args, ini, bound, result)


def _autogenerate(args: argparse.Namespace, migrator: Migrator) -> bool:
    """Autogenerate needs bound models with the env.py init writes; another env.py may bring its own
    target_metadata (Flask-Migrate's takes the app's). With a %%migrate cell there is nothing to
    compare: the core says so, not "which models?"."""
    from .._run.envrun import own_env

    return bool(args.autogenerate) and getattr(args, "body", None) is None and own_env(migrator.directory)


def _shown_with(function: Callable[..., Any]) -> Show:
    """Show a result with ``function(result, verbose=...)``."""
    return lambda result, args: function(result, verbose=bool(getattr(args, "verbose", False)))


def _show_migration(result: Any, args: argparse.Namespace) -> Any:
    """upgrade, downgrade and stamp: the steps, with each one's SQL under it when ``--show-sql`` asks."""
    return render.migration(result, verbose=bool(args.verbose), show_sql=bool(args.show_sql))


def _plan_nearest(plan: Any) -> tuple[str, ...]:
    """``alembic upgrade REV --sql``; for a downgrade, Alembic's offline form needs where it starts:
    ``alembic downgrade FROM:REV --sql``."""
    current: tuple[str, ...] = getattr(plan, "current", ())
    if getattr(plan, "command", "upgrade") == "downgrade" and len(current) == 1:
        return ("downgrade", f"={current[0]}:{plan.target}", "--sql")
    return ("upgrade", "revision", "--sql")


def _render_lint(result: Any) -> Any:
    from .._display.lint import lint

    return lint(result)


def _show_revisions(empty_note: str) -> Show:
    return lambda infos, args: render.revisions(infos, bool(args.verbose), empty_note)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in [
        Command(
            "config",
            session.config,
            lambda record, args: render.binding(record),
            unlike="alembic reads these settings from alembic.ini and env.py",
            runs_env_py=False,
            on_session=True,
        ),
        Command(
            "init",
            Migrator.init,
            lambda result, args: render.init(result),
            positional=("directory?",),
            alembic=("init", "directory"),
            runs_env_py=False,
            after=session.adopt_directory,
        ),
        Command(
            "revision",
            Migrator.revision,
            lambda result, args: render.new_revisions(result),
            alembic=(
                "revision",
                "autogenerate",
                "message",
                "sql",
                "head",
                "splice",
                "branch_label",
                "version_path",
                "rev_id",
                "depends_on",
            ),
            differs={
                "renames": "which writes a drop and an add where --rename writes a rename keeping the data",
                "table_renames": "which writes a drop and a create where --rename-table writes a rename",
            },
            needs_metadata=_autogenerate,
            cell="body",
        ),
        Command(
            "upgrade",
            Migrator.upgrade,
            _show_migration,
            positional=("revision?",),
            own_options=("verbose", "show_sql"),
            alembic=("upgrade", "sql", "tag", "revision"),
        ),
        Command(
            "downgrade",
            Migrator.downgrade,
            _show_migration,
            positional=("revision",),
            own_options=("verbose", "show_sql"),
            alembic=("downgrade", "sql", "tag", "revision"),
        ),
        Command(
            "current",
            Migrator.current,
            _shown_with(render.current),
            own_options=("verbose",),
            alembic=("current", "verbose"),
        ),
        Command(
            "history",
            Migrator.history,
            _shown_with(render.history),
            own_options=("verbose",),
            alembic=("history", "rev_range", "verbose", "indicate_current"),
        ),
        Command(
            "heads",
            Migrator.heads,
            _show_revisions(render.NO_REVISIONS),
            own_options=("verbose",),
            alembic=("heads", "verbose", "resolve_dependencies"),
        ),
        Command(
            "branches",
            Migrator.branches,
            _show_revisions("No branch points: no revision has more than one child."),
            own_options=("verbose",),
            alembic=("branches", "verbose"),
        ),
        Command(
            "show",
            Migrator.show,
            lambda infos, args: render.revisions(infos, verbose=True),
            positional=("rev",),
            alembic=("show", "rev"),
        ),
        Command(
            "stamp",
            Migrator.stamp,
            _show_migration,
            positional=("revision+",),
            own_options=("verbose", "show_sql"),
            alembic=("stamp", "sql", "tag", "purge", "revision"),
        ),
        Command(
            "merge",
            Migrator.merge,
            lambda result, args: render.new_revisions(result),
            positional=("revisions+",),
            alembic=("merge", "message", "branch_label", "rev_id", "revisions"),
        ),
        Command(
            "check",
            Migrator.check,
            lambda ops, args: render.check(ops),
            alembic=("check",),
            needs_metadata=_unless_lint,
        ),
        Command(
            "diff",
            Migrator.diff,
            lambda ops, args: render.diff(ops),
            positional=("tables*",),
            nearest=("check",),
            unlike="which fails when there are differences instead of listing them",
            needs_metadata=_always,
        ),
        Command(
            "plan",
            Migrator.plan,
            lambda result, args: render.plan(result),
            positional=("revision?",),
            nearest=_plan_nearest,
            unlike="offline SQL, where plan runs the steps in a transaction and rolls it back",
        ),
        Command(
            "lint",
            Migrator.lint,
            lambda result, args: _render_lint(result),
            positional=("rev_range?",),
            nearest=("upgrade", "revision", "--sql"),
            unlike="offline SQL, where lint reads each revision's SQL and the live table sizes",
        ),
        Command(
            "graph",
            Migrator.graph,
            lambda graph, args: graph,
            nearest=("history",),
            unlike="which lists the revisions as text, without the branches drawn",
            runs_env_py=False,
        ),
        Command(
            "log",
            Migrator.log,
            lambda entries, args: render.log(entries),
            unlike="Alembic keeps no record of when a revision was applied",
            runs_env_py=False,
        ),
        Command(
            "fleet",
            fleet_line.fleet,
            lambda result, args: render.fleet(result),
            positional=("targets", "action", "revision?"),
            unlike="Alembic migrates one database per run (its cookbook: run it once per tenant)",
            on_session=True,
        ),
        Command(
            "schema",
            Migrator.schema_diagram,
            lambda picture, args: picture,
            unlike="Alembic draws no schema; paracelsus writes the Mermaid text from a MetaData",
            needs_metadata=lambda args, migrator: bool(args.models or args.diff),
        ),
        Command(
            "test",
            Migrator.test,
            lambda results, args: render_checks(results),
            positional=("checks*",),
            unlike="pytest-alembic runs these checks under pytest",
        ),
    ]
}
