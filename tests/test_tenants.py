"""Tenant schemas of one PostgreSQL database sharing one engine: each view's connections are in its
schema, the pool and the dialect are the database's, the lock is still the schema's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sakyum_magic import Migrator
from sakyum_magic._core.compat import sqlalchemy_version
from sakyum_magic._guards.locking import lock_name
from sakyum_magic._run import tenants
from sakyum_magic._run.database import connect

pytestmark = pytest.mark.skipif(
    sqlalchemy_version() < (2,), reason="SQLAlchemy 1.4: every tenant keeps an engine of its own"
)


@pytest.fixture
def schemas(postgres_url: str) -> Iterator[str]:
    """Two tenant schemas (a and b) in the test's database; the process's shared engines closed after."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql('CREATE SCHEMA a; CREATE SCHEMA "b-2"')
    admin.dispose()
    yield postgres_url
    tenants.shared_engine(make_url(postgres_url)).dispose()


def current(engine: sa.Engine) -> tuple[str, int]:
    """The current schema of a connection of ``engine``, and the connection's server pid."""
    with connect(engine) as connection:
        row = connection.exec_driver_sql("SELECT current_schema(), pg_backend_pid()").one()
        return str(row[0]), int(row[1])


def test_views_share_one_connection_and_each_is_in_its_schema(schemas: str) -> None:
    url = make_url(schemas)
    a, b = tenants.tenant_engine(url, "a"), tenants.tenant_engine(url, "b-2")
    base = tenants.shared_engine(url)
    assert a.pool is b.pool is base.pool and a.dialect is base.dialect
    schema_a, pid = current(a)
    in_turn = (schema_a, current(b), current(a), current(base))
    assert in_turn == ("a", ("b-2", pid), ("a", pid), ("public", pid))
    assert lock_name(a) != lock_name(b) != lock_name(base)  # each schema keeps a lock of its own


def test_a_view_leaves_no_transaction_open_and_the_engine_is_kept(schemas: str) -> None:
    url = make_url(schemas)
    view = tenants.tenant_engine(url, "a")
    with connect(view) as connection:  # a transaction of the caller's own begins after the SET
        with connection.begin():
            connection.exec_driver_sql("CREATE TABLE t (id int)")
        assert not connection.in_transaction()
    assert tenants.shared_engine(url) is tenants.shared_engine(url)
    with connect(tenants.tenant_engine(url, "b-2")) as connection:
        assert connection.exec_driver_sql("SELECT to_regclass('t')").scalar() is None
        assert connection.exec_driver_sql("SELECT to_regclass('a.t')").scalar() == "a.t"


def test_a_migrator_releases_a_shared_engine_but_disposes_its_own(schemas: str) -> None:
    migrator = Migrator(schemas, schema="a", progress=False)
    migrator.shared_engine = True
    view = migrator.engine()
    _, pid = current(view)
    migrator.release()
    assert current(tenants.tenant_engine(make_url(schemas), "b-2"))[1] == pid  # the pool stayed
    migrator.dispose()  # nothing in use: nothing to close
    own = Migrator(schemas, schema="a", progress=False)
    first = own.engine()
    assert first.pool is not view.pool and current(first)[0] == "a"
    own.release()
    assert own.engine() is not first  # closed: the next engine is a new one of its own


def test_a_failed_search_path_is_a_database_error(schemas: str) -> None:
    from sakyum_magic._core.errors import DatabaseError

    view = tenants.tenant_engine(make_url(schemas), "a")
    with connect(view) as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = sa.create_engine(schemas, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    admin.dispose()
    with pytest.raises(DatabaseError), connect(tenants.tenant_engine(make_url(schemas), "b-2")):
        pass
    assert current(view)[0] == "a"  # the broken connection was dropped; a new one is in the schema
