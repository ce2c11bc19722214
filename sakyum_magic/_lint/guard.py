"""A guarded ``upgrade``: a lock timeout and a statement timeout set inside each revision's transaction,
and, when a lock is not granted in time, the table and the session that holds it named.

PostgreSQL: ``SET LOCAL lock_timeout`` / ``statement_timeout`` (they end with the revision's
transaction). MariaDB: ``lock_wait_timeout`` and ``max_statement_time``; MySQL: ``lock_wait_timeout``
and ``max_execution_time`` (both for the session, set again at each revision).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

LOCK_TIMEOUT_STATES = {"55P03"}  # PostgreSQL lock_not_available
MYSQL_LOCK_WAIT = 1205  # ER_LOCK_WAIT_TIMEOUT (lock_wait_timeout, innodb_lock_wait_timeout)


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
    if dialect not in {"postgresql", "mysql"}:
        raise ConfigurationError(
            f"--lock-timeout and --statement-timeout need PostgreSQL, MySQL or MariaDB, not {dialect}"
        )
    mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
    return tuple(timeout_statements(dialect, mariadb, lock_timeout, statement_timeout, "LOCAL"))


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
            return state in LOCK_TIMEOUT_STATES or code == MYSQL_LOCK_WAIT
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


def blocked(command: str, exc: BaseException, engine: Engine, after: tuple[str, ...], limit: float) -> str:
    """One line: which revision waited for which table, held by which session, and what to do."""
    from .statements import table_of

    statement = statement_of(exc) or ""
    dialect = "postgres" if engine.dialect.name == "postgresql" else "mysql"
    table = table_of(statement, dialect) if statement else None
    pids = holders(engine, table) if table else []
    held = f" held by pid {', '.join(map(str, pids))}" if pids else ""
    on = f" on table {table}" if table else ""
    return (
        f"{command}: waited {limit:g}s for a lock{on}{held} and gave up (lock timeout); the revision was "
        f"rolled back and the database is at {', '.join(after) or 'base'}: end that session, or retry "
        "with --retries N"
    )
