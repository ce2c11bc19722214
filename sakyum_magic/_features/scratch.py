"""Scratch databases for ``%migrate test``: a temporary SQLite file, or a database created on the
bound server and dropped afterwards; the bound database is never touched (see :mod:`.fence`).

A server's scratch database is named ``sakyum_test_<unix time>_<random>``: one that a killed or
interrupted run left behind (made before the current run began, and with no connection open to it)
is dropped by the next run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url, parse_url
from .._core.errors import ConfigurationError, DatabaseError
from .._run import aio, envrun
from .._run.database import connect, first_line
from .fence import SCRATCH_PREFIX as SCRATCH_PREFIX
from .fence import Fence, fence_for, guard_statements

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from .._core.migrator import Migrator

    Scratch = Callable[[URL], Migrator]

FOLDER_PREFIX = "sakyum-test-"
"""A SQLite scratch database's temporary folder: ``sakyum-test-<process id>-<random>``."""
SERVERS = frozenset({"postgresql", "mysql", "mariadb"})


@contextmanager
def scratch_migrator(migrator: Migrator, scratch: Scratch) -> Iterator[Migrator]:
    """A Migrator like ``migrator`` on a new scratch database, removed (engine and database) afterwards;
    whatever it runs is kept on that database by a :class:`~.fence.Fence`."""
    with scratch_database(migrator) as url:
        target = scratch(url)
        try:
            if url.get_backend_name() == "sqlite":
                _without_sync(target.engine())
            fence = fence_for(migrator.engine(), url) if url.get_backend_name() != "sqlite" else _file_fence()
            target.fence = fence
            guard_statements(target.engine(), fence)
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


def _file_fence() -> Fence:
    return Fence("sqlite", "main", "main")


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
        import os
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-") as folder:
            yield url.set(database=str(Path(folder) / "scratch.db"))
        return
    require_scratch_support(url)
    name = f"{SCRATCH_PREFIX}{int(time.time())}_{uuid.uuid4().hex[:8]}"
    engine = migrator.engine()
    _on_server(engine, f"CREATE DATABASE {_quoted(engine, name)}", "create")
    try:
        with _kept_in_use(url.set(database=name)):
            yield url.set(database=name)
    finally:
        _on_server(engine, _drop(engine, name), "drop")


@contextmanager
def _kept_in_use(url: URL) -> Iterator[None]:
    """A connection to the new scratch database, open while it is used, so that another run's
    :func:`remove_stale` sees it in use from the start (a sync driver's; an async engine's
    connections belong to one event loop and are not held across calls)."""
    from sqlalchemy.pool import NullPool

    from .._core.compat import engine_options
    from .._run.aio import is_async_url

    if is_async_url(url):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=NullPool, **engine_options())
    try:
        with connect(engine):
            yield
    finally:
        engine.dispose()


def require_scratch_support(url: URL) -> None:
    """ConfigurationError where no scratch database can be made (neither SQLite nor a known server)."""
    backend = url.get_backend_name()
    if backend != "sqlite" and backend not in SERVERS:
        raise ConfigurationError(
            f"%migrate test needs a scratch database, which it makes on SQLite, PostgreSQL and "
            f"MySQL/MariaDB only, not {backend}"
        )


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


def remove_stale(migrator: Migrator, started: float) -> list[str]:
    """Drop the scratch databases on the bound server that a killed or interrupted run left: made
    before ``started`` (their name says when) and with no connection open to them. Returns their
    names; one that cannot be dropped (another user's, or just connected to) is left alone."""
    if parse_url(migrator.url).get_backend_name() == "sqlite":
        return _remove_stale_folders(started)
    engine = migrator.engine()
    if engine.url.get_backend_name() not in SERVERS:
        return []
    return aio.call(engine, lambda: _drop_stale(engine, started))


def _remove_stale_folders(started: float) -> list[str]:
    """The temporary folders of SQLite scratch databases whose process has ended (POSIX only: there
    a process id can be probed without touching the process)."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    if os.name != "posix":
        return []
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name.removeprefix(FOLDER_PREFIX).partition("-")[0]
        if pid.isdigit() and not _running(int(pid)) and folder.stat().st_mtime < started:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)  # signal 0: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _drop_stale(engine: Engine, started: float) -> list[str]:
    from sqlalchemy.exc import DBAPIError

    dropped = []
    with connect(engine) as connection:
        autocommit: Connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for name in _stale(autocommit, started):
            try:  # PostgreSQL's DROP DATABASE (without FORCE) refuses one that is in use
                autocommit.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quoted(engine, name)}")
            except DBAPIError:
                continue
            dropped.append(name)
    return dropped


# Scratch databases by name, and how many connections each has open (by any user the role can see).
_SCRATCH_QUERIES = {
    "postgresql": "SELECT d.datname, (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) "
    "FROM pg_database d WHERE d.datname LIKE 'sakyum\\_test\\_%%'",
    "mysql": "SELECT s.schema_name, (SELECT count(*) FROM information_schema.processlist p "
    "WHERE p.db = s.schema_name) FROM information_schema.schemata s "
    "WHERE s.schema_name LIKE 'sakyum\\_test\\_%%'",
}


def _stale(connection: Connection, started: float) -> list[str]:
    backend = "postgresql" if connection.dialect.name == "postgresql" else "mysql"
    rows = connection.exec_driver_sql(_SCRATCH_QUERIES[backend]).all()
    return sorted(str(name) for name, users in rows if not users and _made_before(str(name), started))


def _made_before(name: str, started: float) -> bool:
    """Whether the scratch database ``name`` was made before ``started`` (per the time in its name)."""
    made = name.removeprefix(SCRATCH_PREFIX).partition("_")[0]
    return made.isdigit() and int(made) < int(started)
