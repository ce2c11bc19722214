"""Where DDL commits at once (MariaDB), what a failed revision did is named from the tables its
statements touched: a revision reads no other table, so it costs the same beside many tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from sakyum_magic._run.partial import is_ddl, touched_tables
from tests.revisions import chain, write


@pytest.mark.parametrize(
    ("statement", "tables"),
    [
        ("CREATE TABLE `t1` (id INTEGER)", ("t1",)),
        ("\nCREATE TABLE IF NOT EXISTS test.`t 2` (id INTEGER)", ("t 2",)),
        ("ALTER TABLE t1 ADD COLUMN extra INTEGER", ("t1",)),
        ("ALTER TABLE t1 RENAME TO t9", ("t1", "t9")),
        ("ALTER TABLE t1 RENAME COLUMN a TO b", ("t1",)),
        ("ALTER TABLE t1 RENAME INDEX a TO b", ("t1",)),
        ("DROP TABLE IF EXISTS a, `b`", ("a", "b")),
        ("RENAME TABLE a TO b, c TO d", ("a", "b", "c", "d")),
        ("CREATE INDEX ix_t1_x ON t1 (x)", ()),
        ("TRUNCATE TABLE t1", ()),
    ],
)
def test_the_tables_a_statement_touches(statement: str, tables: tuple[str, ...]) -> None:
    assert is_ddl(statement)
    assert touched_tables(statement) == tables


@pytest.mark.parametrize(
    "statement", ["INSERT INTO t1 VALUES (1)", "UPDATE alembic_version SET x = 1", "SELECT 1"]
)
def test_other_statements_are_not_ddl(statement: str) -> None:
    assert not is_ddl(statement)
    assert touched_tables(statement) == ()


LOG_VALUES = re.compile(r"(INSERT INTO sakyum_migration_log \([^)]*\) VALUES )\(.*?\)(?=; )")
"""A log row's values (when, how long) written into the statement that carries it."""


@pytest.fixture
def statements(mysql_url: str) -> Iterator[tuple[Migrator, list[str]]]:
    """A Migrator on MariaDB, and every statement its engine sends from now on."""
    migrator = Migrator(url=mysql_url)
    migrator.init()
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(LOG_VALUES.sub(r"\1(...)", statement))  # the row carried with the version update

    sa.event.listen(migrator.engine(), "before_cursor_execute", listen)
    yield migrator, seen
    migrator.dispose()


def unrelated(url: str, count: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for k in range(count):
            connection.exec_driver_sql(f"CREATE TABLE other{k} (id INTEGER, name VARCHAR(20))")
    engine.dispose()


@pytest.mark.mysql
def test_a_revision_reads_no_table_it_does_not_touch(
    statements: tuple[Migrator, list[str]], mysql_url: str
) -> None:
    migrator, seen = statements
    chain(migrator.directory, 3)
    migrator.upgrade()
    migrator.downgrade("base")
    seen.clear()
    migrator.upgrade()
    alone = list(seen)
    migrator.downgrade("base")
    unrelated(mysql_url, 30)
    seen.clear()
    migrator.upgrade()
    assert seen == alone  # the same statements, whatever else the database holds
    assert not [s for s in seen if "other" in s]
    assert len([s for s in seen if "SHOW FULL TABLES" in s.upper()]) <= 1  # per run, never per revision


@pytest.mark.mysql
def test_a_failed_rename_and_drop_are_named(statements: tuple[Migrator, list[str]], mysql_url: str) -> None:
    migrator, _seen = statements
    unrelated(mysql_url, 3)
    chain(migrator.directory, 2)
    write(
        migrator.directory,
        "r3",
        "r2",
        """
        op.rename_table("t1", "t1b")
        op.drop_column("t2", "note")
        op.create_index("ix_other0", "other0", ["name"])
        op.execute("SELECT * FROM nope")
        """,
    )
    with pytest.raises(MigrationError) as failed:
        migrator.upgrade()
    left = ("created table t1b", "dropped table t1", "dropped column t2.note")
    assert failed.value.result.left_behind == left
    with pytest.raises(MigrationError, match="revision r3 did not finish .*left: " + ", ".join(left)):
        migrator.upgrade()
