"""Locks that keep two migrations of the same database from running at once.

Alembic takes no lock of its own (alembic#633): two processes upgrading one database both read the
same revision and both run the same migrations. Around upgrade, downgrade and stamp the migrator
holds two locks, always in this order:

1. a lock for this process, because ``alembic.context`` and ``alembic.op`` are module-level proxies:
   two threads running env.py at once would overwrite each other's migration context;
2. a lock in the database, held on a connection of its own (a query on the migration connection
   before Alembic configures it would make Alembic treat the transaction as external and never
   commit it): ``pg_advisory_lock`` on PostgreSQL, ``GET_LOCK`` on MySQL and MariaDB, and on SQLite
   an exclusive ``flock`` on a ``<database>.lock`` file beside the database, removed on release.

Both wait. The migrator reads the database's revision only once it holds them, so a run that waited
finds the work already done and reports that nothing is left to do.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from .binding import mask_url
from .errors import DatabaseError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

LOCK_TIMEOUT = 600.0
"""Seconds a migration waits for another one on the same database before giving up."""

LOCK_NAME = "sakyum_magic.migrate"

# Module-level on purpose: what it guards, Alembic's context and op proxies, is module-level too.
_ALEMBIC_CONTEXT = threading.RLock()


@contextmanager
def alembic_context() -> Iterator[None]:
    """Hold the process-wide lock around anything that runs env.py (re-entrant)."""
    with _ALEMBIC_CONTEXT:
        yield


@contextmanager
def migration_lock(engine: Engine, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the process lock, then the database's migration lock, for the duration of a run."""
    with alembic_context(), database_lock(engine, timeout):
        yield


def database_lock(engine: Engine, timeout: float = LOCK_TIMEOUT) -> AbstractContextManager[None]:
    """The lock other processes migrating the same database wait on (none for other dialects)."""
    lock = _LOCKS.get(engine.dialect.name)
    return lock(engine, timeout) if lock is not None else nullcontext()


def advisory_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (advisory locks are per database)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _postgres_lock(engine: Engine, timeout: float) -> Iterator[None]:
    from sqlalchemy import text

    key = advisory_key()
    with _lock_connection(engine) as connection:
        with _timed_out(engine, timeout), connection.begin():
            # SET LOCAL keeps the timeout off the pooled connection; the lock itself is session-level.
            connection.execute(text(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextmanager
def _mysql_lock(engine: Engine, timeout: float) -> Iterator[None]:
    from sqlalchemy import text

    with _lock_connection(engine) as connection:
        # GET_LOCK names are server-wide, so the database's name goes into it (64 characters at most).
        database = connection.execute(text("SELECT DATABASE()")).scalar() or ""
        name = f"{LOCK_NAME}:{database}"[:64]
        got = connection.execute(text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": timeout})
        if got.scalar() != 1:
            raise _busy(engine, timeout)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            connection.commit()


@contextmanager
def _sqlite_lock(engine: Engine, timeout: float) -> Iterator[None]:
    path = sqlite_lock_path(engine.url)
    if path is None:
        yield  # an in-memory database is private to its connection: nobody else can migrate it
        return
    with file_lock(path, timeout, engine):
        yield


def sqlite_lock_path(url: URL) -> Path | None:
    """Where the lock file of a SQLite database goes, or None for an in-memory database."""
    database = url.database or ""
    if database in {"", ":memory:"} or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    return Path(database.removeprefix("file:").split("?", 1)[0] + ".lock")


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT, engine: Engine | None = None) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes; the file is created, and removed on release."""
    descriptor = _acquire_file(path, timeout, engine)
    try:
        yield
    finally:
        # Unlink while still holding the lock: a waiter then notices its file is gone and retries.
        # (Windows cannot remove an open file, so there the file stays.)
        if sys.platform != "win32":
            path.unlink(missing_ok=True)
        _unlock(descriptor)
        os.close(descriptor)


def _acquire_file(path: Path, timeout: float, engine: Engine | None) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except (OSError, ValueError) as exc:  # a missing folder or a bad name in the database path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = f"connect to {mask_url(engine.url)}: cannot " if engine is not None else ""
            raise DatabaseError(
                f"cannot {where}create the lock file {str(path)[:80]!r}: {reason}; check the database "
                "path in the URL (%migrate config --url URL)"
            ) from exc
        locked = False
        try:
            _flock_until(descriptor, deadline, path, engine)
            # The file may have been removed and made anew while we waited: lock the one on disk.
            locked = _same_file(descriptor, path)
            if not locked:
                _unlock(descriptor)
        finally:
            if not locked:
                os.close(descriptor)
        if locked:
            return descriptor


def _flock_until(descriptor: int, deadline: float, path: Path, engine: Engine | None) -> None:
    delay = 0.005
    while not _try_lock(descriptor):
        if time.monotonic() >= deadline:
            where = mask_url(engine.url) if engine is not None else str(path)
            raise DatabaseError(
                f"another migration of {where} still holds {path}: wait for it to finish, "
                "or remove the file if no migration is running"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _try_lock(descriptor: int) -> bool:
    """Take the exclusive lock without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(descriptor: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(descriptor, fcntl.LOCK_UN)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


@contextmanager
def _lock_connection(engine: Engine) -> Iterator[Connection]:
    from .database import connect

    with connect(engine) as connection:
        yield connection


@contextmanager
def _timed_out(engine: Engine, timeout: float) -> Iterator[None]:
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except DBAPIError as exc:
        if "lock timeout" not in str(exc.orig).lower():
            raise
        raise _busy(engine, timeout) from exc


def _busy(engine: Engine, timeout: float) -> DatabaseError:
    return DatabaseError(
        f"another migration of {mask_url(engine.url)} has held its lock for over {timeout:g} s: "
        "wait for it to finish, then run the command again"
    )


_LOCKS: dict[str, Callable[[Engine, float], AbstractContextManager[None]]] = {
    "postgresql": _postgres_lock,
    "mysql": _mysql_lock,
    "mariadb": _mysql_lock,
    "sqlite": _sqlite_lock,
}
