"""Tenant schemas of one PostgreSQL database on one pool: an engine per database URL, per process.

A fleet worker runs many tenant schemas of the same database one after another. An engine of their
own each (``create_engine(url, schema)``) costs every target a new engine, SQLAlchemy's dialect
set-up and two new server connections (the lock's and the run's), each a new PostgreSQL backend to
start and warm up. Here a process keeps one engine per database URL (the last :data:`KEPT`), and
each target gets a view of it (``Engine.execution_options``: the same pool and dialect, the target's
schema as :data:`SCHEMA_OPTION`, so its migration lock is still the schema's own). Every connection
a view hands out is in the view's schema first: ``SET search_path`` when the pooled connection was
last in another one, sent the way SQLAlchemy's search-path recipe does it (autocommit for that one
statement, so no transaction is left open); a connection of the engine itself goes back to the
server's default search_path. A view is never disposed on its own: disposing it closes the pool of
every view of that database in this process (what a failed run does, so that nothing it held stays).

The dialect's ``default_schema_name`` is the database's default then, not the tenant's: only the
commands that run revisions use views (reflection, as ``check`` and ``lint`` do, keeps an engine of
its own). On SQLAlchemy 1.4 every target keeps an engine of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .._core.compat import sqlalchemy_version
from .aio import is_async_url
from .database import SCHEMA_OPTION, create_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

KEPT = 8
"""Database engines a process keeps, each with its pooled connections."""
IN_SCHEMA = "sakyum_search_path"
"""Key of a pooled connection's ``info``: the schema its search_path was last set to."""

# One worker process runs many targets: its engines are kept across them, keyed by URL.
_ENGINES: OrderedDict[str, Engine] = OrderedDict()


def shares_engine(url: URL) -> bool:
    """Whether tenant schemas of ``url`` can share an engine: PostgreSQL with a synchronous driver,
    on SQLAlchemy 2 (1.4 refuses statement listeners on a connection of an engine's view)."""
    postgres = url.get_backend_name() == "postgresql" and not is_async_url(url)
    return postgres and sqlalchemy_version() >= (2,)


def shared_engine(url: URL) -> Engine:
    """This process's engine for ``url``'s database (made on first use; the least used one of more
    than :data:`KEPT` is disposed)."""
    from sqlalchemy import event

    key = url.render_as_string(hide_password=False)
    engine = _ENGINES.pop(key, None)
    if engine is None:
        engine = create_engine(url)
        if shares_engine(url):
            event.listen(engine, "engine_connect", _enter_schema)
    _ENGINES[key] = engine
    while len(_ENGINES) > KEPT:
        _ENGINES.popitem(last=False)[1].dispose()
    return engine


def tenant_engine(url: URL, schema: str) -> Engine:
    """A view of :func:`shared_engine` whose connections are in ``schema`` (PostgreSQL only)."""
    return shared_engine(url).execution_options(**{SCHEMA_OPTION: schema})


def _enter_schema(connection: Connection, *_branch: Any) -> None:
    """The ``engine_connect`` listener: put the connection in its engine's schema, unless it is
    (SQLAlchemy 1.4 passes ``branch`` too: a branch shares its parent's connection, already there)."""
    schema = connection.get_execution_options().get(SCHEMA_OPTION)
    pooled = connection.connection
    if pooled.info.get(IN_SCHEMA) == schema:
        return
    quoted = None if schema is None else '"' + str(schema).replace('"', '""') + '"'
    statement = "RESET search_path" if quoted is None else f"SET search_path TO {quoted}"
    driver: Any = connection.dialect.dbapi  # SQLAlchemy 2 calls it loaded_dbapi too; 1.4 only this
    try:
        _autocommit(pooled.dbapi_connection, statement)
    except driver.Error as exc:
        from sqlalchemy.exc import DBAPIError

        connection.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, driver.Error) from exc
    pooled.info[IN_SCHEMA] = schema


def _autocommit(dbapi_connection: Any, statement: str) -> None:
    """Run ``statement`` outside a transaction (SQLAlchemy's recipe for a search_path on connect)."""
    before = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
    finally:
        dbapi_connection.autocommit = before
