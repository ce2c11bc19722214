"""Locks that keep two migrations of the same database from running at once, whichever tool runs them.

Alembic takes no lock of its own (alembic#633): two processes upgrading one database both read the
same revision and both run the same migrations. Around upgrade, downgrade and stamp the migrator
holds two locks, always in this order:

1. a lock for this process, because ``alembic.context`` and ``alembic.op`` are module-level proxies:
   two threads running env.py at once would overwrite each other's migration context;
2. a lock in the database, held on a connection of its own (a query on the migration connection
   before Alembic configures it would make Alembic treat the transaction as external and never
   commit it): ``pg_advisory_lock(advisory_key())`` on PostgreSQL, ``GET_LOCK(mysql_lock_name(db))``
   on MySQL and MariaDB, and on SQLite the lock files of :mod:`sakyum_magic._guards.lockfiles` (by real path
   and by device and inode, so symlinks and hard links to one file wait for each other).

The lock's code lives in :mod:`sakyum_magic._guards.sakyum_env_lock`, which ``%migrate init`` copies beside
its env.py: that env.py takes the same lock (same key, name and files) when the plain ``alembic`` CLI
runs it, so the magic and the CLI serialise; when the magic runs env.py it hands over
its connection in ``Config.attributes`` and env.py takes nothing more.

A waiter says at once whom it waits for, then again every ``PROGRESS_EVERY`` seconds, through
``on_wait`` (default: a warning of the ``sakyum_magic`` logger), and gives up after ``timeout`` seconds
with DatabaseError. Whom: on SQLite the holder's process id, host and start time, which it writes into
the lock file; on PostgreSQL its server process, and the process id, host and start time it puts in
its ``application_name``; on MySQL/MariaDB its connection id, client host and idle time.

The migrator reads the database's revision only once it holds the locks, so a run that waited finds
the work already done and reports that nothing is left to do.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from .._core.binding import mask_url
from .._core.errors import DatabaseError
from .._core.settings import LOCK_TIMEOUT
from . import sakyum_env_lock as env_lock
from .lockfiles import PROGRESS_EVERY, TOOL, OnWait, Wait, logger, sqlite_lock
from .sakyum_env_lock import LOCK_NAME, MYSQL_HOLDER, PG_HOLDER, advisory_key, mysql_lock_name

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from .._core.records import MigrationResult

__all__ = [
    "LOCK_NAME",
    "LOCK_TIMEOUT",
    "MYSQL_HOLDER",
    "PG_HOLDER",
    "PROGRESS_EVERY",
    "advisory_key",
    "alembic_context",
    "database_lock",
    "migration_lock",
    "mysql_lock_name",
]

# Module-level on purpose: what it guards, Alembic's context and op proxies, is module-level too.
_ALEMBIC_CONTEXT = threading.RLock()


@contextmanager
def alembic_context() -> Iterator[None]:
    """Hold the process-wide lock around anything that runs env.py (re-entrant)."""
    with _ALEMBIC_CONTEXT:
        yield


@contextmanager
def migration_lock(
    engine: Engine, timeout: float = LOCK_TIMEOUT, on_wait: OnWait | None = None, shared: bool = True
) -> Iterator[None]:
    """Hold the process lock, then the database's migration lock, for the duration of a run.

    :param shared: False for a database no other process can know of (``%migrate test``'s scratch
        ones): the process lock only.
    """
    with alembic_context(), database_lock(engine, timeout, on_wait) if shared else nullcontext():
        yield


def database_lock(
    engine: Engine,
    timeout: float = LOCK_TIMEOUT,
    on_wait: OnWait | None = None,
    every: float = PROGRESS_EVERY,
) -> AbstractContextManager[None]:
    """The lock other processes migrating the same database wait on (none for other dialects).

    :param timeout: seconds to wait for another migration before raising DatabaseError.
    :param on_wait: called with a message when the lock is busy, then every ``every`` seconds
        while waiting (default: a warning of the ``sakyum_magic`` logger).
    """
    lock = _LOCKS.get(engine.dialect.name)
    if lock is None:
        return nullcontext()
    return lock(engine, Wait(mask_url(engine.url), timeout, on_wait or logger.warning, every))


# -- PostgreSQL, MySQL and MariaDB: the lock code of sakyum_env_lock, on a connection of our own --


@contextmanager
def _postgres_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    key = advisory_key(lock_name(engine))
    with _lock_connection(engine) as connection, env_lock.postgres_lock(connection, wait, TOOL, key):
        yield


def lock_name(engine: Engine) -> str:
    """The PostgreSQL lock's name: one per tenant schema for an engine bound to one (so tenants of
    one database migrate side by side), else the database's."""
    from .._run.database import SCHEMA_OPTION

    schema = engine.get_execution_options().get(SCHEMA_OPTION)
    return LOCK_NAME if schema is None else f"{LOCK_NAME}:{schema}"


@contextmanager
def _mysql_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    with _lock_connection(engine) as connection, env_lock.mysql_lock(connection, wait):
        _HELD[engine] = connection
        try:
            yield
        finally:
            _HELD.pop(engine, None)


# The connection holding each engine's MySQL lock, while it is held: after an interrupt it stops the
# statement left running on the server (KILL) without a connection more, which a user limited to
# MAX_USER_CONNECTIONS may not have. Module-level as _ALEMBIC_CONTEXT is: a run is one per process.
_HELD: weakref.WeakKeyDictionary[Engine, Connection] = weakref.WeakKeyDictionary()


def held_connection(engine: Engine) -> Connection | None:
    """The connection that holds ``engine``'s migration lock on MySQL/MariaDB, if one is held now."""
    return _HELD.get(engine)


# -- after a failure --------------------------------------------------------------------------------


def concurrent_change(url: URL, result: MigrationResult, expected: tuple[str, ...]) -> DatabaseError | None:
    """The error for a failed run whose database another writer changed meanwhile, else None.

    ``expected`` is where this run's own steps left the version table (Alembic's heads after its last
    step, or where it started); ``result.after`` is what the table holds now. When they differ, a
    process that does not take the lock (an env.py not written by ``%migrate init``, or plain SQL)
    wrote too, and the revision that was running is not at fault.
    """
    if sorted(result.after) == sorted(expected):
        return None
    return DatabaseError(
        f"another migration changed {mask_url(url)} while this {result.command} ran: this run applied "
        f"{len(result.steps)} step(s) and left it at {_heads(expected)}, but it is now at "
        f"{_heads(result.after)}, so no revision file is at fault; once the other process is done, see "
        "%migrate current and run the command again (the alembic CLI waits for %migrate only with the "
        "env.py %migrate init writes)"
    )


def busy_error(exc: BaseException, url: URL) -> DatabaseError | None:
    """The error for SQLite's "database is locked" (another connection writing), else None."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _SQLITE_BUSY:
        return None
    name = getattr(orig, "sqlite_errorname", code)
    return DatabaseError(
        f"another connection is writing to {mask_url(url)} (SQLite: {name}), so this run stopped; "
        "no revision file is at fault: run the command again when it is done"
    )


_SQLITE_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED and their extended codes


def _heads(heads: tuple[str, ...]) -> str:
    return ", ".join(sorted(heads)) or "base"


@contextmanager
def _lock_connection(engine: Engine) -> Iterator[Connection]:
    from .._run.database import connect

    with connect(engine) as connection:
        yield connection


_LOCKS: dict[str, Callable[[Engine, Wait], AbstractContextManager[None]]] = {
    "postgresql": _postgres_lock,
    "mysql": _mysql_lock,
    "mariadb": _mysql_lock,
    "sqlite": sqlite_lock,
}
