"""The command table: each subcommand declared once; parser, help, dispatch and results derived from it."""

from __future__ import annotations

import argparse
import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError

from sakyum_magic import Migrator, Operation, ResultFrame, ResultText
from sakyum_magic._commands import lines as command_lines
from sakyum_magic._commands.table import COMMANDS, OPTIONS, Command
from sakyum_magic._display import render
from sakyum_magic._frontend.parser import (
    HelpRequested,
    arguments,
    build_parser,
    param_help,
    parse_line,
    summary,
    typed_flags,
)
from tests.models import USERS, USERS_AND_POSTS
from tests.revisions import write
from tests.shells import migrate, one_line_error

RUNS_NO_ENV_PY = {"config", "init", "graph", "log"}


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


def help_of(parser: argparse.ArgumentParser, line: str) -> str:
    """The help text with all whitespace taken out (argparse wraps lines, at hyphens too)."""
    with pytest.raises(HelpRequested) as shown:
        parse_line(parser, line)
    return squeezed(shown.value.text)


def squeezed(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
def test_help_is_the_docstring_written_once(parser: argparse.ArgumentParser, command: Command) -> None:
    shown = help_of(parser, f"{command.name} -h")
    assert summary(command.target()) and squeezed(summary(command.target(), typed_flags(command))) in shown
    helps = param_help(command.target())
    for parameter in command.parameters():
        if parameter.name == command.cell:  # the text of a %%migrate cell, not an option of the line
            assert helps.get(parameter.name), f"{command.name}: no :param {parameter.name}: line"
            continue
        exposed = parameter.name in command.positionals() or parameter.name in OPTIONS
        assert exposed, f"{command.name}: parameter {parameter.name} has no option in cli.OPTIONS"
        if parameter.name != "verbose":  # a parameter of the magic, not of the core
            assert helps.get(parameter.name), f"{command.name}: no :param {parameter.name}: line"
            assert squeezed(helps[parameter.name]) in shown


@pytest.mark.parametrize("command", COMMANDS.values(), ids=list(COMMANDS))
def test_an_option_help_does_not_repeat_its_flag(command: Command) -> None:
    """The help line sits beside its flag: "(--at REV)" after it says nothing more."""
    for flags, settings in arguments(command):
        metavar = settings.get("metavar", "")
        for flag in flags:
            assert f"({flag})" not in settings["help"] and f"({flag} {metavar})" not in settings["help"], flag


def test_the_overview_lists_every_command(shell: Any) -> None:
    doc = shell.magics_manager.magics["line"]["migrate"].__doc__
    for name, command in COMMANDS.items():
        assert name in doc and summary(command.target()).split()[0] in doc


def test_each_shared_option_is_declared_once(parser: argparse.ArgumentParser) -> None:
    flags = [flag for option in OPTIONS.values() for flag in option.flags]
    assert len(flags) == len(set(flags))
    assert parse_line(parser, "revision -m one").message == "one"
    assert parse_line(parser, "merge heads -m two").message == "two"
    assert squeezed("the revision's message") in help_of(parser, "revision -h")
    assert squeezed("the merge revision's message") in help_of(parser, "merge -h")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_x_is_taken_by_every_command_that_runs_env_py(parser: argparse.ArgumentParser, name: str) -> None:
    line = {"downgrade": "downgrade -1", "show": "show head", "stamp": "stamp head", "merge": "merge heads"}
    line["fleet"] = "fleet tenants upgrade"
    line["squash"] = "squash r1 r2"
    words = line.get(name, name)
    if name in RUNS_NO_ENV_PY:
        with pytest.raises(UsageError, match="unrecognized arguments: -x"):
            parse_line(parser, f"{words} -x a=1")
    else:
        assert parse_line(parser, f"{words} -x a=1 -x b=two").x == ["a=1", "b=two"]


def test_the_equivalent_alembic_command_line(parser: argparse.ArgumentParser) -> None:
    def lines(text: str, ini: str | None = None) -> tuple[str, str]:
        args = parse_line(parser, text)
        command = COMMANDS[args.command]
        return command_lines.migrate_line(command, args), command_lines.alembic_line(command, args, ini)

    assert lines("upgrade") == ("%migrate upgrade head", "alembic upgrade head")
    assert lines("upgrade +1 --sql --tag t -x a=1 -v --show-sql") == (
        "%migrate upgrade +1 --sql --tag t --verbose --show-sql -x a=1",
        "alembic -x a=1 upgrade --sql --tag t +1",
    )
    assert lines("revision -m 'two words' --autogenerate --allow-drop", ini="pyproject.toml") == (
        "%migrate revision --message 'two words' --autogenerate --allow-drop",
        "alembic -c pyproject.toml revision --autogenerate -m 'two words'",
    )
    assert (
        lines("history -r base:head -v -i")[1] == "alembic history -r base:head --verbose --indicate-current"
    )
    assert lines("stamp a b --purge")[1] == "alembic stamp --purge a b"
    assert lines("diff users")[1] == "" and lines("plan")[1] == ""
    secret, alembic = lines("config --url postgresql+psycopg://app:hunter2@db/app")
    assert "hunter2" not in secret and "app:***@db/app" in secret and alembic == ""


def test_init_without_a_directory_names_the_bound_one(parser: argparse.ArgumentParser) -> None:
    init = COMMANDS["init"]
    assert (
        command_lines.alembic_line(init, parse_line(parser, "init"), bound={"directory": "alembic"})
        == "alembic init alembic"
    )
    given = parse_line(parser, "init migrations")
    bound = {"directory": "alembic"}
    assert command_lines.alembic_line(init, given, bound=bound) == "alembic init migrations"
    assert command_lines.migrate_line(init, parse_line(parser, "init")) == "%migrate init"


def test_each_command_names_its_alembic_twin_the_nearest_or_none(parser: argparse.ArgumentParser) -> None:
    def equivalent(text: str) -> str:
        args = parse_line(parser, text)
        return command_lines.equivalent(COMMANDS[args.command], args)

    assert equivalent("current -v") == "alembic equivalent: `alembic current --verbose`"
    assert equivalent("diff users").startswith("nearest alembic command: `alembic check` (")
    assert equivalent("plan").startswith("nearest alembic command: `alembic upgrade head --sql` (")
    assert equivalent("plan abc1").startswith("nearest alembic command: `alembic upgrade abc1 --sql` (")
    # Alembic's upgrade needs its revision even offline: lint's range, else every head.
    assert equivalent("lint").startswith("nearest alembic command: `alembic upgrade heads --sql` (")
    assert "`alembic upgrade abc1:abc3 --sql`" in equivalent("lint abc1:abc3")
    assert equivalent("test") == "no alembic equivalent (pytest-alembic runs these checks under pytest)"
    assert equivalent("graph").startswith("nearest alembic command: `alembic history` (")
    for name in ("log", "config"):
        assert equivalent(name).startswith("no alembic equivalent (")
    for name, command in COMMANDS.items():  # every command says something, from the table alone
        assert command.alembic is not None or command.nearest is not None or command.unlike, name
        # shown between parentheses: no parentheses inside them
        assert "(" not in command.unlike and not any("(" in text for text in command.differs.values()), name
    refresh = equivalent("init --refresh")
    assert "sakyum_env_support.py" in refresh and "sakyum_env_lock.py" in refresh, refresh


def test_env_py_arguments_are_masked_in_both_lines(parser: argparse.ArgumentParser) -> None:
    args = parse_line(parser, "diff -x url=postgresql+psycopg://app:hunter2@db/app -x password=hunter2")
    command = COMMANDS["diff"]
    shown = [command_lines.migrate_line(command, args), command_lines.equivalent(command, args)]
    assert all("hunter2" not in line and "app:***@db/app" in line for line in shown), shown
    assert "`alembic -x 'url=postgresql+psycopg://app:***@db/app' -x 'password=***' check`" in shown[1]


# -- every result of every command is a DataFrame, with and without data -------------------------

# Run in this order from an empty directory and database: (command, line, whether rows come back).
SEQUENCE = [
    ("config", "config", True),
    ("upgrade", "upgrade", False),  # creates the database file, which read-only commands need
    ("history", "history", False),
    ("heads", "heads", False),
    ("branches", "branches", False),
    ("current", "current", False),
    ("downgrade", "downgrade base", False),
    ("diff", "diff", True),
    ("revision", "revision -m empty --rev-id r1", False),  # no operations; the written revision attached
    ("lint", "lint", False),
    ("upgrade", "upgrade", True),
    ("revision", "revision --autogenerate -m users --rev-id r2", True),
    ("plan", "plan", True),
    ("upgrade", "upgrade", True),
    ("current", "current -v", True),
    ("history", "history -v -i", True),
    ("heads", "heads -v", True),
    ("show", "show head", True),
    ("diff", "diff", False),
    ("check", "check", False),
    ("plan", "plan", False),
    ("stamp", "stamp head", False),
    ("downgrade", "downgrade -1", True),
    ("stamp", "stamp head", True),
    ("revision", "revision -m branch --head r1 --splice --rev-id r3", False),
    ("branches", "branches", True),
    ("merge", "merge heads -m joined --rev-id r4", False),
    ("log", "log", True),
    ("test", "test", True),
    ("fleet", "fleet \"['sqlite:///fleet.db']\" current --parallel 1", True),
]
# Commands that cannot give both: config always shows its one row; show of nothing is an error; a
# merge has no operations of its own; a check with differences raises (its table is shown, below);
# the log has rows once anything ran; init returns text, graph a drawing. On SQLite lint finds only batch
# mode's rebuilds, which no line here writes (tests/test_lint.py has them, with rows).
ONE_KIND_ONLY = {
    **{"config": True, "show": True, "merge": False, "check": False, "log": True, "test": True},
    "lint": False,
    "fleet": True,  # a fleet has one row per target, and no targets is an error
}
TEXT_RESULTS = {"init", "graph", "schema", "squash"}  # text or drawings (graph.frames(), schema.tables)


def test_the_sequence_covers_the_whole_table() -> None:
    seen = {(name, rows) for name, _, rows in SEQUENCE}
    for name in COMMANDS:
        if name in TEXT_RESULTS:
            continue
        wanted = {ONE_KIND_ONLY[name]} if name in ONE_KIND_ONLY else {True, False}
        assert {rows for n, rows in seen if n == name} == wanted, name


@contextmanager
def published(shell: Any) -> Iterator[list[dict[str, Any]]]:
    """What the shell displays before a command's own result (the table behind an error)."""
    shown: list[dict[str, Any]] = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, **_: shown.append(data)
    try:
        yield shown
    finally:
        shell.display_pub.publish = original


def test_every_result_is_a_dataframe_with_and_without_rows(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    assert isinstance(migrate(shell, "init"), ResultText)
    for name, line, rows in SEQUENCE:
        result = migrate(shell, line)
        assert isinstance(result, pd.DataFrame) and isinstance(result, ResultFrame), line
        assert len(result.columns) > 0 and result.empty is not rows, line
        assert result.command.startswith(f"%migrate {name}"), line
        text, page = repr(result), result._repr_html_()
        if not rows:  # the note says why there is nothing (wrapped at word boundaries in the text form)
            assert result.empty_note in " ".join(text.split()) and html.escape(result.empty_note) in page, (
                line
            )
    merged = migrate(shell, "history -r r4:r4")
    assert list(merged["revision"]) == ["r4"] and bool(merged.loc[0, "is_merge"])
    shell.run_cell(USERS_AND_POSTS)
    migrate(shell, "upgrade heads")
    with published(shell) as shown:
        one_line_error(shell, "check")
    assert "posts" in shown[0]["text/plain"] and "<table" in shown[0]["text/html"]


def test_results_describe_themselves(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    write(
        workdir / "alembic",
        "a1",
        None,
        "op.create_table('t', sa.Column('id', sa.Integer))",
        "op.drop_table('t')",
    )
    nothing = migrate(shell, "downgrade base")
    assert "Nothing to do" in repr(nothing) and "Nothing to do" in nothing._repr_html_()
    steps = migrate(shell, "upgrade")
    assert steps.title.startswith("upgrade head: 1 step") and "CREATE TABLE t" in steps.sql
    assert steps.alembic == "alembic upgrade head" and "%migrate upgrade head" in repr(steps)
    assert (
        "CREATE TABLE t" not in repr(steps) and "<details>" not in steps._repr_html_()
    )  # --show-sql shows it
    assert steps.log_lines == ()  # Alembic's log comes with -v
    down = migrate(shell, "downgrade base -v")
    assert down.log_lines and all(line in repr(down) for line in down.log_lines)
    assert "Alembic&#x27;s log" in down._repr_html_() and "DROP TABLE t" in down.sql


# -- a new subcommand is one table entry -----------------------------------------------------------

SEEN: list[tuple[str, ...]] = []


def env_arguments(migrator: Migrator, table: str | None = None) -> list[Operation]:
    """List what env.py would be given with -x (a subcommand made for this test).

    :param table: only this table.
    """
    SEEN.append(getattr(migrator, "x_arguments", ()))
    return [Operation("x", None, table, None, value) for value in getattr(migrator, "x_arguments", ())]


def test_a_new_subcommand_is_one_table_entry(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command added to the table alone gets its parser, help, dispatch and display."""
    entry = Command("xargs", env_arguments, lambda ops, args: render.diff(ops), positional=("table?",))
    monkeypatch.setitem(COMMANDS, "xargs", entry)  # the parser follows the table: no cache to clear
    SEEN.clear()
    shown = migrate(shell, "xargs -h")
    assert "List what env.py would be given with -x" in shown and "only this table" in shown
    listed = migrate(shell, "xargs users -x a=1 -x b=2")
    assert isinstance(listed, ResultFrame) and list(listed["detail"]) == ["a=1", "b=2"]
    assert set(listed["table"]) == {"users"} and listed.title.startswith("2 differences")
    assert listed.command == "%migrate xargs users -x a=1 -x b=2"
    none = migrate(shell, "xargs")
    assert isinstance(none, ResultFrame) and none.empty
    assert SEEN == [("a=1", "b=2"), ()]  # -x holds for one command only
    assert shell.magics_manager.registry["MigrateMagics"].migrator.x_arguments == ()


def count_revisions(migrator: Migrator, limit: int | None = None) -> int:
    """Count the revisions of the directory.

    :param limit: count at most this many.
    """
    found = len(migrator.history())
    return found if limit is None else min(found, limit)


def test_an_extension_registers_a_subcommand(shell: Any, workdir: Path) -> None:
    """register_command adds a subcommand from outside the table: parser, help, dispatch, display, lines."""
    import sakyum_magic

    command = sakyum_magic.register_command(
        count_revisions, show=lambda n, args: ResultText(f"{n} revisions")
    )
    try:
        assert command.name == "count-revisions" and COMMANDS["count-revisions"] is command
        migrate(shell, "init")
        write(workdir / "alembic", "r1", None, "pass")
        write(workdir / "alembic", "r2", "r1", "pass")
        assert "Count the revisions" in migrate(shell, "count-revisions -h")
        shown = migrate(shell, "count-revisions -n 1")
        assert isinstance(shown, ResultText) and str(shown) == "1 revisions"
        assert shown.command == "%migrate count-revisions --limit 1"
        assert shown.equivalent.startswith("no alembic equivalent (")
        with pytest.raises(sakyum_magic.ConfigurationError, match="exists already"):
            sakyum_magic.register_command(count_revisions)
    finally:
        COMMANDS.pop("count-revisions", None)
    assert "count-revisions" not in migrate(shell, "-h")


X_REVISION = """
from alembic import context
op.create_table(context.get_x_argument(as_dictionary=True)["table"], sa.Column("id", sa.Integer))
"""


@pytest.mark.xfail(
    not hasattr(Migrator(), "x_arguments"),
    reason="the core has yet to hand Migrator.x_arguments to env.py (cmd_opts.x)",
    strict=True,
)
def test_x_arguments_reach_the_revisions(shell: Any, workdir: Path, sqlite_url: str) -> None:
    import sqlalchemy as sa

    migrate(shell, f"config --url {sqlite_url}")
    migrate(shell, "init")
    write(workdir / "alembic", "x1", None, X_REVISION)
    migrate(shell, "upgrade -x table=from_x")
    assert "from_x" in sa.inspect(sa.create_engine(sqlite_url)).get_table_names()
