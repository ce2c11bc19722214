"""``plan --locks``: the locks each statement takes and the tables it rewrites, observed on PostgreSQL
and SQLite inside the rolled-back transaction; the database is left exactly as it was."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, Migrator
from tests.conftest import with_driver
from tests.shells import migrate

ROWS = 2_300
BASE = (
    "def upgrade():\n"
    "    op.create_table('t', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer))\n"
    "    op.create_table('quiet', sa.Column('id', sa.Integer, primary_key=True))\n"
)
RISKY = (
    "def upgrade():\n    op.add_column('t', sa.Column('b', sa.Integer))\n"
    "    op.create_index('ix_quiet', 'quiet', ['id'])\n"
    "    op.alter_column('t', 'a', type_=sa.BigInteger)\n"
)


def snapshot(url: str) -> tuple[Any, ...]:
    """Schema, rows and the write counters of every table but the version table (whose UPDATE plan runs
    and rolls back, as every plan does), once two readings a second apart agree (a session reports
    its statistics when it has been idle for a moment)."""
    last = _read(url)
    for _ in range(10):
        time.sleep(1.0)
        found = _read(url)
        if found == last:
            return found
        last = found
    return last


def _read(url: str) -> tuple[Any, ...]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        counters = connection.exec_driver_sql(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup FROM pg_stat_user_tables "
            "WHERE relname <> 'alembic_version' ORDER BY relname"
        ).all()
        columns = connection.exec_driver_sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).all()
        indexes = connection.exec_driver_sql(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        ).all()
        rows = connection.exec_driver_sql("SELECT sum(a), count(*) FROM t").one()
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    engine.dispose()
    return counters, columns, sorted(indexes), rows, version


@pytest.mark.postgres
def test_plan_locks_observes_locks_and_rewrites_and_writes_nothing(postgres_url: str, shell: object) -> None:
    migrator = Migrator(url=postgres_url)
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"INSERT INTO t (a) SELECT g FROM generate_series(1, {ROWS}) g")
        connection.exec_driver_sql("ANALYZE t")
    engine.dispose()
    migrator.revision("risky", body=RISKY)
    migrator.dispose()  # its sessions report the upgrade's writes when they close, not during the plan
    before = snapshot(postgres_url)
    assert {row[0]: row[1] for row in before[0]}["t"] == ROWS  # the counters are read: t's inserts are there
    plan = migrator.plan(locks=True)
    observed = dict(zip(plan.steps[0].sql, plan.locks, strict=False))
    assert observed["ALTER TABLE t ADD COLUMN b INTEGER"] == ("t ACCESS EXCLUSIVE", "")
    assert observed["CREATE INDEX ix_quiet ON quiet (id)"] == ("quiet SHARE", "")
    assert f"rewrote t ({ROWS:,} rows)" in observed["ALTER TABLE t ALTER COLUMN a TYPE BIGINT"][1]
    assert snapshot(postgres_url) == before
    migrate(shell, f"config --url {postgres_url}")
    table = migrate(shell, "plan --locks")
    assert list(table.columns[-2:]) == ["locks", "rewrites"] and "quiet SHARE" in set(table["locks"])
    assert snapshot(postgres_url) == before


SQLITE_RISKY = (
    "def upgrade():\n    op.add_column('t', sa.Column('b', sa.Integer))\n"
    "    with op.batch_alter_table('t') as batch:\n"
    "        batch.alter_column('a', type_=sa.String(20))\n"
)
AUTO_VACUUMED = (
    "def upgrade():\n    op.drop_table('t')\n"
    "    with op.batch_alter_table('quiet', recreate='always') as batch:\n"
    "        batch.add_column(sa.Column('b', sa.Integer))\n"
)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_plan_locks_on_sqlite_names_the_write_lock_and_the_rebuild(
    sqlite_url: str, shell: object, journal_mode: str
) -> None:
    migrator = Migrator(url=sqlite_url)
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA journal_mode={journal_mode}")  # kept in the file
        connection.executemany("INSERT INTO t (a) VALUES (?)", [(n,) for n in range(ROWS)])
    connection.close()
    migrator.revision("risky", body=SQLITE_RISKY)
    migrator.dispose()
    before = _sqlite_state(path)
    plan = migrator.plan(locks=True)
    observed = dict(zip(plan.steps[0].sql, plan.locks, strict=True))
    assert observed["ALTER TABLE t ADD COLUMN b INTEGER"] == (
        f"database RESERVED (journal_mode={journal_mode}: other writers wait; "
        + ("readers continue)" if journal_mode == "wal" else "readers wait while it commits)"),
        "",
    )
    rebuilt = [rewrites for _locks, rewrites in plan.locks if rewrites]
    assert rebuilt == [f"rewrote t ({ROWS:,} rows)"]  # once, at the rename that replaces t
    assert observed["ALTER TABLE _alembic_tmp_t RENAME TO t"][1] == rebuilt[0]
    first_lock = observed["ALTER TABLE t ADD COLUMN b INTEGER"][0]
    assert [locks for locks, _rewrites in plan.locks if locks] == [first_lock]  # held to the end
    migrator.dispose()
    assert _sqlite_state(path) == before
    migrate(shell, f"config --url {sqlite_url}")
    table = migrate(shell, "plan --locks")
    assert list(table.columns[-2:]) == ["locks", "rewrites"]
    assert f"rewrote t ({ROWS:,} rows)" in set(table["rewrites"])
    migrate(shell, "config --url sqlite://")  # the shell's engine lets go of the file
    assert _sqlite_state(path) == before


def test_plan_locks_on_sqlite_with_auto_vacuum_tells_a_moved_root_from_a_rebuild(sqlite_url: str) -> None:
    """Dropping t moves quiet's root page into t's place, and quiet's rebuilt copy then lands on that
    same page: the drop rebuilt nothing, and quiet's rebuild is found all the same."""
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA auto_vacuum=FULL")  # before the first table: kept in the file
        connection.execute("CREATE TABLE first_page (id INTEGER)")
    connection.close()
    migrator = Migrator(url=sqlite_url)
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    with sqlite3.connect(path) as connection:
        connection.executemany("INSERT INTO quiet (id) VALUES (?)", [(1,), (2,), (3,)])
    connection.close()
    migrator.revision("drop", body=AUTO_VACUUMED)
    observed = migrator.plan(locks=True)
    by_statement = dict(zip(observed.steps[0].sql, observed.locks, strict=True))
    assert by_statement["DROP TABLE t"][1] == ""
    assert [rewrites for _locks, rewrites in observed.locks if rewrites] == ["rewrote quiet (3 rows)"]


def _sqlite_state(path: Path) -> tuple[str, str]:
    """The file's bytes (hashed) and the version row, read once every connection has closed."""
    with sqlite3.connect(path) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.close()
    return hashlib.sha256(path.read_bytes()).hexdigest(), str(version)


@pytest.mark.mysql
def test_plan_locks_needs_postgresql_or_sqlite(mysql_url: str) -> None:
    migrator = Migrator(url=mysql_url)
    migrator.init()
    with pytest.raises(ConfigurationError, match="PostgreSQL and SQLite, not of mysql"):
        migrator.plan(locks=True)


@pytest.mark.postgres
def test_plan_locks_and_lint_through_asyncpg(postgres_url: str) -> None:
    pytest.importorskip("sqlglot", reason="lint's checkers need the migrate-lint extra")
    migrator = Migrator(url=with_driver(postgres_url, "postgresql+asyncpg"))
    migrator.init()
    migrator.revision("base", body=BASE)
    migrator.upgrade()
    migrator.revision("retype", body="def upgrade():\n    op.alter_column('t', 'a', type_=sa.BigInteger)\n")
    ((locks, rewrites), *_rest) = migrator.plan(locks=True).locks
    assert locks == "t ACCESS EXCLUSIVE, t_pkey ACCESS EXCLUSIVE"
    assert "rewrote t" in rewrites and "rewrote index t_pkey" in rewrites
    assert [f.rule for f in migrator.lint().findings] == ["changing-column-type"]
