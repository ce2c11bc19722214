"""A revision's DDL kept back and sent with the statement after it (psycopg 3's pipeline mode): the
order of statements, the transaction and the error stay as if each statement were sent alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from tests.revisions import version, write

pytestmark = pytest.mark.postgres


@pytest.fixture
def migrator(postgres_url: str) -> Migrator:
    if not postgres_url.startswith("postgresql+psycopg:"):
        pytest.skip("DDL is kept back with psycopg 3 only; this run uses another driver")
    made = Migrator(url=postgres_url)
    made.init()
    return made


@contextmanager
def inspected(url: str) -> Iterator[sa.Connection]:
    """A connection of its own to the database at ``url``, to look at what a run left."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def tables(url: str) -> list[str]:
    with inspected(url) as connection:
        return sorted(name for name in sa.inspect(connection).get_table_names() if name.startswith("t"))


def upgrade_one(migrator: Migrator, body: str) -> tuple[str, ...]:
    """Write revision r1 with ``body`` as its upgrade and upgrade to it: the heads after."""
    write(migrator.directory, "r1", None, body)
    return migrator.upgrade("head").after


def test_a_failing_kept_statement_is_named_and_nothing_of_its_revision_remains(
    migrator: Migrator, postgres_url: str
) -> None:
    write(migrator.directory, "r1", None, "op.create_table('t1', sa.Column('id', sa.Integer))")
    write(
        migrator.directory,
        "r2",
        "r1",
        """
        op.create_table('t2', sa.Column('id', sa.Integer))
        op.add_column('t_missing', sa.Column('note', sa.Text))
        op.create_table('t3', sa.Column('id', sa.Integer))
        """,
    )
    with pytest.raises(MigrationError) as caught:
        migrator.upgrade("head")
    message = str(caught.value)
    assert "while running 'ALTER TABLE t_missing ADD COLUMN note TEXT'" in message
    assert 'relation "t_missing" does not exist' in message
    assert "1 step(s) applied before it, database now at r1" in message
    assert (version(postgres_url), tables(postgres_url)) == (("r1",), ["t1"])
    write(migrator.directory, "r2", "r1", "op.create_table('t2', sa.Column('id', sa.Integer))")
    assert migrator.upgrade("head").after == ("r2",)  # the connection is usable again, its BEGIN its own


def test_statements_that_read_or_bypass_sqlalchemy_see_the_ddl_kept_before_them(
    migrator: Migrator, postgres_url: str
) -> None:
    assert upgrade_one(
        migrator,
        """
        op.create_table('t1', sa.Column('id', sa.Integer))
        bind = op.get_bind()
        raw = bind.connection.dbapi_connection.cursor()
        raw.execute("INSERT INTO t1 VALUES (1), (2)")  # the driver's own cursor, past SQLAlchemy
        op.add_column('t1', sa.Column('note', sa.Text))
        assert bind.execute(sa.text("SELECT count(*) FROM t1")).scalar() == 2
        op.create_table('t2', sa.Column('id', sa.Integer))
        with op.get_context().autocommit_block():
            op.create_index('t1_id', 't1', ['id'], postgresql_concurrently=True)
        op.create_table('t3', sa.Column('id', sa.Integer))
        """,
    ) == ("r1",)
    assert tables(postgres_url) == ["t1", "t2", "t3"]
    with inspected(postgres_url) as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t1 WHERE note IS NULL").scalar() == 2
        assert sa.inspect(connection).get_indexes("t1")[0]["name"] == "t1_id"


def test_a_savepoint_sends_what_was_kept_before_it_and_its_failure_is_caught_inside(
    migrator: Migrator, postgres_url: str
) -> None:
    assert upgrade_one(
        migrator,
        """
        op.create_table('t1', sa.Column('id', sa.Integer))
        try:
            with op.get_bind().begin_nested():
                op.create_table('t1', sa.Column('id', sa.Integer))  # exists: fails at the savepoint's end
        except sa.exc.ProgrammingError:
            op.create_table('t2', sa.Column('id', sa.Integer))
        """,
    ) == ("r1",)
    assert tables(postgres_url) == ["t1", "t2"]


def test_the_pooled_connection_goes_back_as_it_came(migrator: Migrator) -> None:
    for k in (1, 2, 3):
        write(migrator.directory, f"r{k}", f"r{k - 1}" if k > 1 else None, f"op.create_table('t{k}')")
    migrator.upgrade("head")
    raw = migrator.engine().raw_connection()
    try:
        driver = raw.dbapi_connection
        assert driver is not None
        assert (driver.autocommit, type(driver.cursor()).__name__) == (False, "Cursor")
    finally:
        raw.close()
    migrator.dispose()


def test_bulk_inserts_parameters_and_batch_operations_follow_the_ddl_kept_before_them(
    migrator: Migrator, postgres_url: str
) -> None:
    write(
        migrator.directory,
        "r1",
        None,
        """
        t1 = op.create_table('t1', sa.Column('id', sa.Integer, primary_key=True), sa.Column('n', sa.Text))
        op.bulk_insert(t1, [{'id': k, 'n': 'x'} for k in range(1, 51)])  # executemany
        op.create_index('t1_n', 't1', ['n'])
        op.execute(sa.text("UPDATE t1 SET n = :n WHERE id <= :k").bindparams(n='y', k=10))
        with op.batch_alter_table('t1') as batch:
            batch.add_column(sa.Column('m', sa.Integer, server_default='7'))
            batch.alter_column('n', existing_type=sa.Text, nullable=False)
        """,
    )
    write(migrator.directory, "r2", "r1", "op.drop_index('t1_n', table_name='t1')")
    assert migrator.upgrade("head").after == ("r2",)
    with inspected(postgres_url) as connection:
        rows = connection.exec_driver_sql("SELECT n, count(*), min(m) FROM t1 GROUP BY n ORDER BY n").all()
        assert [tuple(row) for row in rows] == [("x", 40, 7), ("y", 10, 7)]
        assert sa.inspect(connection).get_indexes("t1") == []
