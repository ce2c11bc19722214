"""``plan --locks`` on PostgreSQL: the locks each statement really takes, observed inside the
transaction ``plan`` rolls back.

After each statement that writes, one query reads the relation locks this session holds
(``pg_locks`` for ``pg_backend_pid()``, joined to ``pg_class``) and each relation's
``relfilenode``: a lock not held before was taken by that statement, and a table or index whose
``relfilenode`` changed was rewritten by it. The query only reads; the transaction is rolled back as
every plan's is, so nothing is committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# relkind as text: asyncpg gives the "char" type as bytes.
_RELATIONS = (
    "SELECT c.oid, c.relname, c.relkind::text, c.relfilenode, c.reltuples FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'i', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND left(n.nspname, 8) <> 'pg_toast' AND left(c.relname, 15) <> 'alembic_version'"
)
# Only a relation this session holds a lock on can have been rewritten by it (a rewrite takes ACCESS
# EXCLUSIVE), so one query per statement reads both the locks and those relations' relfilenode; no join:
# the names come from the relations read at the start (a relation not among them is the run's own, or
# a catalog).
_LOCKS = (
    "SELECT relation, mode, pg_relation_filenode(relation) FROM pg_locks "
    "WHERE pid = pg_backend_pid() AND locktype = 'relation'"
)
# Lock modes from the weakest to the strongest, shown as PostgreSQL's documentation names them.
_MODES = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
]


def mode_name(mode: str) -> str:
    """``AccessExclusiveLock`` -> ``ACCESS EXCLUSIVE``."""
    words: list[str] = []
    for char in mode.removesuffix("Lock"):
        if char.isupper() and words:
            words.append(" ")
        words.append(char.upper())
    return "".join(words)


@dataclass
class StatementTracer:
    """``plan``'s classify hook, called before each writing statement: on the first call it reads what
    the database is like (:meth:`_start`) and listens for the end of each statement on that
    connection; after each writing statement, :meth:`_observe` gives its locks and rewrites, kept in
    ``observed`` in order. Queries of its own, run in between, are not writing statements."""

    observed: list[tuple[str, str]] = field(default_factory=list)
    """Per writing statement, in order: the locks it took and what it rewrote."""
    _connection: Any = None
    _pending: bool = False

    def __call__(self, connection: Any, statement: str) -> bool:
        if self._connection is None:
            from sqlalchemy import event

            self._start(connection)
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
        self.observed.append(self._observe(connection))

    def _start(self, connection: Any) -> None:
        raise NotImplementedError

    def _observe(self, connection: Any) -> tuple[str, str]:
        raise NotImplementedError


def raw_rows(raw: Any, query: str) -> list[Any]:
    """``query``'s rows on the DBAPI connection beneath a Connection: no round of SQLAlchemy's events
    and result objects for a query run after every statement."""
    cursor = raw.cursor()
    try:
        cursor.execute(query)
        return list(cursor.fetchall())
    finally:
        cursor.close()


@dataclass
class LockTracer(StatementTracer):
    """Called before each writing statement (``plan``'s classify hook): on the first call it takes the
    relations' ``relfilenode`` and listens for the end of each statement on that connection.

    A statement's locks are those it newly took on relations that existed before the run: a lock the
    same run already holds is not taken again (PostgreSQL keeps each until the transaction ends)."""

    _files: dict[int, tuple[str, str, int, float]] = field(default_factory=dict)
    _before: dict[int, tuple[str, str, int, float]] = field(default_factory=dict)
    _held: set[tuple[int, str]] = field(default_factory=set)

    def _start(self, connection: Any) -> None:
        self._files = self._relations(connection)
        self._before = dict(self._files)
        self._held = {(oid, mode) for oid, mode, _file in self._locks(connection)}

    def _observe(self, connection: Any) -> tuple[str, str]:
        locked = self._locks(connection.connection)
        held = {(oid, mode) for oid, mode, _file in locked}
        # A relation the run created is seen by no one else until the end: its locks block nobody.
        new = [(self._before[oid][0], mode) for oid, mode in held - self._held if oid in self._before]
        taken = sorted(new, key=lambda lock: (lock[0], -_MODES.index(lock[1])))
        self._held = held
        rewrote = []
        for oid, _mode, node in locked:
            before = self._files.get(oid)
            if before is not None and node is not None and before[2] != node:
                rewrote.append(self._rewrite_text(before))
                self._files[oid] = (*before[:2], node, before[3])
        strongest: dict[str, str] = {}
        for name, mode in taken:
            strongest.setdefault(name, mode)
        locks = ", ".join(f"{name} {mode_name(mode)}" for name, mode in strongest.items())
        return locks, "; ".join(rewrote)

    @staticmethod
    def _rewrite_text(before: tuple[str, str, int, float]) -> str:
        name, kind, _file, tuples = before
        what = "index " if kind == "i" else ""
        rows = f" ({int(tuples):,} rows)" if kind != "i" and tuples >= 0 else ""
        return f"rewrote {what}{name}{rows}"

    @staticmethod
    def _relations(connection: Any) -> dict[int, tuple[str, str, int, float]]:
        found = connection.exec_driver_sql(_RELATIONS).all()
        return {
            int(oid): (str(name), str(kind), int(node), float(tuples))
            for oid, name, kind, node, tuples in found
        }

    @staticmethod
    def _locks(source: Any) -> list[tuple[int, str, int | None]]:
        """After a statement, on the DBAPI connection beneath it (no round of SQLAlchemy's events and
        result objects for each statement); at the start, on the Connection."""
        if hasattr(source, "exec_driver_sql"):
            found = source.exec_driver_sql(_LOCKS).all()
        else:
            found = raw_rows(source, _LOCKS)
        return [(int(oid), str(mode), None if node is None else int(node)) for oid, mode, node in found]
