"""Atomic migrations: each revision commits with its version-table update, or not at all.

A revision that fails mid-chain names itself and the failing statement. SQLite (through the
transactional-DDL recipe) and PostgreSQL end at the last good revision with every row intact;
MariaDB, whose DDL commits at once, reports exactly what was applied and what the failure left.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from tests.revisions import body, chain, counts, table_with_rows, version, write

FAILING_R3 = body(
    table_with_rows(3),
    """
    op.execute("DELETE FROM t1 WHERE id > 5")
    op.execute("UPDATE t2 SET note = 'changed'")
    op.execute("INSERT INTO no_such_table VALUES (1)")
    """,
)


@pytest.fixture(params=["sqlite", "aiosqlite", "postgres"])
def transactional_url(request: pytest.FixtureRequest, workdir: Path) -> str:
    """A database whose DDL rolls back: SQLite (sync and async drivers) and PostgreSQL."""
    if request.param == "aiosqlite":
        return f"sqlite+aiosqlite:///{workdir / 'test.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def migrator_for(url: str) -> Iterator[Migrator]:
    m = Migrator(url=url)
    m.init()
    yield m
    m.dispose()


@pytest.fixture
def migrator(transactional_url: str) -> Iterator[Migrator]:
    yield from migrator_for(transactional_url)


@pytest.fixture
def sqlite_migrator(sqlite_url: str) -> Iterator[Migrator]:
    yield from migrator_for(sqlite_url)


@pytest.fixture
def mysql_migrator(workdir: Path, mysql_url: str) -> Iterator[Migrator]:
    yield from migrator_for(mysql_url)


def failing_chain(directory: Path) -> None:
    """r1..r4, where r3 creates t3, changes rows of t1 and t2, then runs a statement that fails."""
    chain(directory, 4)
    write(directory, "r3", "r2", FAILING_R3, 'op.drop_table("t3")')


def test_failure_mid_chain_ends_at_the_last_good_revision(migrator: Migrator, transactional_url: str) -> None:
    failing_chain(migrator.directory)
    with pytest.raises(MigrationError) as failed:
        migrator.upgrade()
    message = str(failed.value)
    assert "revision r3" in message
    assert "INSERT INTO no_such_table VALUES (1)" in message
    assert "database now at r2" in message
    result = failed.value.result
    assert [s.revision for s in result.steps] == ["r1", "r2"]
    assert result.after == ("r2",)
    assert result.left_behind == ()
    assert version(transactional_url) == ("r2",)
    assert counts(transactional_url) == {"t1": 10, "t2": 20}  # no t3, no deleted rows
    with sa.create_engine(transactional_url.replace("+aiosqlite", "")).connect() as connection:
        notes = connection.execute(sa.text("SELECT DISTINCT note FROM t2")).scalars().all()
    assert notes == ["row"]

    write(migrator.directory, "r3", "r2", table_with_rows(3), 'op.drop_table("t3")')  # the fix
    assert [s.revision for s in migrator.upgrade().steps] == ["r3", "r4"]
    assert counts(transactional_url) == {"t1": 10, "t2": 20, "t3": 30, "t4": 40}


def test_failing_downgrade_stops_at_the_last_good_revision(
    migrator: Migrator, transactional_url: str
) -> None:
    chain(migrator.directory, 4)
    migrator.upgrade()
    write(
        migrator.directory,
        "r2",
        "r1",
        table_with_rows(2),
        'op.drop_table("t2")\nop.execute("DELETE FROM t1")\nop.execute("DROP TABLE no_such_table")',
    )
    with pytest.raises(MigrationError, match=r"downgrade failed in revision r2 while running 'DROP TABLE"):
        migrator.downgrade("base")
    assert version(transactional_url) == ("r2",)
    assert counts(transactional_url) == {"t1": 10, "t2": 20}


def test_each_revision_commits_on_its_own(migrator: Migrator, transactional_url: str) -> None:
    """A failure never takes back revisions that already succeeded in the same run."""
    chain(migrator.directory, 6)
    write(migrator.directory, "r6", "r5", 'op.execute("SELECT * FROM no_such_table")')
    with pytest.raises(MigrationError, match="revision r6"):
        migrator.upgrade()
    assert version(transactional_url) == ("r5",)
    assert counts(transactional_url) == {f"t{k}": 10 * k for k in range(1, 6)}


def test_sqlite_batch_rebuild_failure_leaves_no_temporary_table(
    sqlite_migrator: Migrator, sqlite_url: str
) -> None:
    m = sqlite_migrator
    chain(m.directory, 1)
    write(
        m.directory,
        "r2",
        "r1",
        """
        op.execute("UPDATE t1 SET note = NULL WHERE id <= 3")
        with op.batch_alter_table("t1") as batch:
            batch.alter_column("note", existing_type=sa.String(20), nullable=False)
        """,
    )
    with pytest.raises(MigrationError, match=r"revision r2 .*NOT NULL constraint failed"):
        m.upgrade()
    assert version(sqlite_url) == ("r1",)
    assert counts(sqlite_url) == {"t1": 10}  # no _alembic_tmp_t1 left behind
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as connection:
        nulls = connection.execute(sa.text("SELECT COUNT(*) FROM t1 WHERE note IS NULL")).scalar_one()
    engine.dispose()
    assert nulls == 0


def test_sqlite_batch_rebuild_of_a_parent_keeps_child_rows(
    sqlite_migrator: Migrator, sqlite_url: str
) -> None:
    """Foreign keys are off on migration connections, so rebuilding a parent cascades nothing."""
    m = sqlite_migrator
    write(
        m.directory,
        "r1",
        None,
        """
        op.create_table("parent", sa.Column("id", sa.Integer, primary_key=True))
        op.create_table(
            "child",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id", ondelete="CASCADE")),
        )
        op.execute("INSERT INTO parent (id) VALUES (1), (2), (3)")
        op.execute("INSERT INTO child (id, parent_id) VALUES (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)")
        """,
    )
    write(
        m.directory,
        "r2",
        "r1",
        """
        with op.batch_alter_table("parent", recreate="always") as batch:
            batch.add_column(sa.Column("label", sa.String(20)))
        """,
    )
    assert [s.revision for s in m.upgrade().steps] == ["r1", "r2"]
    assert counts(sqlite_url) == {"child": 6, "parent": 3}


def test_mariadb_reports_what_the_failed_revision_left(mysql_migrator: Migrator, mysql_url: str) -> None:
    chain(mysql_migrator.directory, 4)
    write(
        mysql_migrator.directory,
        "r3",
        "r2",
        body(
            table_with_rows(3),
            """
        op.add_column("t1", sa.Column("extra", sa.Integer))
        op.execute("DELETE FROM t2")
        op.execute("INSERT INTO no_such_table VALUES (1)")
        """,
        ),
    )
    with pytest.raises(MigrationError) as failed:
        mysql_migrator.upgrade()
    message = str(failed.value)
    assert "revision r3 while running 'INSERT INTO no_such_table VALUES (1)'" in message
    assert "partly applied (created table t3, added column t1.extra)" in message
    result = failed.value.result
    assert [s.revision for s in result.steps] == ["r1", "r2"]
    assert result.after == ("r2",)
    assert result.left_behind == ("created table t3", "added column t1.extra")
    assert version(mysql_url) == ("r2",)
    # ADD COLUMN committed t3 and its rows at once; the DELETE after it rolled back with the failure.
    assert counts(mysql_url) == {"t1": 10, "t2": 20, "t3": 30}


def test_sqlite_migrations_take_the_write_lock_at_begin(sqlite_migrator: Migrator, sqlite_url: str) -> None:
    """BEGIN IMMEDIATE on migration transactions: a busy database is waited for, not failed at once.

    With a deferred BEGIN, the version-table read takes a shared lock and the first CREATE then fails
    with "database is locked" whenever another connection is writing. Reads keep the deferred BEGIN.
    """
    m = sqlite_migrator
    chain(m.directory, 3)
    seen: list[str] = []
    sa.event.listen(m.engine(), "before_cursor_execute", lambda *args: seen.append(args[2]))
    m.upgrade()
    assert seen.count("BEGIN IMMEDIATE") == 3  # one transaction per revision
    reads = len(seen)
    m.current()
    assert "BEGIN IMMEDIATE" not in seen[reads:]
    assert "BEGIN" in seen[reads:]
