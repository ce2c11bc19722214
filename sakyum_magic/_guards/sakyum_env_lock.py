# sakyum-magic env.py support, format 4 (`%migrate init --refresh` rewrites this file and env.py)
"""The migration lock, shared by env.py and %migrate: the alembic CLI and the magic take one lock.

``%migrate init`` copies this file unchanged beside the env.py it writes (with
``sakyum_env_support.py``, the applied-at log and SQLite's transactional DDL), and sakyum_magic imports
this same file. It needs only the standard library, SQLAlchemy and Alembic: env.py runs where
sakyum_magic is not installed.

``pg_advisory_lock(advisory_key())`` on PostgreSQL, ``GET_LOCK(mysql_lock_name(db))`` on MySQL and
MariaDB, and on SQLite an exclusive ``flock`` on two files: ``<real path>.lock`` and, once the database
file exists, ``sakyum-magic-<device>-<inode>.lock`` in the temporary directory (so a symlink or hard
link waits too). A holder says who it is (pid, host, tool, since when): in the lock file from byte 1
(Windows locks byte 0), or in PostgreSQL's ``application_name``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

FORMAT = 4
"""This file's format, in its first line: the same as ``sakyum_env_support.py``'s, copied together."""

LOCK_NAME = "sakyum_magic.migrate"
LOCK_TIMEOUT = 600.0
"""Seconds a migration waits for another one on the same database before giving up."""

# Who holds the advisory lock: the granted pg_locks row of the key, with its session.
PG_HOLDER = """\
SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start, a.state_change
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = :high AND l.objid::bigint = :low
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""
SET_NAME = "SELECT set_config('application_name', :v, false)"
SWAP_NAME = "SELECT current_setting('application_name'), set_config('application_name', :v, false)"
"""The session's name before, and ours set (a select list runs from left to right)."""
SWAP_TIMEOUT = "SELECT current_setting('lock_timeout'), set_config('lock_timeout', :t, false)"
LOCK_AND_NAME = (
    "SELECT locked, previous, CASE WHEN locked THEN set_config('application_name', :v, false) END "
    "FROM (SELECT pg_try_advisory_lock(:key) AS locked, current_setting('application_name') AS previous) "
    "AS attempt"
)
"""One attempt at the lock, naming ourselves if it is ours (a volatile subquery runs once, first)."""
MYSQL_HOLDER = "SELECT ID, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(:name)"

log = logging.getLogger("alembic.env")


class Waiter(Protocol):
    """How a lock is waited for: ``attempt(seconds)`` until it succeeds, telling whom we wait for."""

    def until(self, attempt: Callable[[float], bool], holder: Callable[[], str]) -> None: ...


# -- the rules both sides follow -------------------------------------------------------------------


def advisory_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the name's SHA-256, first 8 bytes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def mysql_lock_name(database: str) -> str:
    """GET_LOCK names are server-wide, so the database's name goes into it (64 characters at most)."""
    return f"{LOCK_NAME}:{database}"[:64]


def sqlite_path_lock(database: str) -> str | None:
    """The lock file beside the SQLite database's real path; None for an in-memory database."""
    if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    return os.path.realpath(database.removeprefix("file:").split("?", 1)[0]) + ".lock"


def sqlite_identity_lock(database: str) -> str | None:
    """The lock file named by the database file's device and inode; None while the file does not exist."""
    path = sqlite_path_lock(database)
    try:
        found = os.stat(path.removesuffix(".lock")) if path else None
    except (OSError, ValueError):
        return None
    if found is None:
        return None
    return os.path.join(tempfile.gettempdir(), f"sakyum-magic-{found.st_dev}-{found.st_ino}.lock")


def holder_tag(tool: str) -> dict[str, Any]:
    """What a lock holder says about itself: its process id, host, tool and since when."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "tool": tool, "since": time.time()}


def describe_holder(tag: dict[str, Any] | None) -> str:
    """A holder's tag as words: "pid 123 on host web1 (sakyum-magic), since 12:00:01"."""
    if not tag or "pid" not in tag:
        return "a process that left no details"
    since = time.strftime("%H:%M:%S", time.localtime(float(tag.get("since", 0))))
    return f"pid {tag['pid']} on host {tag.get('host', '?')} ({tag.get('tool', '?')}), since {since}"


def pg_holder_name(tag: dict[str, Any]) -> str:
    """The application_name a PostgreSQL lock holder shows (63 characters at most)."""
    since = time.strftime("%H:%M:%S", time.localtime(float(tag["since"])))
    return f"{tag['tool']} pid {tag['pid']} since {since} on {tag['host']}"[:63]


# -- PostgreSQL and MySQL/MariaDB: a lock held by a connection of its own ---------------------------


@contextlib.contextmanager
def postgres_lock(connection: Connection, wait: Waiter, tool: str, key: int | None = None) -> Iterator[None]:
    """Hold the advisory lock ``key`` (default: the database's) on ``connection`` (a connection of its
    own), naming ourselves in ``application_name``. The connection runs in autocommit: the lock and the
    name are session-level, so each statement is one round trip, with no BEGIN and COMMIT around it."""
    from sqlalchemy import text

    key = advisory_key() if key is None else key
    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    name = {"v": pg_holder_name(holder_tag(tool)), "key": key}
    with connection.begin():  # at once, and named when it is ours: one round trip
        locked, before, _named = connection.execute(text(LOCK_AND_NAME), name).one()
    if not locked:
        wait.until(lambda seconds: pg_attempt(connection, key, seconds), lambda: pg_holder(connection, key))
        before = _session(connection, SWAP_NAME, {"v": name["v"]})
    try:
        yield
    finally:
        _session(connection, f"{SET_NAME}, pg_advisory_unlock(:key)", {"v": before, "key": key})


def pg_attempt(connection: Connection, key: int, seconds: float) -> bool:
    """One attempt at the lock on an autocommit connection: at once, or waiting ``seconds`` (the
    session's ``lock_timeout`` set for that wait and put back after it)."""
    from sqlalchemy.exc import DBAPIError

    if seconds <= 0:
        return bool(_session(connection, "SELECT pg_try_advisory_lock(:key)", {"key": key}))
    previous = _session(connection, SWAP_TIMEOUT, {"t": f"{max(int(seconds * 1000), 1)}ms"})
    try:
        _session(connection, "SELECT pg_advisory_lock(:key)", {"key": key})
        return True
    except DBAPIError as exc:
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code != "55P03" and "lock timeout" not in str(exc.orig).lower():
            raise
        return False
    finally:
        _session(connection, "SELECT set_config('lock_timeout', :t, false)", {"t": previous})


def _session(connection: Connection, statement: str, values: dict[str, Any]) -> Any:
    """The first value of one statement, in a transaction of SQLAlchemy's that sends no BEGIN."""
    from sqlalchemy import text

    with connection.begin():
        return connection.execute(text(statement), values).scalar()


def pg_holder(connection: Connection, key: int) -> str:
    from sqlalchemy import text

    unsigned = key & 0xFFFFFFFFFFFFFFFF
    with connection.begin():
        halves = {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}
        row = connection.execute(text(PG_HOLDER), halves).first()
    if row is None:
        return "a session that has just released it"
    pid, application, client, started, _changed = row
    who = f" ({application})" if application else ""
    source = f" from {client}" if client else ""
    connected = f", connected at {started:%H:%M:%S}" if started is not None else ""
    return f"PostgreSQL server process {pid}{who}{source}{connected}"


@contextlib.contextmanager
def mysql_lock(connection: Connection, wait: Waiter) -> Iterator[None]:
    """Hold GET_LOCK on ``connection`` for its database's name."""
    from sqlalchemy import text

    name = mysql_lock_name(connection.execute(text("SELECT DATABASE()")).scalar() or "")
    connection.commit()
    wait.until(
        lambda seconds: mysql_attempt(connection, name, seconds), lambda: mysql_holder(connection, name)
    )
    try:
        yield
    finally:
        connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
        connection.commit()


def mysql_attempt(connection: Connection, name: str, seconds: float) -> bool:
    from sqlalchemy import text

    got = connection.execute(text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": seconds})
    connection.commit()
    return bool(got.scalar() == 1)


def mysql_holder(connection: Connection, name: str) -> str:
    from sqlalchemy import text

    row = connection.execute(text(MYSQL_HOLDER), {"name": name}).first()
    connection.commit()
    if row is None:
        return "a connection this user cannot see, or one that has just released it"
    since = time.strftime("%H:%M:%S", time.localtime(time.time() - float(row[2] or 0)))
    return f"MySQL connection {row[0]} from {row[1]}, idle since {since}"


# -- SQLite: lock files ------------------------------------------------------------------------------


def open_lock_file(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def sqlite_lock(
    database: str, wait: Waiter, tool: str, opener: Callable[[str], int] = open_lock_file
) -> Iterator[None]:
    """Hold the lock files of a SQLite database (none for an in-memory one)."""
    path = sqlite_path_lock(database)
    if path is None:
        yield  # an in-memory database is private to its connection: nobody else can migrate it
        return
    with file_lock(path, wait, tool, opener):
        identity = sqlite_identity_lock(database)  # named now: the file may have been created meanwhile
        with file_lock(identity, wait, tool, opener) if identity else contextlib.nullcontext():
            yield


@contextlib.contextmanager
def file_lock(
    path: str, wait: Waiter, tool: str, opener: Callable[[str], int] = open_lock_file
) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes; the file is created, and removed on release."""
    held: list[int] = []

    def attempt(seconds: float) -> bool:
        deadline, delay = time.monotonic() + seconds, 0.005
        while True:
            descriptor = take_file(path, tool, opener)
            if descriptor is not None:
                held.append(descriptor)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.2)

    wait.until(attempt, lambda: describe_holder(read_holder(path)))
    try:
        yield
    finally:
        # Unlink while still holding it: a waiter notices its file is gone and retries on a new one.
        # (Windows cannot remove an open file, so there the file stays.)
        if sys.platform != "win32":
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        lock_file(held[0], unlock=True)
        os.close(held[0])


def take_file(path: str, tool: str, opener: Callable[[str], int] = open_lock_file) -> int | None:
    """The descriptor of ``path`` locked by us, with our tag written in; None if another holds it."""
    descriptor = opener(path)
    if not lock_file(descriptor):
        os.close(descriptor)
        return None
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:  # removed by the holder that just released it: lock the new one
        on_disk = None
    held = os.fstat(descriptor)
    if on_disk is None or (held.st_dev, held.st_ino) != (on_disk.st_dev, on_disk.st_ino):
        lock_file(descriptor, unlock=True)
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 1, os.SEEK_SET)  # byte 0 is the one Windows locks; a waiter reads from 1
    os.write(descriptor, json.dumps(holder_tag(tool)).encode())
    return descriptor


def read_holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The tag the holder of a lock file wrote into it, if it is there and readable."""
    try:
        with open(path, "rb") as handle:
            handle.seek(1)
            found = json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def lock_file(descriptor: int, unlock: bool = False) -> bool:
    """flock (msvcrt on Windows) without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK if unlock else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_UN if unlock else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# -- the alembic CLI's lock -----------------------------------------------------------------------------


def seconds(value: str | None, default: float) -> float:
    """``-x lock_timeout=SECONDS``: CommandError unless it is a number."""
    try:
        return float(value) if value is not None else default
    except ValueError:
        from alembic.util import CommandError

        raise CommandError(f"lock_timeout is a number of seconds, not {value!r}") from None


class CliWait:
    """The CLI's waiter: a warning every 10 s, CommandError after ``timeout`` seconds."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what, self.timeout = what, timeout

    def until(self, attempt: Callable[[float], bool], holder: Callable[[], str]) -> None:
        deadline = time.monotonic() + self.timeout
        if attempt(0):
            return
        while True:
            log.warning("waiting for another migration of %s: %s", self.what, holder())
            if attempt(max(min(10.0, deadline - time.monotonic()), 0)):
                return
            if time.monotonic() >= deadline:
                from alembic.util import CommandError

                raise CommandError(
                    f"another migration of {self.what} has held its lock for over {self.timeout:g} s "
                    f"({holder()}): wait for it to finish, then run the command again"
                )


@contextlib.contextmanager
def cli_lock(engine: Engine, timeout: float, tool: str) -> Iterator[None]:
    """The database's migration lock, as %migrate takes it (none for other databases)."""
    wait = CliWait(f"{engine.url.get_backend_name()} database {engine.url.database!r}", timeout)
    if engine.dialect.name == "sqlite":
        with sqlite_lock(engine.url.database or "", wait, tool):
            yield
        return
    if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            with postgres_lock(connection, wait, tool):
                yield
        else:
            with mysql_lock(connection, wait):
                yield
