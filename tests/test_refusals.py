"""States users really have that no revision file is to blame for, each one line naming the table,
role or limit and the way out: a table of the applied-at log's name that is someone else's, a role
that may only read, a connection limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sakyum_magic import ConfigurationError, DatabaseError, Migrator, SakyumError
from tests.conftest import MYSQL_URL
from tests.revisions import write
from tests.shells import migrate, one_line_error

LOG = "sakyum_migration_log"


def chain(migrator: Migrator) -> None:
    """r1 creates t1, r2 creates t2."""
    migrator.init()
    write(
        migrator.directory,
        "r1",
        None,
        "op.create_table('t1', sa.Column('id', sa.Integer))",
        "op.drop_table('t1')",
    )
    write(
        migrator.directory,
        "r2",
        "r1",
        "op.create_table('t2', sa.Column('id', sa.Integer))",
        "op.drop_table('t2')",
    )


def version(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


# -- a table of the log's name that is someone else's ---------------------------------------------


def test_a_user_table_named_like_the_log_is_named_not_blamed_on_a_migration(any_url: str, shell: Any) -> None:
    engine = sa.create_engine(any_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {LOG} (note VARCHAR(20), n INTEGER)"))
        connection.execute(sa.text(f"INSERT INTO {LOG} (note, n) VALUES ('mine', 1)"))
    migrator = Migrator(url=any_url)
    chain(migrator)
    for call in (migrator.upgrade, migrator.log, lambda: migrator.stamp("r1")):
        with pytest.raises(ConfigurationError) as caught:
            call()
        message = str(caught.value)
        assert f"table named {LOG} that is not this package's (its columns: n, note)" in message
        assert "MigrateMagics.audit = False" in message and "another migration" not in message
    assert migrator.history(indicate_current=True)[0].applied_at is None  # history -i still works
    # The way out: with the log off, the upgrade runs and the user's table is left as it was.
    migrator.audit = False
    assert migrator.upgrade().after == ("r2",)
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT note, n FROM {LOG}")).all() == [("mine", 1)]
    engine.dispose()
    migrator.dispose()
    migrate(shell, f"config --url {any_url}")
    assert f"table named {LOG}" in one_line_error(shell, "log")
    assert list(migrate(shell, "history -i")["revision"]) == ["r2", "r1"]


# -- a role that may only read ---------------------------------------------------------------------


@pytest.fixture
def read_only_url(postgres_url: str) -> Iterator[str]:
    """The test's PostgreSQL database at r2 (with the log), and a role that may read it, not write it."""
    migrator = Migrator(url=postgres_url)
    chain(migrator)
    migrator.upgrade()
    migrator.dispose()
    role = f"sakyum_ro_{uuid.uuid4().hex[:8]}"
    base = make_url(postgres_url)
    owner = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        connection.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    try:
        yield base.set(username=role).render_as_string(hide_password=False)
    finally:
        with owner.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            )
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
        owner.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["downgrade", "stamp", "stamp --purge"])
def test_a_read_only_role_is_named_with_the_way_out(read_only_url: str, workdir: Path, command: str) -> None:
    migrator = Migrator(url=read_only_url)
    calls = {
        "downgrade": lambda: migrator.downgrade("r1"),
        "stamp": lambda: migrator.stamp("r1"),
        "stamp --purge": lambda: migrator.stamp("base", purge=True),
    }
    with pytest.raises(DatabaseError) as caught:
        calls[command]()
    message = str(caught.value)
    assert "\n" not in message
    role = make_url(read_only_url).username
    assert f"stopped: {role!r} may not change" in message
    assert "permission denied for table alembic_version" in message or "must be owner of table t2" in message
    assert "database at r2" in message and "connect as a role that owns the schema" in message
    assert LOG not in message  # the log is not what stopped it, and is not blamed
    assert version(read_only_url) == ["r2"]
    migrator.dispose()


@pytest.mark.postgres
def test_a_read_only_role_reads_as_before(read_only_url: str, shell: Any) -> None:
    migrate(shell, f"config --url {read_only_url}")
    assert list(migrate(shell, "current")["revision"]) == ["r2"]
    assert list(migrate(shell, "history -i")["revision"]) == ["r2", "r1"]
    assert len(migrate(shell, "log")) == 2
    message = one_line_error(shell, "downgrade base")
    assert "may not change" in message and "Traceback" not in message


@pytest.mark.postgres
def test_a_role_that_may_write_rows_but_create_no_table_stamps_without_the_log(
    postgres_url: str, workdir: Path
) -> None:
    """The log cannot be created, the rest can be written: the stamp runs, and says the log was not."""
    owner = Migrator(url=postgres_url, audit=False)
    chain(owner)
    owner.upgrade()
    owner.dispose()
    role = f"sakyum_rw_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        connection.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON alembic_version TO "{role}"')
    url = make_url(postgres_url).set(username=role).render_as_string(hide_password=False)
    migrator = Migrator(url=url)
    try:
        result = migrator.stamp("r1")
        assert result.after == ("r1",)
        assert any(f"log was not written: {role!r} may not create its table {LOG}" in n for n in result.notes)
        assert version(postgres_url) == ["r1"]
    finally:
        migrator.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
            )
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


# -- a connection limit ------------------------------------------------------------------------------


@pytest.mark.mysql
def test_a_connection_limit_is_named_as_such(mysql_url: str) -> None:
    user = f"sakyum_{uuid.uuid4().hex[:8]}"
    database = make_url(mysql_url).database
    admin = sa.create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' WITH MAX_USER_CONNECTIONS 1")
        connection.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{user}'@'%%'")
    limited = make_url(mysql_url).set(username=user, password=None)
    holder = sa.create_engine(limited, poolclass=sa.pool.NullPool).connect()  # its one connection
    try:
        with pytest.raises(SakyumError) as caught:
            Migrator(url=limited).log()
        message = str(caught.value)
        assert f"{user!r} has reached a connection limit" in message and "MAX_USER_CONNECTIONS" in message
        assert "check that the server is running" not in message
    finally:
        holder.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")
        admin.dispose()
