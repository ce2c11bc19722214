# sakyum-magic env.py support, format 3 (`%migrate init --refresh` rewrites this file and env.py)
"""The migration lock, the applied-at log and SQLite's transactional DDL, shared by env.py and %migrate.

``%migrate init`` copies this file unchanged beside the env.py it writes, and sakyum_magic imports
this same file, so the alembic CLI and the magic take one lock and keep one log. It needs only the
standard library, SQLAlchemy and Alembic: env.py runs where sakyum_magic is not installed.

- The lock: ``pg_advisory_lock(advisory_key())`` on PostgreSQL, ``GET_LOCK(mysql_lock_name(db))`` on
  MySQL and MariaDB, and on SQLite an exclusive ``flock`` on two files: ``<real path>.lock`` and, once
  the database file exists, ``sakyum-magic-<device>-<inode>.lock`` in the temporary directory (so a
  symlink or hard link waits too). A holder says who it is (pid, host, tool, since when): in the
  lock file from byte 1 (Windows locks byte 0), or in PostgreSQL's ``application_name``.
- The log: one row per upgrade, downgrade and stamp step in :data:`LOG_TABLE`, in the step's own
  transaction; a failed step gets a row after its rollback.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import importlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.engine import Connection, Engine

FORMAT = 3
"""This file's format, in its first line; a directory holding an older one is offered a refresh."""
HEADER = "# sakyum-magic env.py support, format "

LOCK_NAME = "sakyum_magic.migrate"
LOCK_TIMEOUT = 600.0
"""Seconds a migration waits for another one on the same database before giving up."""
LOG_TABLE = "sakyum_migration_log"
MARKER_TABLE = "sakyum_in_progress"
OWN_TABLES = frozenset({MARKER_TABLE, LOG_TABLE})
"""Tables %migrate may keep in a database: never a model's, left alone by autogenerate."""
ON, OFF = ("true", "yes", "on", "1"), ("false", "no", "off", "0")

# Who holds the advisory lock: the granted pg_locks row of the key, with its session.
PG_HOLDER = """\
SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start, a.state_change
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = :high AND l.objid::bigint = :low
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""
SET_NAME = "SELECT set_config('application_name', :v, false)"
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
    """Hold the advisory lock ``key`` (default: the database's) on ``connection``, naming ourselves
    in ``application_name``."""
    from sqlalchemy import text

    key = advisory_key() if key is None else key
    wait.until(lambda seconds: pg_attempt(connection, key, seconds), lambda: pg_holder(connection, key))
    with connection.begin():
        previous = connection.execute(text("SHOW application_name")).scalar()
        connection.execute(text(SET_NAME), {"v": pg_holder_name(holder_tag(tool))})
    try:
        yield
    finally:
        with connection.begin():
            connection.execute(text(SET_NAME), {"v": previous})
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def pg_attempt(connection: Connection, key: int, seconds: float) -> bool:
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
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code != "55P03" and "lock timeout" not in str(exc.orig).lower():
            raise
        return False


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


# -- SQLite: each revision's DDL inside its transaction (SQLAlchemy's pysqlite recipe) -----------------


def make_sqlite_ddl_transactional(engine: Engine, writer_option: str | None = None) -> None:
    """The driver's transaction handling off, SQLAlchemy's BEGIN instead: a revision's DDL and its
    version update commit together. BEGIN IMMEDIATE for every transaction, or, with
    ``writer_option``, only on connections carrying that execution option."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def driver_leaves_transactions_alone(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()  # a cursor: aiosqlite's adapted connection has no execute()
        cursor.execute("PRAGMA foreign_keys=OFF")  # a batch rebuild would cascade-delete child rows
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":  # autocommit_block(): no BEGIN
            return
        # IMMEDIATE waits out the busy timeout where a deferred BEGIN's first write fails at once.
        immediate = writer_option is None or options.get(writer_option)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# -- the applied-at log ------------------------------------------------------------------------------


@functools.cache
def log_table() -> Table:
    """The log table; one Table object, so its statements compile once."""
    import sqlalchemy as sa

    return sa.Table(
        LOG_TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("applied_at", sa.String(40), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("from_revision", sa.String(255), nullable=False),
        sa.Column("to_revision", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
    )


@functools.cache
def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown"


def log_row(
    revision: str, before: str, after: str, direction: str, seconds: float | None, ok: bool, tool: str
) -> dict[str, Any]:
    return {
        "applied_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "revision": revision,
        "from_revision": before,
        "to_revision": after,
        "direction": direction,
        "seconds": seconds,
        "ok": ok,
        "who": who(),
        "tool": tool,
    }


def step_row(step: Any, direction: str, seconds: float | None, tool: str) -> dict[str, Any]:
    """The row of one step Alembic applied (an ``on_version_apply`` hook's ``step``)."""
    before = ", ".join(step.source_revision_ids) or "base"
    after = ", ".join(step.destination_revision_ids) or "base"
    revision = getattr(step, "up_revision_id", None) or ", ".join(step.up_revision_ids) or "base"
    return log_row(revision, before, after, direction, seconds, True, tool)


def switch(value: str | None, default: bool) -> bool:
    """A true/false setting (``-x audit=false``, ``sakyum_audit = false``); ValueError otherwise."""
    if value is None:
        return default
    if value.strip().lower() not in ON + OFF:
        raise ValueError(f"true or false, not {value!r}")
    return value.strip().lower() in ON


def seconds(value: str | None, default: float) -> float:
    """``-x lock_timeout=SECONDS``: CommandError unless it is a number."""
    try:
        return float(value) if value is not None else default
    except ValueError:
        from alembic.util import CommandError

        raise CommandError(f"lock_timeout is a number of seconds, not {value!r}") from None


# -- the database's own timeouts (upgrade --lock-timeout; -x upgrade_lock_timeout=2s) -----------------

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """``2s``, ``500ms``, ``15min``, ``1h`` or a number of seconds; ValueError otherwise."""
    value = text.strip().lower()
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = value[len(number) :].strip() or "s"
    if unit not in _UNITS or not number:
        raise ValueError(f"a duration such as 2s, 500ms or 15min, not {text!r}")
    return float(number) * _UNITS[unit]


def timeout_statements(
    dialect: str, mariadb: bool, lock: float | None, statement: float | None, scope: str
) -> list[str]:
    """The statements that set the lock and statement timeouts; ``scope`` is ``LOCAL`` (PostgreSQL:
    until the transaction ends) or ``SESSION``. MySQL and MariaDB set them for the session; SQLite's
    lock timeout is its busy timeout (it has no statement timeout)."""
    found = []
    if dialect == "sqlite" and lock is not None:
        found.append(f"PRAGMA busy_timeout = {max(int(lock * 1000), 1)}")
    if dialect == "postgresql":
        if lock is not None:
            found.append(f"SET {scope} lock_timeout = '{max(int(lock * 1000), 1)}ms'")
        if statement is not None:
            found.append(f"SET {scope} statement_timeout = '{max(int(statement * 1000), 1)}ms'")
    elif dialect == "mysql":
        if lock is not None:
            found.append(f"SET SESSION lock_wait_timeout = {max(round(lock), 1)}")
            found.append(f"SET SESSION innodb_lock_wait_timeout = {max(round(lock), 1)}")
        if statement is not None:
            found.append(
                f"SET SESSION max_statement_time = {statement:g}"
                if mariadb
                else f"SET SESSION max_execution_time = {max(int(statement * 1000), 1)}"
            )
    return found


def set_timeouts(connection: Connection, option: Callable[[str, str], str | None]) -> None:
    """The alembic CLI (``-x upgrade_lock_timeout=2s -x upgrade_statement_timeout=15min``, or
    ``sakyum_upgrade_lock_timeout = 2s`` in alembic.ini; ``option`` reads them): the timeouts set for the
    session before the run, committed so that Alembic begins its own transactions."""
    from alembic.util import CommandError

    lock = option("upgrade_lock_timeout", "sakyum_upgrade_lock_timeout")
    statement = option("upgrade_statement_timeout", "sakyum_upgrade_statement_timeout")
    try:
        limits = [duration(v) if v else None for v in (lock, statement)]
    except ValueError as exc:
        raise CommandError(f"upgrade_lock_timeout / upgrade_statement_timeout: {exc}") from None
    mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
    found = timeout_statements(connection.dialect.name, mariadb, limits[0], limits[1], "SESSION")
    if connection.dialect.name == "sqlite":
        if limits[1] is not None:
            raise CommandError("upgrade_statement_timeout: SQLite has no statement timeout; leave it out")
        cursor = connection.connection.cursor()  # the driver's: SQLAlchemy's BEGIN would wait for the lock
        for text in found:
            cursor.execute(text)
        cursor.close()
        return
    for text in found:
        connection.exec_driver_sql(text)
    if connection.in_transaction():
        connection.commit()


# -- what env.py asks for --------------------------------------------------------------------------


def without_own_tables(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate leaves alone the tables %migrate keeps (its log, its notes of unfinished revisions)."""
    return not (type_ == "table" and name in OWN_TABLES)


def as_metadata(value: Any) -> MetaData:
    """A MetaData from a MetaData, a declarative base or a Flask-SQLAlchemy db."""
    from sqlalchemy import MetaData

    if isinstance(value, MetaData):
        return value
    if isinstance(getattr(value, "metadata", None), MetaData):
        return value.metadata  # type: ignore[no-any-return]
    return value.Model.metadata  # type: ignore[no-any-return]


def metadata_from(spec: str | None) -> MetaData | list[MetaData] | None:
    """The models named by ``sakyum_metadata = package.module:attribute`` (a list of them too); the
    attribute may be a dotted path (``models:db.Model.metadata``)."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    value, reached = importlib.import_module(module_name), module_name
    for name in (attribute or "metadata").split("."):
        if not hasattr(value, name):
            from alembic.util import CommandError

            raise CommandError(
                f"sakyum_metadata = {spec} in alembic.ini: {reached} has no {name!r}; name a MetaData, "
                "a declarative base or a Flask-SQLAlchemy db (module:attribute, or a dotted path such as "
                "models:db.Model.metadata)"
            )
        value = getattr(value, name)
        reached += f"{':' if reached == module_name else '.'}{name}"
    if isinstance(value, list | tuple):
        return [as_metadata(item) for item in value]
    return as_metadata(value)


# -- the alembic CLI's run: its own engine, the lock, the log --------------------------------------


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


def cli_engine(section: dict[str, Any], url: str) -> Engine:
    """The CLI's engine (no pool); ``?password=`` becomes the URL's password, so Alembic masks it."""
    from sqlalchemy import engine_from_config, pool
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    password = parsed.query.get("password")
    if parsed.password is None and isinstance(password, str):
        parsed = parsed.set(password=password).difference_update_query(["password"])
    # future=True: the 2.0-style connection (commit()) on SQLAlchemy 1.4 too; 2.x accepts it as is.
    section = {**section, "sqlalchemy.url": parsed}
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool, future=True)
    if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
        make_sqlite_ddl_transactional(engine)
    return engine


class StepLog:
    """The CLI's ``on_version_apply`` hook: a row per step, in the step's transaction; a failed step's
    row after its rollback. Each revision's upgrade() and downgrade() is timed (``watch``)."""

    def __init__(self, engine: Engine, tool: str) -> None:
        self.engine, self.tool, self.created = engine, tool, False
        self.running: tuple[str, str, float] | None = None  # the revision function running now

    def watch(self, script: Any) -> None:
        for revision in script.walk_revisions():
            for name, direction in (("upgrade", "up"), ("downgrade", "down")):
                function = getattr(revision.module, name, None)
                if function is not None:
                    setattr(revision.module, name, self.timed(revision.revision, direction, function))

    def timed(self, revision: str, direction: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # Alembic logs "Running upgrade ..." from the function's name
        def timed_function(*args: Any, **kw: Any) -> Any:
            from alembic import op

            self.running = (revision, direction, time.perf_counter())
            self.create_table(op.get_bind())  # before the DDL: on MySQL/MariaDB DDL commits at once
            return function(*args, **kw)

        return timed_function

    def create_table(self, connection: Connection) -> None:
        if not self.created:
            log_table().create(connection, checkfirst=True)
            self.created = True

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        self.create_table(ctx.connection)  # a stamp runs no revision function
        direction = "stamp" if step.is_stamp else ("up" if step.is_upgrade else "down")
        seconds = round(time.perf_counter() - self.running[2], 4) if self.running else 0.0
        ctx.connection.execute(log_table().insert(), step_row(step, direction, seconds, self.tool))
        self.running = None

    def log_failure(self) -> None:
        if self.running is None:  # no revision was running: the failure is no step's
            return
        from alembic.runtime.migration import MigrationContext

        revision, direction, _ = self.running
        with self.engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
            before = ", ".join(sorted(heads)) or "base"
            log_table().create(connection, checkfirst=True)
            row = log_row(revision, before, before, direction, None, False, self.tool)
            connection.execute(log_table().insert(), row)
            connection.commit()
