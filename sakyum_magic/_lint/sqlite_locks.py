"""``plan --locks`` on SQLite: the database-wide write lock, and the tables a statement rebuilt,
observed inside the transaction ``plan`` rolls back.

SQLite has no table locks: a transaction that writes holds the database's RESERVED lock (``BEGIN
IMMEDIATE`` takes it at once) until it ends, so every other writer waits. Readers go on in WAL mode;
in a rollback-journal mode the lock becomes EXCLUSIVE to commit (earlier if the change outgrows the page
cache) and readers wait then. The connection's ``PRAGMA journal_mode`` says which applies.

A table whose ``sqlite_master.rootpage`` changed was rebuilt (batch mode's new table, copy, drop and
rename) and its rows are counted. With ``auto_vacuum`` on, root pages move: dropping a table moves
another's, and the renamed copy may land on the old table's page. There a table counts as rebuilt when
it was gone after one statement and back after a later one. Every query only reads; the transaction is
rolled back as every plan's is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_TABLES = (
    "SELECT name, rootpage FROM sqlite_master WHERE type = 'table' "
    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'alembic_version'"
)
_WAL = "wal"


def lock_text(journal_mode: str) -> str:
    """What the write lock blocks, in this journal mode."""
    if journal_mode == _WAL:
        return f"database RESERVED (journal_mode={journal_mode}: other writers wait; readers continue)"
    return (
        f"database RESERVED (journal_mode={journal_mode}: other writers wait; readers wait while it commits)"
    )


@dataclass
class SqliteLockTracer:
    """Called before each writing statement (``plan``'s classify hook), like the PostgreSQL tracer:
    ``observed`` holds, per writing statement, the lock it took (the first one takes the database's
    write lock, held to the end) and the tables it rebuilt."""

    observed: list[tuple[str, str]] = field(default_factory=list)
    _connection: Any = None
    _roots: dict[str, int] = field(default_factory=dict)
    _gone: set[str] = field(default_factory=set)
    _moves_roots: bool = False
    _lock: str = ""
    _pending: bool = False

    def __call__(self, connection: Any, statement: str) -> bool:
        if self._connection is None:
            from sqlalchemy import event

            raw = connection.connection
            self._lock = lock_text(str(_one(raw, "PRAGMA journal_mode")).lower())
            self._moves_roots = int(_one(raw, "PRAGMA auto_vacuum")) != 0
            self._roots = _roots(raw)
            event.listen(connection, "after_cursor_execute", self._after)
            self._connection = connection
        self._pending = True
        return False

    def close(self) -> None:
        if self._connection is not None:
            from sqlalchemy import event

            event.remove(self._connection, "after_cursor_execute", self._after)
            self._connection = None

    def _after(self, connection: Any, *_: Any) -> None:
        if not self._pending:
            return  # a query of ours, or one the run makes that writes nothing
        self._pending = False
        raw = connection.connection
        now = _roots(raw)
        rebuilt = []
        for name, root in self._roots.items():
            if name not in now:
                self._gone.add(name)
            elif name in self._gone or (now[name] != root and not self._moves_roots):
                rows = int(_one(raw, f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"'))
                rebuilt.append(f"rewrote {name} ({rows:,} rows)")
                self._gone.discard(name)
            if name in now:
                self._roots[name] = now[name]
        lock, self._lock = self._lock, ""  # held from the first writing statement to the end
        self.observed.append((lock, "; ".join(rebuilt)))


def _roots(raw: Any) -> dict[str, int]:
    return {str(name): int(root) for name, root in _all(raw, _TABLES)}


def _one(raw: Any, query: str) -> Any:
    return _all(raw, query)[0][0]


def _all(raw: Any, query: str) -> list[Any]:
    """On the DBAPI connection (aiosqlite's adapted one has cursors only): no SQLAlchemy events."""
    cursor = raw.cursor()
    try:
        cursor.execute(query)
        return list(cursor.fetchall())
    finally:
        cursor.close()
