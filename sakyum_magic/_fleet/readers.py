"""A target's revision read cheaply, for the targets a command skips.

A worker keeps one pooled engine per database URL (:mod:`sakyum_magic._run.tenants`, the one its
runs use too), so reading the version table of the next tenant schema of the same database is one
query on a connection already open, instead of a new connection and SQLAlchemy's dialect set-up for
every target. The table is named with its schema, whatever the connection's search_path. Anything unusual (the
table missing, an async driver, an error) returns None, and the target takes the ordinary path,
which reports it properly.
"""

from __future__ import annotations

from .._core.binding import parse_url
from .._core.errors import DatabaseError
from .._run.aio import is_async_url
from .._run.database import VERSION_TABLE, connect
from .._run.tenants import shared_engine, shares_engine, tenant_engine


def version_of(url: str, schema: str | None) -> tuple[str, ...] | None:
    """The revisions in the target's version table; None when they cannot be read this way."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    parsed = parse_url(url)
    if is_async_url(parsed):
        return None
    # the tenant's view: the connection it leaves in the pool is in the schema the run needs next
    shared = schema is not None and shares_engine(parsed)
    engine = tenant_engine(parsed, schema) if shared and schema else shared_engine(parsed)
    preparer = engine.dialect.identifier_preparer
    table = preparer.quote(VERSION_TABLE)
    if schema is not None:
        table = f"{preparer.quote_schema(schema)}.{table}"
    try:
        with connect(engine) as connection:
            try:
                rows = connection.execute(text(f"SELECT version_num FROM {table}")).all()
            except DBAPIError:
                connection.rollback()
                return None
    except DatabaseError:
        return None
    return tuple(sorted(row[0] for row in rows))
