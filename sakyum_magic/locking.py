"""Locks that keep two migrations of the same database from running at once, whichever tool runs them.

Alembic takes no lock of its own (alembic#633): two processes upgrading one database both read the
same revision and both run the same migrations. Around upgrade, downgrade and stamp the migrator
holds two locks, always in this order:

1. a lock for this process, because ``alembic.context`` and ``alembic.op`` are module-level proxies:
   two threads running env.py at once would overwrite each other's migration context;
2. a lock in the database, held on a connection of its own (a query on the migration connection
   before Alembic configures it would make Alembic treat the transaction as external and never
   commit it): ``pg_advisory_lock(advisory_key())`` on PostgreSQL, ``GET_LOCK(mysql_lock_name(db))``
   on MySQL and MariaDB, and on SQLite an exclusive ``flock`` on two files: ``<real path>.lock``
   beside the database, and, once the file exists, one in the temporary directory named by the
   file's device and inode, so that a symlink or a hard link to the same file waits too. Both files
   are removed on release.

The env.py that ``%migrate init`` writes takes the same lock (same key, name and files) when the plain
``alembic`` CLI runs it, so the magic and the CLI serialise; when the magic runs env.py it hands over
its connection in ``Config.attributes`` and env.py takes nothing more.

A waiter says at once whom it waits for (for SQLite the holder's process id, host and start time,
which the holder writes into the lock file; for PostgreSQL the holder's server process and client
from ``pg_stat_activity``; for MySQL/MariaDB its connection id and host), says it again every
``PROGRESS_EVERY`` seconds, and gives up after its timeout with :class:`DatabaseError`. The messages go
to ``on_wait``; without one, to the ``sakyum_magic`` logger as warnings.

The migrator reads the database's revision only once it holds the locks, so a run that waited finds
the work already done and reports that nothing is left to do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .binding import mask_url
from .errors import DatabaseError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

LOCK_TIMEOUT = 600.0
"""Seconds a migration waits for another one on the same database before giving up."""
PROGRESS_EVERY = 10.0
"""Seconds between two "still waiting" messages."""
LOCK_NAME = "sakyum_magic.migrate"
TOOL = "sakyum-magic"

OnWait = Callable[[str], None]

logger = logging.getLogger("sakyum_magic")

# Module-level on purpose: what it guards, Alembic's context and op proxies, is module-level too.
_ALEMBIC_CONTEXT = threading.RLock()

# Who holds the advisory lock: the granted pg_locks row of the key, with its session.
PG_HOLDER = """\
SELECT l.pid, a.application_name, a.client_addr::text, a.backend_start, a.state_change
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = :high AND l.objid::bigint = :low
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""
SET_NAME = "SELECT set_config('application_name', :v, false)"
MYSQL_HOLDER = "SELECT ID, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(:name)"


@contextmanager
def alembic_context() -> Iterator[None]:
    """Hold the process-wide lock around anything that runs env.py (re-entrant)."""
    with _ALEMBIC_CONTEXT:
        yield


@contextmanager
def migration_lock(
    engine: Engine, timeout: float = LOCK_TIMEOUT, on_wait: OnWait | None = None
) -> Iterator[None]:
    """Hold the process lock, then the database's migration lock, for the duration of a run."""
    with alembic_context(), database_lock(engine, timeout, on_wait):
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


# -- the rules env.py repeats (tests/test_locking.py checks that both give the same answers) --------


def advisory_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (advisory locks are per database)."""
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


# -- waiting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wait:
    """How a run waits for another migration's lock: how long, and whom it tells while it waits."""

    what: str
    timeout: float = LOCK_TIMEOUT
    on_wait: OnWait = logger.warning
    every: float = PROGRESS_EVERY
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.started + self.timeout - time.monotonic()

    def until(self, attempt: Callable[[float], bool], holder: Callable[[], str]) -> None:
        """Call ``attempt(seconds)`` (try the lock, waiting up to that long) until it succeeds.

        The first try does not wait; when it fails, whom we wait for is told at once, then again
        every ``every`` seconds; DatabaseError when the timeout passes.
        """
        if attempt(0):
            return
        self.on_wait(f"waiting for another migration of {self.what}: {holder()}")
        while True:
            if attempt(max(min(self.every, self.left()), 0)):
                return
            if self.left() <= 0:
                raise self.busy(holder())
            waited = time.monotonic() - self.started
            self.on_wait(
                f"still waiting ({waited:.0f} s of {self.timeout:g} s) for another migration of "
                f"{self.what}: {holder()}"
            )

    def busy(self, holder: str) -> DatabaseError:
        return DatabaseError(
            f"another migration of {self.what} has held its lock for over {self.timeout:g} s ({holder}): "
            "wait for it to finish, then run the command again"
        )


def holder_tag(tool: str = TOOL) -> dict[str, Any]:
    """What a lock holder says about itself: its process id, host, tool and since when."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "tool": tool, "since": time.time()}


def describe_holder(tag: dict[str, Any] | None) -> str:
    """A holder's tag as words: "pid 123 on host web1 (sakyum-magic), since 12:00:01"."""
    if not tag or "pid" not in tag:
        return "a process that left no details"
    since = time.strftime("%H:%M:%S", time.localtime(float(tag.get("since", 0))))
    return f"pid {tag['pid']} on host {tag.get('host', '?')} ({tag.get('tool', '?')}), since {since}"


# -- PostgreSQL ------------------------------------------------------------------------------------


@contextmanager
def _postgres_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    from sqlalchemy import text

    key = advisory_key()
    with _lock_connection(engine) as connection:
        wait.until(lambda seconds: _pg_attempt(connection, key, seconds), lambda: _pg_holder(connection, key))
        with connection.begin():
            # Our name in pg_stat_activity is how a waiter learns our process id and host.
            previous = connection.execute(text("SHOW application_name")).scalar()
            connection.execute(text(SET_NAME), {"v": pg_holder_name(holder_tag())})
        try:
            yield
        finally:
            with connection.begin():
                connection.execute(text(SET_NAME), {"v": previous})
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def pg_holder_name(tag: dict[str, Any]) -> str:
    """The application_name a PostgreSQL lock holder shows (63 characters at most)."""
    since = time.strftime("%H:%M:%S", time.localtime(float(tag["since"])))
    return f"{tag['tool']} pid {tag['pid']} since {since} on {tag['host']}"[:63]


def _pg_attempt(connection: Connection, key: int, seconds: float) -> bool:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        with connection.begin():
            if seconds <= 0:
                query = text("SELECT pg_try_advisory_lock(:key)")
                return bool(connection.execute(query, {"key": key}).scalar())
            # SET LOCAL keeps the timeout off the pooled connection; the lock itself is session-level.
            connection.execute(text(f"SET LOCAL lock_timeout = '{max(int(seconds * 1000), 1)}ms'"))
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            return True
    except DBAPIError as exc:
        if not _lock_timed_out(exc):
            raise
        return False


def _lock_timed_out(exc: Any) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return bool(code == "55P03" or "lock timeout" in str(exc.orig).lower())


def _pg_holder(connection: Connection, key: int) -> str:
    from sqlalchemy import text

    unsigned = key & 0xFFFFFFFFFFFFFFFF
    with connection.begin():
        row = connection.execute(
            text(PG_HOLDER), {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}
        ).first()
    if row is None:
        return "a session that has just released it"
    pid, application, client, started, _changed = row
    who = f" ({application})" if application else ""
    source = f" from {client}" if client else ""
    connected = f", connected at {started:%H:%M:%S}" if started is not None else ""
    return f"PostgreSQL server process {pid}{who}{source}{connected}"


# -- MySQL and MariaDB -----------------------------------------------------------------------------


@contextmanager
def _mysql_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    from sqlalchemy import text

    with _lock_connection(engine) as connection:
        name = mysql_lock_name(connection.execute(text("SELECT DATABASE()")).scalar() or "")
        connection.commit()
        wait.until(
            lambda seconds: _mysql_attempt(connection, name, seconds), lambda: _mysql_holder(connection, name)
        )
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            connection.commit()


def _mysql_attempt(connection: Connection, name: str, seconds: float) -> bool:
    from sqlalchemy import text

    got = connection.execute(text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": seconds})
    connection.commit()
    return got.scalar() == 1


def _mysql_holder(connection: Connection, name: str) -> str:
    from sqlalchemy import text

    row = connection.execute(text(MYSQL_HOLDER), {"name": name}).first()
    connection.commit()
    if row is None:
        return "a connection this user cannot see, or one that has just released it"
    since = time.strftime("%H:%M:%S", time.localtime(time.time() - float(row[2] or 0)))
    return f"MySQL connection {row[0]} from {row[1]}, idle since {since}"


# -- SQLite ----------------------------------------------------------------------------------------


@contextmanager
def _sqlite_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    database = engine.url.database or ""
    path = sqlite_path_lock(database)
    if path is None:
        yield  # an in-memory database is private to its connection: nobody else can migrate it
        return
    with _held_file(Path(path), wait, engine.url):
        # Named only now: a database created while this run waited has an identity by then.
        identity = sqlite_identity_lock(database)
        with _held_file(Path(identity), wait, engine.url) if identity else nullcontext():
            yield


def sqlite_lock_files(url: URL) -> list[Path]:
    """The lock files a migration of this SQLite database holds (none for an in-memory one)."""
    database = url.database or ""
    return [Path(p) for p in (sqlite_path_lock(database), sqlite_identity_lock(database)) if p]


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT, on_wait: OnWait | None = None) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes; the file is created, and removed on release."""
    with _held_file(path, Wait(str(path), timeout, on_wait or logger.warning)):
        yield


@contextmanager
def _held_file(path: Path, wait: Wait, url: URL | None = None) -> Iterator[None]:
    held: list[int] = []

    def attempt(seconds: float) -> bool:
        deadline, delay = time.monotonic() + seconds, 0.005
        while True:
            descriptor = _take_file(path, url)
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
        # Unlink while still holding the lock: a waiter then notices its file is gone and retries.
        # (Windows cannot remove an open file, so there the file stays.)
        if sys.platform != "win32":
            path.unlink(missing_ok=True)
        _unlock(held[0])
        os.close(held[0])


def _take_file(path: Path, url: URL | None) -> int | None:
    """The descriptor of ``path`` locked by us, with our tag written in; None if another holds it."""
    descriptor = _open_lock_file(path, url)
    if not _try_lock(descriptor):
        os.close(descriptor)
        return None
    if not _same_file(descriptor, path):  # removed and made anew while we opened it: lock the new one
        _unlock(descriptor)
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)
    # From offset 1: Windows locks byte 0 itself, and a locked byte cannot be read by the waiter.
    os.lseek(descriptor, 1, os.SEEK_SET)
    os.write(descriptor, json.dumps(holder_tag()).encode())
    return descriptor


def _open_lock_file(path: Path, url: URL | None) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (OSError, ValueError) as exc:  # a missing folder or a bad name in the database path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"connect to {mask_url(url)}: cannot " if url is not None else ""
        raise DatabaseError(
            f"cannot {where}create the lock file {str(path)[:80]!r}: {reason}; check the database "
            "path in the URL (%migrate config --url URL)"
        ) from exc


def read_holder(path: Path) -> dict[str, Any] | None:
    """The tag the holder of a lock file wrote into it, if it is there and readable."""
    try:
        with open(path, "rb") as handle:
            handle.seek(1)
            found = json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


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


_LOCKS: dict[str, Callable[[Engine, Wait], AbstractContextManager[None]]] = {
    "postgresql": _postgres_lock,
    "mysql": _mysql_lock,
    "mariadb": _mysql_lock,
    "sqlite": _sqlite_lock,
}
