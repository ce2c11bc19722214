"""A guarded ``upgrade``: a lock timeout and a statement timeout set inside each revision's transaction,
and, when a lock is not granted in time, the table and the session that holds it named.

PostgreSQL: ``SET LOCAL lock_timeout`` / ``statement_timeout`` (they end with the revision's
transaction). MariaDB: ``lock_wait_timeout`` and ``max_statement_time``; MySQL: ``lock_wait_timeout``
and ``max_execution_time`` (both for the session, set again at each revision). SQLite: ``PRAGMA
busy_timeout``, set before the run's first BEGIN and again in each revision, restored afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .._core.records import MigrationResult

LOCK_TIMEOUT_STATES = {"55P03"}  # PostgreSQL lock_not_available
MYSQL_LOCK_WAIT = 1205  # ER_LOCK_WAIT_TIMEOUT (lock_wait_timeout, innodb_lock_wait_timeout)
SQLITE_BUSY = 5  # the busy timeout ran out waiting for the database's lock


def seconds(text: str | float | None, name: str) -> float | None:
    """``2s``, ``1500ms``, ``15min``, ``1h`` or a number of seconds; None stays None."""
    from .._guards.sakyum_env_support import duration

    if text is None or text == "":
        return None
    if isinstance(text, int | float):
        return float(text)
    try:
        return duration(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: {exc}") from None


def statements(
    engine: Engine, lock_timeout: float | None, statement_timeout: float | None
) -> tuple[str, ...]:
    """What to run at the start of each revision's transaction to set the timeouts."""
    from .._guards.sakyum_env_support import timeout_statements

    dialect = engine.dialect.name
    if dialect == "sqlite":
        return _sqlite_statements(lock_timeout, statement_timeout)
    if dialect not in {"postgresql", "mysql"}:
        raise ConfigurationError(
            f"--lock-timeout and --statement-timeout need PostgreSQL, MySQL, MariaDB or SQLite, not {dialect}"
        )
    mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
    return tuple(timeout_statements(dialect, mariadb, lock_timeout, statement_timeout, "LOCAL"))


def _sqlite_statements(lock_timeout: float | None, statement_timeout: float | None) -> tuple[str, ...]:
    """SQLite's busy timeout: how long a BEGIN IMMEDIATE waits for the database's write lock (another
    writer) and a COMMIT for readers to finish (rollback-journal modes). SQLite has no statement timeout."""
    if statement_timeout is not None:
        raise ConfigurationError(
            "--statement-timeout: SQLite has no statement timeout (--lock-timeout sets its busy timeout, "
            "the wait for the database's write lock): leave it out"
        )
    from .._guards.sakyum_env_support import timeout_statements

    return tuple(timeout_statements("sqlite", False, lock_timeout, None, "SESSION"))


_ALTER = re.compile(r"^\s*ALTER\s+TABLE\b", re.I)
_INDEX = re.compile(r"^\s*(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX)\b", re.I)
_HAS_LOCK = re.compile(r"\bLOCK\s*=", re.I)


def online(engine: Engine) -> Callable[[str], str]:
    """``upgrade --online``: ``LOCK=NONE`` added to each ALTER TABLE and index statement. The server
    then runs it in place or instantly, with reads and writes going on, or refuses it at once (a
    table copy cannot allow writes), where without it the copy would run and block writes."""
    if engine.dialect.name != "mysql":
        raise ConfigurationError(
            f"--online is for MySQL and MariaDB (ALTER TABLE ... LOCK=NONE), not {engine.dialect.name}"
        )
    return add_lock_none


def add_lock_none(statement: str) -> str:
    text = statement.rstrip().rstrip(";")
    if _HAS_LOCK.search(text):
        return statement
    if _ALTER.match(text):
        return f"{text}, LOCK=NONE"
    if _INDEX.match(text):
        return f"{text} LOCK=NONE"
    return statement


def lock_timed_out(exc: BaseException) -> bool:
    """Whether a failed run stopped because a lock was not granted within the lock timeout."""
    found: BaseException | None = exc
    while found is not None:
        original: Any = getattr(found, "orig", None)
        if original is not None:
            state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
            code = original.args[0] if getattr(original, "args", None) else None
            sqlite_code = getattr(original, "sqlite_errorcode", None)  # extended codes keep the low byte
            busy = isinstance(sqlite_code, int) and sqlite_code & 0xFF == SQLITE_BUSY
            return state in LOCK_TIMEOUT_STATES or code == MYSQL_LOCK_WAIT or busy
        found = found.__cause__
    return False


def statement_of(exc: BaseException) -> str | None:
    found: BaseException | None = exc
    while found is not None:
        if getattr(found, "statement", None):
            return str(found.statement)  # type: ignore[attr-defined]
        found = found.__cause__
    return None


def holders(engine: Engine, table: str) -> list[int]:
    """The other sessions holding a lock on ``table`` (PostgreSQL: pg_locks; MySQL: the processlist)."""
    from sqlalchemy import text

    from .._run.aio import call
    from .._run.database import connect

    if engine.dialect.name == "postgresql":
        query = text(
            "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = :t AND l.granted AND l.pid <> pg_backend_pid() ORDER BY l.pid"
        )
    elif engine.dialect.name == "mysql":
        query = text(
            "SELECT DISTINCT t.PROCESSLIST_ID FROM performance_schema.metadata_locks m "
            "JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID "
            "WHERE m.OBJECT_NAME = :t AND m.LOCK_STATUS = 'GRANTED' AND t.PROCESSLIST_ID <> CONNECTION_ID()"
        )
    else:
        return []

    def read() -> list[int]:
        from sqlalchemy.exc import DBAPIError

        try:
            with connect(engine) as connection:
                return [int(pid) for (pid,) in connection.execute(query, {"t": table}) if pid is not None]
        except DBAPIError:  # performance_schema off, or not readable by this user
            return []

    return call(engine, read)


def blocked(
    command: str,
    exc: BaseException,
    engine: Engine,
    after: tuple[str, ...],
    limit: float,
    partly: MigrationResult | None = None,
    retried: int = 0,
) -> str:
    """One line: which revision waited for which table, held by which session, and what to do;
    ``partly``: the failed run, whose revision is partly applied (DDL that commits at once, and a
    statement after its first timed out), so it is not run again; ``retried``: the retries spent."""
    from .statements import table_of

    statement = statement_of(exc) or ""
    if engine.dialect.name == "sqlite":  # one lock for the whole file; SQLite does not say who holds it
        what = "the database's write lock (another connection is writing, or reading while this one commits)"
    else:
        dialect = "postgres" if engine.dialect.name == "postgresql" else "mysql"
        table = table_of(statement, dialect) if statement else None
        pids = holders(engine, table) if table else []
        held = f" held by pid {', '.join(map(str, pids))}" if pids else ""
        what = f"a lock{f' on table {table}' if table else ''}{held}"
    at = ", ".join(after) or "base"
    if partly is not None:
        left = ", ".join(partly.left_behind) or "no table or column change, but its earlier statements ran"
        return (
            f"{command}: waited {limit:g}s for {what} and gave up (lock timeout) after the revision's first "
            f"statement, so it is not run again: this database commits DDL at once, so it is partly "
            f"applied ({left}): undo that by hand and run %migrate stamp {at} (until then upgrade "
            "refuses), then run the command again"
        )
    tries = f" at each of {retried + 1} attempts" if retried else ""
    more = "retry with --retries N"
    if retried:
        more = f"give more than --retries {retried} or a longer --lock-timeout"
    return (
        f"{command}: waited {limit:g}s for {what} and gave up (lock timeout){tries}; the revision was "
        f"rolled back and the database is at {at}: end that session, or {more}"
    )
