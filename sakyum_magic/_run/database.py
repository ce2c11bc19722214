"""Database connections for migrations: engine creation, error translation, reading the version table.

On SQLite the engine follows SQLAlchemy's documented pysqlite recipe: the driver's own transaction
handling is switched off and SQLAlchemy emits ``BEGIN`` itself, so a revision's DDL and its
version-table update commit together (one transaction and one commit per revision).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url, parse_url, scrub
from .._core.compat import postgres_scheme
from .._core.errors import ConfigurationError, DatabaseError
from .._core.refusals import connect_error
from .._guards.sakyum_env_support import LOG_TABLE as LOG_TABLE
from .._guards.sakyum_env_support import MARKER_TABLE as MARKER_TABLE
from .._guards.sakyum_env_support import OWN_TABLES as OWN_TABLES
from .._guards.sakyum_env_support import make_sqlite_ddl_transactional

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

VERSION_TABLE = "alembic_version"
# The package's own tables (the applied-at log of _guards/audit.py, the notes of _guards/markers.py):
# never a model's, never offered to drop.
WRITER_OPTION = "sakyum_writer"
"""Execution option marking a migration connection: on SQLite its transactions BEGIN IMMEDIATE."""
SCHEMA_OPTION = "sakyum_schema"
"""Engine execution option naming the tenant schema an engine is bound to (PostgreSQL's search_path)."""

_DRIVER_HINTS = {
    "psycopg2": "pip install psycopg2-binary",
    "psycopg": "pip install 'psycopg[binary]'",
    "MySQLdb": "pip install mysqlclient, or use mysql+pymysql:// with PyMySQL",
}


def create_engine(url: URL, schema: str | None = None) -> Engine:
    """An engine for running migrations against ``url`` (transactional DDL on SQLite).

    :param schema: a PostgreSQL schema every connection starts in (its ``search_path``, so the
        version table and unqualified names are the schema's: Alembic's schema-level recipe).
    """
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from .._core.compat import engine_options as version_options
    from .aio import engine_options

    options = engine_options(url)
    if schema is not None:
        options.update(schema_options(url, schema))
    if sqlite_file(url) is not None:
        # No pooled handle on a SQLite file: one deleted, replaced or moved between two commands
        # (`!rm default.db` to start over) is opened afresh, never used through a stale handle.
        from sqlalchemy.pool import NullPool

        options["poolclass"] = NullPool
    try:
        engine = sqlalchemy.create_engine(url, **options, **version_options())
    except NoSuchModuleError as exc:
        raise _unknown_dialect(url) from exc
    except ModuleNotFoundError as exc:
        hint = _DRIVER_HINTS.get(exc.name or "", f"pip install {exc.name}")
        if exc.name == "psycopg2" and postgres_scheme() != "postgresql+psycopg2":
            hint += ", or use postgresql+psycopg:// with psycopg 3"
        raise ConfigurationError(
            f"the driver for {mask_url(url)!r} is not installed ({exc.name}): {hint}"
        ) from exc
    except (ArgumentError, ValueError, TypeError) as exc:  # also a query option of the wrong type
        raise ConfigurationError(
            f"cannot use the database URL {mask_url(url)!r}: {scrub(str(exc), url)}"
        ) from exc
    if is_transactional_sqlite(engine):
        # A migration's first statement reads the version table; with a deferred BEGIN its first
        # write then fails at once ("database is locked") if another connection is writing, while
        # IMMEDIATE waits out the busy timeout: migration connections (WRITER_OPTION) get IMMEDIATE.
        make_sqlite_ddl_transactional(engine, WRITER_OPTION)
    return engine


def schema_options(url: URL, schema: str) -> dict[str, Any]:
    """``create_engine`` keywords that put every connection in ``schema`` from its start (so the
    dialect's default schema is that one too); ConfigurationError where a schema means nothing."""
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"a schema ({schema}) is for PostgreSQL; on {url.get_backend_name()} name the database in the URL"
        )
    quoted = '"' + schema.replace('"', '""') + '"'
    if url.get_driver_name() == "asyncpg":
        connect_args: dict[str, Any] = {"server_settings": {"search_path": quoted}}
    else:  # libpq's options: spaces and backslashes would need escaping, so names without them
        connect_args = {"options": f"-csearch_path={quoted}"}
    return {"connect_args": connect_args, "execution_options": {SCHEMA_OPTION: schema}}


def check_dialect(url: URL) -> None:
    """ConfigurationError unless SQLAlchemy knows the URL's dialect (its driver need not be installed)."""
    from sqlalchemy.exc import NoSuchModuleError

    try:
        url.get_dialect()
    except NoSuchModuleError as exc:
        raise _unknown_dialect(url) from exc


def _unknown_dialect(url: URL) -> ConfigurationError:
    return ConfigurationError(
        f"unknown database dialect in {mask_url(url)!r}: use sqlite://, {postgres_scheme()}:// "
        "or mysql+pymysql:// (fix it with %migrate config --url URL)"
    )


def new_sqlite_file(url: str | URL | None) -> Path | None:
    """The file of a SQLite URL that does not exist yet (connecting creates it), else None."""
    path = sqlite_file(url)
    try:
        return None if path is None or path.exists() else path
    except (OSError, ValueError):
        return None


def sqlite_file(url: str | URL | None) -> Path | None:
    """The file a SQLite URL names (existing or not); None for other databases and in-memory ones."""
    try:
        parsed = parse_url(url)
    except ConfigurationError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in {"", ":memory:"} or database.startswith("file:"):
        return None
    return Path(database)


def file_identity(path: Path | None) -> tuple[int, int] | None:
    """Device and inode of ``path``: a deleted, replaced or moved database file changes it."""
    if path is None:
        return None
    try:
        found = path.stat()
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino


SQLITE_HEADER = b"SQLite format 3\x00"


def require_sqlite_database(url: str | URL | None) -> None:
    """A SQLite URL must not name a file that is something else (SQLite's error says little)."""
    path = sqlite_file(url)
    try:
        with path.open("rb") as handle:  # type: ignore[union-attr]
            header = handle.read(len(SQLITE_HEADER))
    except (AttributeError, OSError):
        return  # not a SQLite file URL, or no file yet (connecting creates it)
    if header and header != SQLITE_HEADER:
        raise DatabaseError(
            f"{path} is not a SQLite database (it holds something else): bind another file with "
            "%migrate config --url sqlite:///FILE"
        )


def is_empty_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a SQLite file with nothing in it (what connecting alone leaves behind)."""
    import sqlite3

    if not path.is_file():
        return False
    if path.stat().st_size == 0:
        return True
    try:
        with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True) as connection:
            found = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            names = {row[0] for row in found}
    except sqlite3.DatabaseError:
        return False
    return names <= OWN_TABLES  # at most the package's own log of the failed attempt


def require_database_file(url: str | URL | None) -> None:
    """A read-only command must not create a SQLite file just by connecting: say so instead."""
    path = sqlite_file(url)
    if path is not None and file_identity(path) is None:
        raise DatabaseError(
            f"no database file at {path}: %migrate upgrade creates it (a read-only command does not)"
        )


def is_transactional_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` is a SQLite engine on which SQLAlchemy, not the driver, opens transactions."""
    return bool(engine.dialect.name == "sqlite" and engine.dialect.driver in {"pysqlite", "aiosqlite"})


@contextmanager
def connect(engine: Engine, autocommit: bool = False) -> Iterator[Connection]:
    """A connection, with an unreachable server or a bad database path turned into DatabaseError.

    :param autocommit: on PostgreSQL, each statement commits on its own, with no BEGIN and ROLLBACK
        around it (two round trips fewer): for reads, and for one statement that stands alone. The
        driver's setting, sent nowhere, is put back as the connection returns to the pool.
    """
    from sqlalchemy.exc import DBAPIError

    try:
        connection = engine.connect()
    except (DBAPIError, OSError) as exc:  # asyncpg raises the socket's own OSError
        raise connect_error(engine.url, exc) from exc  # a connection limit is named as such
    except TypeError as exc:  # the driver's connect() refuses a keyword of the URL's query string
        raise DatabaseError(
            f"the driver for {mask_url(engine.url)} refuses an option of its URL "
            f"({first_line(exc, engine.url)}): remove it from the query string (%migrate config --url URL)"
        ) from exc
    with connection:
        if autocommit and engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def current_heads(engine: Engine, version_table: str = VERSION_TABLE) -> tuple[str, ...]:
    """The revisions stored in the version table, read with one query on a connection of its own.

    A separate connection matters: a query on the migration connection before Alembic configures it
    would make Alembic treat the transaction as external and never commit it.
    """
    from .aio import call

    return call(engine, lambda: _read_heads(engine, version_table))


def _read_heads(engine: Engine, version_table: str) -> tuple[str, ...]:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with connect(engine, autocommit=True) as connection:
        try:
            rows = connection.execute(text(f"SELECT version_num FROM {version_table}")).all()
        except DBAPIError as exc:
            connection.rollback()
            if _table_exists(connection, version_table):
                raise DatabaseError(
                    f"cannot read {version_table} from {mask_url(engine.url)}: "
                    f"{first_line(exc.orig, engine.url)}"
                ) from exc
            return ()
    return tuple(sorted(row[0] for row in rows))


def _table_exists(connection: Connection, table: str) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(connection).has_table(table))


def first_line(error: BaseException | None, url: URL | None) -> str:
    """A driver error's first line, without any password it might quote."""
    text = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else "error"
    return scrub(text, url)


@contextmanager
def sqlite_pragmas(connection: Connection, statements: Sequence[str]) -> Iterator[None]:
    """SQLite: the run's ``PRAGMA name = value`` statements (``upgrade --lock-timeout``'s busy timeout)
    set on the driver's connection before the run's first BEGIN IMMEDIATE, which waits for the write
    lock under it; the previous values restored afterwards, as the connection goes back to the pool."""
    pragmas = [s for s in statements if s.upper().startswith("PRAGMA ")]
    if connection.dialect.name != "sqlite" or not pragmas:
        yield
        return
    raw = connection.connection  # no SQLAlchemy BEGIN: that would wait for the lock first
    names = [s.split()[1] for s in pragmas]
    previous = [f"PRAGMA {name} = {_driver_rows(raw, f'PRAGMA {name}')[0][0]}" for name in names]
    for pragma in pragmas:
        _driver_rows(raw, pragma)
    try:
        yield
    finally:
        if not connection.invalidated:
            for pragma in previous:
                _driver_rows(raw, pragma)


def _driver_rows(raw: Any, statement: str) -> list[Any]:
    cursor = raw.cursor()  # a cursor: aiosqlite's adapted connection has no execute()
    try:
        cursor.execute(statement)
        return list(cursor.fetchall())
    finally:
        cursor.close()
