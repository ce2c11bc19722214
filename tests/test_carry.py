"""Round trips per revision. On PostgreSQL counted on the wire (libpq's protocol trace of psycopg 3):
the revision's BEGIN and DDL, its version update, the log row, the flush deferral and the COMMIT go
in one pipeline, so a revision costs one round trip (plain Alembic: one per statement). On MariaDB counted as
statements and commits: the note's deletion and the log row go with the version update, in one
compound statement, so a revision costs plain Alembic's plus the note written before its DDL.
What travels with the version update never leaves the revision's transaction early."""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, MigrationError, Migrator
from tests.revisions import version, write


def table_chain(directory: Path, count: int) -> None:
    for k in range(1, count + 1):
        write(
            directory,
            f"r{k}",
            f"r{k - 1}" if k > 1 else None,
            f"op.create_table('t{k}', sa.Column('id', sa.Integer))",
            f"op.drop_table('t{k}')",
        )


@contextlib.contextmanager
def wire() -> Iterator[list[int]]:
    """Count the round trips of every psycopg 3 connection checked out meanwhile (in this process):
    each simple Query, and each Sync that ends an extended-protocol exchange, waits for the server."""
    from psycopg.pq import Trace
    from sqlalchemy.pool import Pool

    traces: list[Any] = []
    counted: list[int] = []

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is not None:
            trace = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read and closed after the run
            traces.append((pgconn, trace))
            pgconn.trace(trace.fileno())
            pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

    def checkin(dbapi_connection: Any, record: Any) -> None:
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is not None:
            pgconn.untrace()

    with listening(Pool, checkout=checkout, checkin=checkin):
        yield counted
    for _pgconn, trace in traces:
        trace.seek(0)
        fields = [line.rstrip("\n").split("\t") for line in trace]
        counted += [1 for found in fields if found[0] == "F" and found[2:3] in (["Query"], ["Sync"])]
        trace.close()


@contextlib.contextmanager
def listening(target: Any, **handlers: Callable[..., Any]) -> Iterator[None]:
    """SQLAlchemy event handlers on ``target`` (``name=function``) while the block runs."""
    for name, handler in handlers.items():
        sa.event.listen(target, name, handler)
    try:
        yield
    finally:
        for name, handler in handlers.items():
            sa.event.remove(target, name, handler)


def plain_config(workdir: Path, url: str) -> Any:
    """A directory made by ``alembic init`` (its own env.py: one transaction for the whole run)."""
    from alembic import command
    from alembic.config import Config

    ini = workdir / "plain.ini"
    config = Config(str(ini), stdout=io.StringIO())
    if not ini.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            command.init(config, str(workdir / "plain"))
    config.set_main_option("script_location", str(workdir / "plain"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def per_revision(
    upgrade: Callable[[str], Callable[[], Any]],
    downgrade: Callable[[], Any],
    counter: Callable[[], contextlib.AbstractContextManager[list[Any]]] = wire,
) -> float:
    """Round trips of one revision, as ``counter`` counts them: an upgrade of six revisions against one
    of three (after a first run, which also creates the version table). Each the fewest of three
    runs: a pooled connection's one-time settings (the run's client check) go out on its first run."""
    counts: dict[str, int] = {}
    for target in ("r1", "r3", "r6") * 3:
        with counter() as counted:
            upgrade(target)()
        counts[target] = min(counts.get(target, len(counted)), len(counted))
        downgrade()
    return (counts["r6"] - counts["r3"]) / 3


@pytest.mark.postgres
def test_a_revision_costs_one_round_trip_against_plain_alembics_two(workdir: Path, postgres_url: str) -> None:
    if not postgres_url.startswith("postgresql+psycopg:"):
        pytest.skip("counted with psycopg 3's protocol trace; this run uses another driver")
    migrator = Migrator(url=postgres_url)
    migrator.init()
    table_chain(migrator.directory, 6)
    magic = per_revision(lambda target: lambda: migrator.upgrade(target), lambda: migrator.downgrade("base"))
    migrator.dispose()
    from alembic import command

    config = plain_config(workdir, postgres_url)
    table_chain(workdir / "plain", 6)
    plain = per_revision(
        lambda target: lambda: command.upgrade(config, target), lambda: command.downgrade(config, "base")
    )
    assert version(postgres_url) == ()
    # plain: CREATE TABLE and the version UPDATE; here BEGIN, CREATE TABLE, the version UPDATE, the
    # log row, the flush deferral, the check and the COMMIT in one pipeline.
    assert (plain, magic) == (2, 1)


@contextlib.contextmanager
def statements_and_commits() -> Iterator[list[str]]:
    """Every statement a cursor sends, and every COMMIT, on any engine of this process meanwhile (on
    MySQL/MariaDB each is one round trip: a transaction begins with its first statement)."""
    from sqlalchemy.engine import Engine

    sent: list[str] = []

    def statement(conn: Any, cursor: Any, text: str, *_: Any) -> None:
        sent.append(text)

    def commit(conn: Any) -> None:
        sent.append("COMMIT")

    with listening(Engine, before_cursor_execute=statement, commit=commit):
        yield sent


@pytest.mark.mysql
def test_mariadb_round_trips_per_revision(workdir: Path, mysql_url: str) -> None:
    from alembic import command

    migrator = Migrator(url=mysql_url)
    migrator.init()
    table_chain(migrator.directory, 6)
    magic = per_revision(
        lambda target: lambda: migrator.upgrade(target, allow_lint=True),
        lambda: migrator.downgrade("base"),
        statements_and_commits,
    )
    migrator.dispose()
    config = plain_config(workdir, mysql_url)
    table_chain(workdir / "plain", 6)
    plain = per_revision(
        lambda target: lambda: command.upgrade(config, target),
        lambda: command.downgrade(config, "base"),
        statements_and_commits,
    )
    # plain (Alembic commits each revision on MySQL): CREATE TABLE, the version UPDATE, COMMIT; here
    # also the note (with the columns it reads) before the DDL; its DELETE and the log row go with
    # the version UPDATE.
    assert (plain, magic) == (3, 4)


@pytest.mark.mysql
def test_mariadb_under_oracle_syntax_sends_the_statements_one_by_one(workdir: Path, mysql_url: str) -> None:
    """sql_mode=ORACLE gives compound statements another syntax: there the note's deletion and the
    log row go as statements of their own, and the upgrade applies and logs every revision."""
    from urllib.parse import quote

    mode = quote("SET sql_mode='ORACLE'")
    oracle = f"{mysql_url}?init_command={mode}"
    migrator = Migrator(url=oracle)
    migrator.init()
    table_chain(migrator.directory, 3)
    with statements_and_commits() as sent:
        result = migrator.upgrade(allow_lint=True)
    assert [step.revision for step in result.steps] == ["r1", "r2", "r3"]
    assert not [text for text in sent if "BEGIN NOT ATOMIC" in text]
    assert version(mysql_url) == ("r3",)
    assert [entry.revision for entry in migrator.log() if entry.ok] == ["r3", "r2", "r1"]
    migrator.dispose()


MOVES_ITS_OWN_VERSION_ROW = """
op.create_table('t2', sa.Column('id', sa.Integer))
op.execute("UPDATE alembic_version SET version_num = 'elsewhere'")
"""


@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_a_version_update_matching_no_row_commits_nothing_of_its_transaction(
    request: pytest.FixtureRequest, server: str
) -> None:
    """The COMMIT carried with the version UPDATE runs only when that UPDATE did its work; on MariaDB
    Alembic's check of the row count still sees the UPDATE's own count through the compound statement,
    and the note of the revision, whose DDL committed, stays to name it."""
    url = request.getfixturevalue(f"{server}_url")
    migrator = Migrator(url=url)
    migrator.init()
    table_chain(migrator.directory, 1)
    write(migrator.directory, "r2", "r1", MOVES_ITS_OWN_VERSION_ROW, "op.drop_table('t2')")
    # PostgreSQL: the check before the COMMIT fails the message; MariaDB: Alembic's own check.
    with pytest.raises((MigrationError, ConfigurationError), match=r"r2.* matched no row|0 found") as raised:
        migrator.upgrade(allow_lint=True)
    if url.startswith("postgresql+psycopg:"):  # the check's own words, and the revision that failed named
        assert re.search(
            r"failed in revision r2 .* from r1 to r2 matched no row; the revision", str(raised.value)
        )
    assert version(url) == ("r1",)
    assert ("r2", True) not in [(entry.revision, entry.ok) for entry in migrator.log()]
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    if server == "postgres":
        assert "t2" not in tables  # the whole revision rolled back
    else:
        assert "t2" in tables  # its DDL committed at once, and the note names what it left
        with pytest.raises(MigrationError, match=r"revision r2 did not finish.*created table t2"):
            migrator.upgrade(allow_lint=True)
    migrator.dispose()


@pytest.mark.postgres
def test_a_hook_of_env_py_runs_inside_the_revisions_transaction(postgres_url: str) -> None:
    """With an ``on_version_apply`` hook of env.py's own after the version update, the COMMIT is not
    carried: what the hook does (here: fail at r2) still belongs to the revision's transaction."""
    migrator = Migrator(url=postgres_url)
    migrator.init()
    table_chain(migrator.directory, 3)
    env = migrator.directory / "env.py"
    hook = (
        "def refuse_r2(*, ctx, step, heads, run_args):\n"
        "    if 'r2' in heads:\n"
        "        raise RuntimeError('no r2')\n\n\n"
        "def configure_options("
    )
    text = env.read_text().replace("def configure_options(", hook, 1)
    text = text.replace(
        '"transaction_per_migration": True,',
        '"transaction_per_migration": True,\n        "on_version_apply": [refuse_r2],',
        1,
    )
    env.write_text(text)
    with pytest.raises(MigrationError):
        migrator.upgrade(allow_lint=True)
    assert version(postgres_url) == ("r1",)
    assert "t2" not in sa.inspect(sa.create_engine(postgres_url)).get_table_names()
    migrator.dispose()


@pytest.mark.mysql
def test_a_carried_statement_that_fails_fails_its_revision(mysql_url: str) -> None:
    """The compound statement's error is the version update's: here the revision drops the notes
    table, so the note's deletion in the compound fails, and the version row stays where it was."""
    migrator = Migrator(url=mysql_url)
    migrator.init()
    table_chain(migrator.directory, 1)
    write(migrator.directory, "r2", "r1", "op.drop_table('sakyum_in_progress')")
    with pytest.raises(MigrationError, match="r2"):
        migrator.upgrade(allow_lint=True)
    assert version(mysql_url) == ("r1",)
    assert ("r2", True) not in [(entry.revision, entry.ok) for entry in migrator.log()]
    migrator.dispose()


@pytest.mark.postgres
def test_an_interrupt_awaiting_a_carried_commit_still_reports_the_committed_revision(
    postgres_url: str,
) -> None:
    """The COMMIT went with r2's version update and ran; the interrupt lands before the reply is read,
    so r2's hooks never ran: the result still lists r2, as the database holds it."""
    if not postgres_url.startswith("postgresql+psycopg:"):
        pytest.skip("the COMMIT travels with the version update on psycopg 3 only")
    migrator = Migrator(url=postgres_url)
    migrator.init()
    table_chain(migrator.directory, 3)

    def interrupt(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "version_num='r2'" in statement and statement.lstrip().startswith("UPDATE"):  # COMMIT with it
            raise KeyboardInterrupt

    sa.event.listen(migrator.engine(), "after_cursor_execute", interrupt)
    with pytest.raises(MigrationError) as stopped:
        migrator.upgrade(allow_lint=True)
    sa.event.remove(migrator.engine(), "after_cursor_execute", interrupt)
    assert version(postgres_url) == ("r2",)
    result = stopped.value.result
    assert (result.after, [step.revision for step in result.steps]) == (("r2",), ["r1", "r2"])
    assert [(entry.revision, entry.ok) for entry in migrator.log()] == [("r2", True), ("r1", True)]
    migrator.dispose()


@pytest.mark.parametrize("dialect_name", ["postgresql", "mysql", "sqlite"])
def test_the_log_row_is_written_as_sqlalchemy_writes_literals(dialect_name: str) -> None:
    """The carried log row, rendered from a kept statement head and the compiler's literal renderer,
    is the text SQLAlchemy's ``literal_binds`` compiles: quotes, backslashes, percent signs, NULL."""
    from sqlalchemy.dialects import registry

    from sakyum_magic._guards.audit import table
    from sakyum_magic._run.carry import _literal_insert

    dialect = registry.load(dialect_name)()
    row = {
        "applied_at": "2026-12-07T08:00:00+00:00", "revision": "it's", "from_revision": "a\\b",
        "to_revision": "100%", "direction": "up", "seconds": None, "ok": False, "who": "o'neil",
        "tool": "sakyum-magic",
    }  # fmt: skip
    compiled = (
        table()
        .insert()
        .inline()
        .values(**row)
        .compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    )
    connection = type("Bound", (), {"dialect": dialect})()
    assert _literal_insert(connection, row) == str(compiled)
    assert _literal_insert(connection, {**row, "seconds": 0.25, "ok": True}) == str(
        table()
        .insert()
        .inline()
        .values(**{**row, "seconds": 0.25, "ok": True})
        .compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    )


@pytest.mark.postgres
def test_a_run_reads_the_version_table_once(postgres_url: str) -> None:
    """The heads after a run whose last COMMIT went with its version update are the ones that step
    left (committed with it), not read again."""
    if not postgres_url.startswith("postgresql+psycopg:"):
        pytest.skip("the COMMIT travels with the version update on psycopg 3 only")
    migrator = Migrator(url=postgres_url)
    migrator.init()
    table_chain(migrator.directory, 3)
    with statements_and_commits() as sent:
        first = migrator.upgrade("r2", allow_lint=True)
        second = migrator.upgrade("r3", allow_lint=True)
    assert (first.after, second.after, version(postgres_url)) == (("r2",), ("r3",), ("r3",))
    reads = [s for s in sent if s == "SELECT version_num FROM alembic_version"]
    assert len(reads) == 2  # one under each run's lock: none after either run
    migrator.dispose()
