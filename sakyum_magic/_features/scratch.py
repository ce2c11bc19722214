"""Scratch databases for ``%migrate test``: a temporary SQLite file, or a database created on the
bound server and dropped afterwards; the bound database is never touched."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url, parse_url
from .._core.errors import ConfigurationError, DatabaseError
from .._run import aio, envrun
from .._run.database import connect, first_line

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from .._core.migrator import Migrator

    Scratch = Callable[[URL], Migrator]

SCRATCH_PREFIX = "sakyum_test_"
SERVERS = frozenset({"postgresql", "mysql", "mariadb"})


@contextmanager
def scratch_migrator(migrator: Migrator, scratch: Scratch) -> Iterator[Migrator]:
    """A Migrator like ``migrator`` on a new scratch database, removed (engine and database) afterwards."""
    with scratch_database(migrator) as url:
        target = scratch(url)
        try:
            if url.get_backend_name() == "sqlite":
                _without_sync(target.engine())
            require_scratch_only(target)
            yield target
        finally:
            target.dispose()


def require_scratch_only(target: Migrator) -> None:
    """ConfigurationError, before anything runs, when env.py would migrate another database too (a
    multidb directory, an env.py that sets its own URL): read as ``alembic current`` reads, changing
    nothing."""
    if envrun.own_env(target.directory):
        return
    script = target.script_directory()
    found = aio.call(target.engine(), lambda: envrun.read_heads(target.target(), script))
    others = sorted({database for database, _heads in found if database})
    if others:
        raise ConfigurationError(
            f"env.py in {target.directory} migrates {', '.join(others)}, not only the database it is "
            "given, so %migrate test cannot keep its checks on a scratch database; nothing was run"
        )


def _without_sync(engine: Engine) -> None:
    """No fsync at each commit on a scratch SQLite file (a revision each): nothing there must last."""
    from sqlalchemy import event

    def no_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    event.listen(engine, "connect", no_sync)


@contextmanager
def scratch_database(migrator: Migrator) -> Iterator[URL]:
    """The URL of an empty database like the bound one, which exists only inside the block."""
    url = parse_url(migrator.url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="sakyum-test-") as folder:
            yield url.set(database=str(Path(folder) / "scratch.db"))
        return
    if backend not in SERVERS:
        raise ConfigurationError(
            f"%migrate test needs a scratch database, which it makes on SQLite, PostgreSQL and "
            f"MySQL/MariaDB only, not {backend}"
        )
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    engine = migrator.engine()
    _on_server(engine, f"CREATE DATABASE {_quoted(engine, name)}", "create")
    try:
        yield url.set(database=name)
    finally:
        _on_server(engine, _drop(engine, name), "drop")


def _on_server(engine: Any, statement: str, verb: str) -> None:
    """Run ``statement`` on an AUTOCOMMIT connection of the bound server (CREATE/DROP DATABASE
    cannot run in a transaction); the bound database itself is only connected to."""
    from sqlalchemy.exc import DBAPIError

    def run() -> None:
        with connect(engine) as connection:
            autocommit: Connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql(statement)

    try:
        aio.call(engine, run)
    except DBAPIError as exc:
        raise DatabaseError(
            f"cannot {verb} a scratch database on {mask_url(engine.url)}: "
            f"{first_line(exc.orig, engine.url)}; "
            "%migrate test needs the right to create databases there (or bind a SQLite URL)"
        ) from exc


def _quoted(engine: Any, name: str) -> str:
    return str(engine.dialect.identifier_preparer.quote_identifier(name))


def _drop(engine: Any, name: str) -> str:
    """DROP DATABASE; on PostgreSQL 13 and newer WITH (FORCE), so a connection env.py left open
    cannot keep the scratch database alive."""
    drop = f"DROP DATABASE IF EXISTS {_quoted(engine, name)}"
    version = engine.dialect.server_version_info or ()
    forced = engine.dialect.name == "postgresql" and tuple(version) >= (13,)
    return f"{drop} WITH (FORCE)" if forced else drop
