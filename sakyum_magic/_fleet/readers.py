"""A target's revision read cheaply, for the targets a command skips.

A worker keeps one pooled engine per database URL (the last :data:`KEPT` URLs), so reading the
version table of the next tenant schema of the same database is one query on a connection already
open, instead of a new connection and SQLAlchemy's dialect set-up for every target. The table is
named with its schema, so the connection's own search_path does not matter. Anything unusual (the
table missing, an async driver, an error) returns None, and the target takes the ordinary path,
which reports it properly.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from .._core.binding import parse_url
from .._core.errors import DatabaseError
from .._run.aio import is_async_url
from .._run.database import VERSION_TABLE, connect, create_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

KEPT = 8
"""Engines a worker keeps open (one idle connection each)."""

# One worker process reads many targets: its engines are kept across tasks, keyed by URL.
_ENGINES: OrderedDict[str, Engine] = OrderedDict()


def version_of(url: str, schema: str | None) -> tuple[str, ...] | None:
    """The revisions in the target's version table; None when they cannot be read this way."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    parsed = parse_url(url)
    if is_async_url(parsed):
        return None
    engine = _engine(url)
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


def _engine(url: str) -> Engine:
    engine = _ENGINES.pop(url, None)
    if engine is None:
        engine = create_engine(parse_url(url))
    _ENGINES[url] = engine
    while len(_ENGINES) > KEPT:
        _ENGINES.popitem(last=False)[1].dispose()
    return engine
