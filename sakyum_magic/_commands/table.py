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
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from .._core.errors import ConfigurationError
from .._core.migrator import Migrator
from .options import OPTIONS as OPTIONS
from .options import Option as Option

if TYPE_CHECKING:
    from .._frontend.magic import MigrateMagics

Show = Callable[[Any, argparse.Namespace], Any]


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
    word starting with ``-`` is a flag written as it is, one starting with ``=`` a value, and
    ``name|value`` a positional's value or, when it is not given, that value), or a
    function of the result giving that form (plan's depends on its direction). ``unlike`` says in
    a few words how the nearest command differs, or what there is instead when there is none; both
    are shown under the result (:meth:`equivalent`). ``differs`` names options Alembic's command
    lacks, each with how the result differs when the option is given: the ``alembic`` line is then
    only the nearest command. ``cell`` names the parameter that the text of
    a ``%%migrate`` cell fills (None: the command is a line only).
    """

    name: str
    function: Callable[..., Any] | str
    show: Show | None = None
    positional: tuple[str, ...] = ()
    own_options: tuple[str, ...] = ()
    alembic: tuple[str, ...] | None = None
    nearest: tuple[str, ...] | Callable[[Any], tuple[str, ...]] | None = None
    unlike: str = ""
    differs: Mapping[str, str] = field(default_factory=dict)
    needs_metadata: Callable[[argparse.Namespace, Migrator], bool] = _never
    runs_env_py: bool = True
    on_session: bool = False
    after: Callable[[MigrateMagics, Any], None] | str | None = None
    cell: str | None = None

    def target(self) -> Callable[..., Any]:
        """The function the command calls (a ``"module:name"`` reference imported on first use)."""
        return _resolve(self.function)

    def run_after(self, magics: MigrateMagics, result: Any) -> None:
        """What the session does after the command succeeded (``init`` adopts its directory)."""
        if self.after is not None:
            _resolve(self.after)(magics, result)

    def parameters(self) -> list[inspect.Parameter]:
        """The function's parameters, without the first (the migrator or the session)."""
        return list(inspect.signature(self.target()).parameters.values())[1:]

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
        return self.target()(magics if self.on_session else magics.migrator, **values)


def _autogenerate(args: argparse.Namespace, migrator: Migrator) -> bool:
    """Autogenerate needs bound models with the env.py init writes; another env.py may bring its own
    target_metadata (Flask-Migrate's takes the app's). With a %%migrate cell there is nothing to
    compare: the core says so, not "which models?"."""
    from .._run.envrun import own_env

    return bool(args.autogenerate) and getattr(args, "body", None) is None and own_env(migrator.directory)


def _plan_nearest(plan: Any) -> tuple[str, ...]:
    """``alembic upgrade REV --sql``; for a downgrade, Alembic's offline form needs where it starts:
    ``alembic downgrade FROM:REV --sql``."""
    current: tuple[str, ...] = getattr(plan, "current", ())
    if getattr(plan, "command", "upgrade") == "downgrade" and len(current) == 1:
        return ("downgrade", f"={current[0]}:{plan.target}", "--sql")
    return ("upgrade", "revision", "--sql")


def _resolve(reference: Callable[..., Any] | str) -> Callable[..., Any]:
    """A function, or the one a ``"package.module:name"`` reference names (imported here, so that the
    table itself imports nothing above it)."""
    if callable(reference):
        return reference
    module, _, name = reference.partition(":")
    return cast(Callable[..., Any], getattr(import_module(module), name))


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in [
        Command(
            "config",
            "sakyum_magic._frontend.session:config",
            unlike="alembic reads these settings from alembic.ini and env.py",
            runs_env_py=False,
            on_session=True,
        ),
        Command(
            "init",
            Migrator.init,
            positional=("directory?",),
            alembic=("init", "directory"),
            differs={
                "refresh": "which refuses an existing directory; --refresh rewrites env.py, "
                "sakyum_env_support.py and sakyum_env_lock.py"
            },
            runs_env_py=False,
            after="sakyum_magic._frontend.session:adopt_directory",
        ),
        Command(
            "revision",
            Migrator.revision,
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
            positional=("revision?",),
            own_options=("verbose", "show_sql"),
            alembic=("upgrade", "sql", "tag", "revision"),
        ),
        Command(
            "downgrade",
            Migrator.downgrade,
            positional=("revision",),
            own_options=("verbose", "show_sql"),
            alembic=("downgrade", "sql", "tag", "revision"),
        ),
        Command(
            "current",
            Migrator.current,
            own_options=("verbose",),
            alembic=("current", "verbose"),
        ),
        Command(
            "history",
            Migrator.history,
            own_options=("verbose",),
            alembic=("history", "rev_range", "verbose", "indicate_current"),
        ),
        Command(
            "heads",
            Migrator.heads,
            own_options=("verbose",),
            alembic=("heads", "verbose", "resolve_dependencies"),
        ),
        Command(
            "branches",
            Migrator.branches,
            own_options=("verbose",),
            alembic=("branches", "verbose"),
        ),
        Command(
            "show",
            Migrator.show,
            positional=("rev",),
            alembic=("show", "rev"),
        ),
        Command(
            "stamp",
            Migrator.stamp,
            positional=("revision+",),
            own_options=("verbose", "show_sql"),
            alembic=("stamp", "sql", "tag", "purge", "revision"),
        ),
        Command(
            "merge",
            Migrator.merge,
            positional=("revisions+",),
            alembic=("merge", "message", "branch_label", "rev_id", "revisions"),
        ),
        Command(
            "check",
            Migrator.check,
            alembic=("check",),
            needs_metadata=_unless_lint,
        ),
        Command(
            "diff",
            Migrator.diff,
            positional=("tables*",),
            nearest=("check",),
            unlike="which fails when there are differences instead of listing them",
            needs_metadata=_always,
        ),
        Command(
            "plan",
            Migrator.plan,
            positional=("revision?",),
            nearest=_plan_nearest,
            unlike="offline SQL, where plan runs the steps in a transaction and rolls it back",
        ),
        Command(
            "lint",
            Migrator.lint,
            positional=("rev_range?",),
            nearest=("upgrade", "rev_range|heads", "--sql"),
            unlike="offline SQL, where lint reads each revision's SQL and the live table sizes",
        ),
        Command(
            "graph",
            Migrator.graph,
            nearest=("history",),
            unlike="which lists the revisions as text, without the branches drawn",
            runs_env_py=False,
        ),
        Command(
            "squash",
            Migrator.squash,
            positional=("start", "end"),
            unlike="Alembic has no squash; its recipes, a dump and re-stamp, break databases in the range",
        ),
        Command(
            "log",
            Migrator.log,
            unlike="Alembic keeps no record of when a revision was applied",
            runs_env_py=False,
        ),
        Command(
            "fleet",
            "sakyum_magic._frontend.fleet:fleet",
            positional=("targets", "action", "revision?"),
            unlike="Alembic migrates one database per run; its cookbook runs it once per tenant",
            on_session=True,
        ),
        Command(
            "schema",
            Migrator.schema_diagram,
            unlike="Alembic draws no schema; paracelsus writes the Mermaid text from a MetaData",
            needs_metadata=lambda args, migrator: bool(args.models or args.diff),
        ),
        Command(
            "test",
            Migrator.test,
            positional=("checks*",),
            unlike="pytest-alembic runs these checks under pytest",
        ),
    ]
}


def register_command(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    show: Show | None = None,
    positional: tuple[str, ...] = (),
    alembic: tuple[str, ...] | None = None,
    nearest: tuple[str, ...] | None = None,
    unlike: str = "",
    runs_env_py: bool = True,
) -> Command:
    """Add a ``%migrate`` subcommand without editing the table (as Alembic's
    ``CommandLine.register_command`` adds an ``alembic`` one).

    ``function`` takes the session's :class:`~sakyum_magic.Migrator` first; its other parameters
    become the subcommand's arguments (those named in ``positional`` by position, the rest as the
    options of the same name already declared), its docstring the help. ``show(result, args)`` turns
    its result into what the notebook shows (default: the result as it is). Without ``alembic`` or
    ``nearest``, ``unlike`` says why there is no ``alembic`` equivalent.
    """
    command = Command(
        name or function.__name__.replace("_", "-"),
        function,
        show=show,
        positional=positional,
        alembic=alembic,
        nearest=nearest,
        unlike=unlike or "a command added to this session",
        runs_env_py=runs_env_py,
    )
    if command.name in COMMANDS:
        raise ConfigurationError(f"%migrate {command.name} exists already: register it under another name")
    COMMANDS[command.name] = command
    return command
