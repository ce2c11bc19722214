"""A guarded ``upgrade``: a lock timeout that names the table and the session holding it, retries, and
a lint error that refuses the run, on a real PostgreSQL server with a second session holding a lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, LintError, MigrationError, Migrator
from sakyum_magic._lint.guard import seconds
from tests.shells import alembic_process, migrate, one_line_error

pytest.importorskip("sqlglot", reason="the lint gate needs the migrate-lint extra (sqlglot, squawk-cli)")

BASE = "def upgrade():\n    op.create_table('big', sa.Column('id', sa.Integer, primary_key=True))\n"
SAFE = "def upgrade():\n    op.create_table('other', sa.Column('id', sa.Integer, primary_key=True))\n"
ALTER = "def upgrade():\n    op.add_column('big', sa.Column('note', sa.Text))\n"


def at_base(url: str) -> tuple[Migrator, str, str]:
    migrator = Migrator(url=url)
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    safe = migrator.revision("safe", body=SAFE).revisions[0].revision
    alter = migrator.revision("alter", body=ALTER).revisions[0].revision
    return migrator, safe, alter


def alembic_cli(workdir: Any, url: str, *arguments: str) -> tuple[Any, float]:
    """``alembic ARGUMENTS`` on ``url``, finished whatever its status, and the seconds it took."""
    started = time.monotonic()
    done = alembic_process(workdir, *arguments, url=url)
    return done, time.monotonic() - started


def test_durations() -> None:
    assert [seconds(t, "x") for t in ("2s", "500ms", "15min", "1h", "3")] == [2, 0.5, 900, 3600, 3]
    with pytest.raises(ConfigurationError, match="duration such as 2s"):
        seconds("soon", "--lock-timeout")


@pytest.mark.postgres
def test_lock_timeout_names_table_and_holder_then_retries(postgres_url: str, shell: object) -> None:
    migrator, safe, alter = at_base(postgres_url)
    holder = sa.create_engine(postgres_url).connect()
    transaction = holder.begin()
    holder.exec_driver_sql("SELECT * FROM big")  # ACCESS SHARE until the transaction ends
    pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    try:
        migrate(shell, f"config --url {postgres_url}")
        started = time.monotonic()
        shown = one_line_error(shell, "upgrade --lock-timeout 1s")
        took = time.monotonic() - started
        assert "lock on table big" in shown and f"held by pid {pid}" in shown and safe in shown
        assert took < 10, took  # stopped after the timeout, not after the holder's end
        assert migrator.current().revisions[0].revision == safe  # the last good revision
        with pytest.raises(MigrationError):
            migrator.upgrade(lock_timeout="1s")
        threading.Timer(1.5, transaction.rollback).start()
        result = migrator.upgrade(lock_timeout="1s", retries=5, retry_delay=0.5)
    finally:
        time.sleep(0.1)
        holder.close()
    assert migrator.current().revisions[0].revision == alter
    assert result.notes[0].startswith("attempt 1: upgrade: waited 1s for a lock on table big")
    assert result.notes[-1].endswith("applied")


def test_the_alembic_cli_takes_the_busy_timeout_on_sqlite(sqlite_url: str, workdir: Any) -> None:
    migrator, _safe, alter = at_base(sqlite_url)
    at = migrator.current().revisions[0].revision
    migrator.dispose()
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    url = f"{sqlite_url}?timeout=60"  # the driver's own wait: 60 s
    upgrade = ("-x", "upgrade_lock_timeout=200ms", "upgrade", "head")
    try:
        done, took = alembic_cli(workdir, url, *upgrade)
    finally:
        holder.close()
    assert done.returncode != 0 and "database is locked" in done.stderr, done.stderr[-500:]
    assert took < 30, took  # the busy timeout given, not the URL's 60 s
    assert migrator.current().revisions[0].revision == at
    done, _took = alembic_cli(workdir, url, "-x", "upgrade_statement_timeout=1min", "upgrade", "head")
    assert "SQLite has no statement timeout" in done.stderr
    done, _took = alembic_cli(workdir, url, *upgrade)
    assert done.returncode == 0, done.stderr[-500:]  # once the other writer is gone
    assert migrator.current().revisions[0].revision == alter


def test_lock_timeout_on_sqlite_is_the_busy_timeout_then_retries(sqlite_url: str, shell: object) -> None:
    migrator, safe, alter = at_base(sqlite_url)
    at = migrator.current().revisions[0].revision
    holder = sqlite3.connect(
        sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # the database's write lock until the transaction ends
    try:
        migrate(shell, f"config --url {sqlite_url}")
        started = time.monotonic()
        shown = one_line_error(shell, "upgrade --lock-timeout 200ms")
        took = time.monotonic() - started
        assert shown.startswith("upgrade: waited 0.2s for the database's write lock") and at in shown
        assert took < 5, took  # the first BEGIN waited out ours, not the driver's 5 s
        assert migrator.current().revisions[0].revision == at  # nothing of safe ran
        assert shown.endswith("end that session, or retry with --retries N")
        spent = one_line_error(shell, "upgrade --lock-timeout 200ms --retries 1 --retry-delay 0.1")
        assert "(lock timeout) at each of 2 attempts" in spent, spent  # the retries asked for are spent:
        assert spent.endswith("or give more than --retries 1 or a longer --lock-timeout"), spent  # not "N"
        threading.Timer(1.0, holder.rollback).start()
        result = migrator.upgrade(lock_timeout="200ms", retries=20, retry_delay=0.2)
    finally:
        time.sleep(0.1)
        holder.close()
    assert migrator.current().revisions[0].revision == alter
    assert result.notes[0].startswith("attempt 1: upgrade: waited 0.2s for the database's write lock")
    assert result.notes[-1].endswith("applied")
    sql = [statement for step in result.steps for statement in step.sql]
    assert sql.count("PRAGMA busy_timeout = 200") == 2 and safe in {step.revision for step in result.steps}
    with migrator.engine().connect() as connection:  # the pooled connection got its own timeout back
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    with pytest.raises(ConfigurationError, match="SQLite has no statement timeout"):
        migrator.upgrade(statement_timeout="1min")


@pytest.mark.postgres
def test_timeouts_are_set_in_each_revision_transaction(postgres_url: str) -> None:
    migrator, _safe, _alter = at_base(postgres_url)
    result = migrator.upgrade(lock_timeout="2s", statement_timeout="15min")
    sql = [statement for step in result.steps for statement in step.sql]
    assert sql.count("SET LOCAL lock_timeout = '2000ms'") == 2
    assert sql.count("SET LOCAL statement_timeout = '900000ms'") == 2
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:  # SET LOCAL ended with the revision's transaction
        assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "0"
    engine.dispose()


@pytest.mark.postgres
def test_a_lint_error_refuses_upgrade_unless_allowed(postgres_url: str, shell: object) -> None:
    migrator, _safe, _alter = at_base(postgres_url)
    migrator.upgrade()
    before = migrator.current().revisions[0].revision
    migrator.revision("truncate", body="def upgrade():\n    op.execute('TRUNCATE big CASCADE')\n")
    migrate(shell, f"config --url {postgres_url}")
    shown = one_line_error(shell, "upgrade")
    assert "ban-truncate-cascade on big" in shown and "upgrade --allow-lint" in shown
    with pytest.raises(LintError):
        migrator.upgrade()
    assert migrator.current().revisions[0].revision == before  # refused before anything ran
    assert migrator.upgrade(allow_lint=True).after != (before,)


@pytest.mark.mysql
def test_online_refuses_a_table_copy_on_mariadb(mysql_url: str) -> None:
    migrator = Migrator(url=mysql_url)
    migrator.init()
    migrator.revision(
        "base",
        body="def upgrade():\n    op.create_table('big', sa.Column('id', sa.Integer, "
        "primary_key=True), sa.Column('a', sa.Integer))\n",
    )
    migrator.upgrade()
    added = migrator.revision(
        "add", body="def upgrade():\n    op.add_column('big', sa.Column('b', sa.Integer))\n"
    )
    migrator.revision("retype", body="def upgrade():\n    op.alter_column('big', 'a', type_=sa.BigInteger)\n")
    with pytest.raises(MigrationError, match="LOCK=NONE"):
        migrator.upgrade(online=True)
    assert migrator.current().revisions[0].revision == added.revisions[0].revision
    engine = sa.create_engine(mysql_url)
    assert [c["name"] for c in sa.inspect(engine).get_columns("big")] == ["id", "a", "b"]
    engine.dispose()
    migrator.stamp(added.revisions[0].revision)  # DDL commits at once here: say where the schema is
    migrator.upgrade()  # without --online the copy runs


@pytest.mark.mysql
def test_online_sql_is_recorded_as_it_ran(mysql_url: str, shell: object) -> None:
    migrator = Migrator(url=mysql_url)
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    index = "    op.create_index('ix_big_b', 'big', ['b'])\n"
    migrator.revision("add", body=f"{ALTER.replace('note', 'b').replace('sa.Text', 'sa.Integer')}{index}")
    migrator.revision(
        "add_more", body="def upgrade():\n    op.add_column('big', sa.Column('c', sa.Integer))\n"
    )
    result = migrator.upgrade("+1", online=True)
    assert result.steps[0].sql == (
        "ALTER TABLE big ADD COLUMN b INTEGER, LOCK=NONE",
        "CREATE INDEX ix_big_b ON big (b) LOCK=NONE",
        *result.steps[0].sql[2:],  # the version row
    )
    migrate(shell, f"config --url {mysql_url}")
    table = migrate(shell, "upgrade --online --show-sql")
    assert "ALTER TABLE big ADD COLUMN c INTEGER, LOCK=NONE" in table.sql


@pytest.mark.mysql
def test_lock_wait_timeout_on_mariadb_names_the_table(mysql_url: str) -> None:
    migrator, safe, _alter = at_base(mysql_url)
    holder = sa.create_engine(mysql_url).connect()
    transaction = holder.begin()
    holder.exec_driver_sql("SELECT * FROM big")  # a metadata lock until the transaction ends
    try:
        started = time.monotonic()
        with pytest.raises(MigrationError, match="lock on table big") as caught:
            migrator.upgrade(lock_timeout="1s")
        assert time.monotonic() - started < 10
        assert "Lock wait timeout" not in str(caught.value)  # the one line of ours, not the driver's
    finally:
        transaction.rollback()
        holder.close()
    assert migrator.current().revisions[0].revision == safe


@pytest.mark.mysql
def test_retries_on_mariadb_rerun_a_revision_whose_first_statement_timed_out(mysql_url: str) -> None:
    """DDL commits at once there, but a lock timeout on a revision's first statement leaves nothing of
    it: the version row is unchanged, its note of an unfinished revision is deleted, and it runs again."""
    migrator, safe, alter = at_base(mysql_url)
    holder = sa.create_engine(mysql_url).connect()
    transaction = holder.begin()
    holder.exec_driver_sql("SELECT * FROM big")  # a metadata lock until the transaction ends
    try:
        with pytest.raises(MigrationError, match="the revision was rolled back") as caught:
            migrator.upgrade(lock_timeout="1s")
        assert caught.value.result.undone and caught.value.result.after == (safe,)
        assert migrator.current().revisions[0].revision == safe
        threading.Timer(1.5, transaction.rollback).start()
        result = migrator.upgrade(lock_timeout="1s", retries=3, retry_delay=0.5)
    finally:
        time.sleep(0.1)
        holder.close()
    assert migrator.current().revisions[0].revision == alter
    assert result.notes[0].startswith("attempt 1: upgrade: waited 1s for a lock on table big")
    assert result.notes[-1].endswith("applied")
    engine = sa.create_engine(mysql_url)
    assert "note" in [c["name"] for c in sa.inspect(engine).get_columns("big")]
    assert not sa.inspect(engine).has_table("sakyum_in_progress")
    engine.dispose()


@pytest.mark.mysql
def test_retries_on_mariadb_stop_when_a_later_statement_timed_out(mysql_url: str) -> None:
    migrator, _safe, _alter = at_base(mysql_url)
    migrator.upgrade()
    at = migrator.current().revisions[0].revision
    two = (
        "def upgrade():\n    op.add_column('other', sa.Column('done', sa.Integer))\n"
        "    op.add_column('big', sa.Column('late', sa.Integer))\n"
    )
    migrator.revision("two", body=two)
    holder = sa.create_engine(mysql_url).connect()
    transaction = holder.begin()
    holder.exec_driver_sql("SELECT * FROM big")
    try:
        with pytest.raises(MigrationError) as caught:
            migrator.upgrade(lock_timeout="1s", retries=3, retry_delay=0.5)
    finally:
        transaction.rollback()
        holder.close()
    shown = str(caught.value)
    assert (
        "lock on table big" in shown
        and "after the revision's first statement, so it is not run again" in shown
    )
    assert "partly applied (" in shown and "other" in shown and f"%migrate stamp {at}" in shown
    assert not caught.value.result.undone and caught.value.result.notes == ()  # not attempted again
    with pytest.raises(MigrationError, match="did not finish"):
        migrator.upgrade()  # the note stays until a stamp says where the schema is


@pytest.mark.postgres
def test_the_session_setting_sets_the_timeouts(postgres_url: str, shell: Any) -> None:
    at_base(postgres_url)
    migrate(shell, f"config --url {postgres_url}")
    shell.run_line_magic("config", "MigrateMagics.upgrade_lock_timeout = '3s'")
    shell.run_line_magic("config", "MigrateMagics.upgrade_statement_timeout = '1min'")
    table = migrate(shell, "upgrade --show-sql --statement-timeout 2min")
    sql = table.sql
    assert sql.count("SET LOCAL lock_timeout = '3000ms'") == 2
    assert sql.count("SET LOCAL statement_timeout = '120000ms'") == 2  # the flag over the setting


@pytest.mark.postgres
def test_the_alembic_cli_takes_the_timeouts_as_x_arguments(postgres_url: str, workdir: Any) -> None:
    _migrator, safe, _alter = at_base(postgres_url)
    holder = sa.create_engine(postgres_url).connect()
    transaction = holder.begin()
    holder.exec_driver_sql("SELECT * FROM big")
    try:
        done, took = alembic_cli(workdir, postgres_url, "-x", "upgrade_lock_timeout=1s", "upgrade", "head")
    finally:
        transaction.rollback()
        holder.close()
    assert done.returncode != 0 and "lock timeout" in done.stderr, done.stderr[-500:]
    assert took < 15, took
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == safe
    engine.dispose()
    done, _took = alembic_cli(workdir, postgres_url, "-x", "upgrade_lock_timeout=soon", "upgrade", "head")
    assert "a duration such as 2s" in done.stderr
