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

from .locks import StatementTracer, raw_rows

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
class SqliteLockTracer(StatementTracer):
    """Called before each writing statement (``plan``'s classify hook), like the PostgreSQL tracer:
    ``observed`` holds, per writing statement, the lock it took (the first one takes the database's
    write lock, held to the end) and the tables it rebuilt."""

    _roots: dict[str, int] = field(default_factory=dict)
    _gone: set[str] = field(default_factory=set)
    _moves_roots: bool = False
    _lock: str = ""

    def _start(self, connection: Any) -> None:
        raw = connection.connection
        self._lock = lock_text(str(_one(raw, "PRAGMA journal_mode")).lower())
        self._moves_roots = int(_one(raw, "PRAGMA auto_vacuum")) != 0
        self._roots = _roots(raw)

    def _observe(self, connection: Any) -> tuple[str, str]:
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
        return lock, "; ".join(rebuilt)


def _roots(raw: Any) -> dict[str, int]:
    """Each table's root page (on the DBAPI connection: aiosqlite's adapted one has cursors only)."""
    return {str(name): int(root) for name, root in raw_rows(raw, _TABLES)}


def _one(raw: Any, query: str) -> Any:
    return raw_rows(raw, query)[0][0]
