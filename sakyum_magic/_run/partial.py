"""What a failed revision leaves behind on a database whose DDL is not transactional.

MySQL and MariaDB commit every CREATE, ALTER and DROP at once, so a revision that fails halfway
cannot be rolled back: the version table still names the last good revision, but the schema already
holds part of the failed one. :class:`SchemaWatch` listens to the statements the run sends: before a
revision's first DDL statement, and before each later one that names a table the revision has not
touched yet, it notes in the database (:mod:`sakyum_magic._guards.markers`) the tables that statement names
with their columns as they are then. After a failure, in this run or the next one after a kill, only
those tables are read again and compared, so a revision costs the same beside ten tables or ten
thousand. On databases with transactional DDL (PostgreSQL, and SQLite as the migrator sets it up) it
does nothing, because the failed revision is rolled back whole.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


_NAME = r"(?:`[^`]+`|\"[^\"]+\"|[\w$]+)(?:\s*\.\s*(?:`[^`]+`|\"[^\"]+\"|[\w$]+))?"
_DDL = re.compile(r"\s*(?:CREATE|ALTER|DROP|RENAME|TRUNCATE)\b", re.I)
_ONE_TABLE = re.compile(
    r"\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE(?:\s+IF\s+NOT\s+EXISTS)?"
    r"|ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE(?:\s+IF\s+EXISTS)?)\s+(" + _NAME + ")",
    re.I,
)
_RENAMED_TO = re.compile(
    r"\bRENAME\s+(?:TO\s+|AS\s+)?(?!(?:COLUMN|INDEX|KEY|CONSTRAINT)\b)(" + _NAME + ")", re.I
)
_TABLE_LIST = re.compile(
    r"\s*(?:DROP\s+(?:TEMPORARY\s+)?TABLES?(?:\s+IF\s+EXISTS)?|RENAME\s+TABLES?)\s+(.*)", re.I | re.S
)
_LISTED = re.compile(r"(?:^|,|\bTO\b)\s*(" + _NAME + ")", re.I)


def has_transactional_ddl(engine: Engine) -> bool:
    """Whether a failed revision's DDL is rolled back with its transaction on this engine."""
    from alembic.ddl.impl import DefaultImpl

    from .database import is_transactional_sqlite

    if is_transactional_sqlite(engine):
        return True
    return bool(DefaultImpl.get_by_dialect(engine.dialect).transactional_ddl)


def is_ddl(statement: str) -> bool:
    """Whether a statement is DDL, which MySQL and MariaDB commit at once (with what came before it)."""
    return bool(_DDL.match(statement))


def touched_tables(statement: str) -> tuple[str, ...]:
    """The tables whose existence or columns a DDL statement may change (an index's table is not)."""
    found: list[str] = []
    one = _ONE_TABLE.match(statement)
    if one is not None:
        found.append(one.group(1))
        if statement.lstrip()[:5].upper() == "ALTER":
            found += [m.group(1) for m in _RENAMED_TO.finditer(statement, one.end())]
    listed = _TABLE_LIST.match(statement)
    if listed is not None:
        found += [m.group(1) for m in _LISTED.finditer(listed.group(1).split(";")[0])]
    return tuple(dict.fromkeys(_unquoted(name) for name in found))


def _unquoted(name: str) -> str:
    """The table part of a possibly schema-qualified, possibly quoted name."""
    last = re.split(r"\s*\.\s*(?=[`\"\w$])", name)[-1]
    return last[1:-1] if last[:1] in {"`", '"'} else last


class SchemaWatch:
    """A statement listener on the run's connection, and an ``on_version_apply`` hook clearing the
    note of the revision that just finished (in that revision's own transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.active = not has_transactional_ddl(engine)
        self.table_ready = False
        """Whether the notes table exists (found before the run, or created by it)."""
        self.created = False
        """Whether this run created it (then a run that succeeds leaves it empty)."""
        self.connection: Connection | None = None
        self._revision: tuple[str, str] | None = None
        self._touched: set[str] = set()
        self._noted = False
        self._carried = False
        self._busy = False

    def attach(self, connection: Connection) -> None:
        """Watch the statements sent on ``connection`` (the run's own)."""
        from sqlalchemy import event

        if self.active:
            self.connection = connection
            event.listen(connection, "before_cursor_execute", self._statement)

    def detach(self) -> None:
        from sqlalchemy import event

        if self.connection is not None:
            event.remove(self.connection, "before_cursor_execute", self._statement)
            self.connection = None

    def started(self, revision: str, direction: str) -> None:
        """A revision of the bound database begins (``direction``: ``up`` or ``down``)."""
        self._revision, self._touched, self._noted = (revision, direction), set(), False

    def _statement(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        from .._guards import markers
        from .database import OWN_TABLES, VERSION_TABLE

        if self._revision is None or self._busy or not is_ddl(statement):
            return
        skipped = self._touched | OWN_TABLES | {VERSION_TABLE}
        new = [name for name in touched_tables(statement) if name not in skipped]
        if self._noted and not new:
            return
        self._busy = True  # the note's own statements pass through this listener too
        try:
            if not self.table_ready:
                markers.create(conn)
                self.table_ready = self.created = True
            markers.note(conn, *self._revision, tuple(new))
        finally:
            self._busy = False
        self._touched.update(new)
        self._noted = True

    def carry(self) -> bool:
        """Whether the revision now finishing wrote a note; if so its deletion goes with the version
        update (see carry.py) and the hook sends none."""
        self._carried = self._noted
        return self._carried

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        from .._guards import markers

        if self._noted and not self._carried:  # noted on the bound connection, whose revision this is
            markers.clear(ctx.connection)
        self._revision, self._noted, self._carried = None, False, False

    def forget_untouched(self, engine: Engine, sent: int, version_unchanged: bool) -> bool:
        """After a revision's first writing statement failed on a lock (``sent`` is 1) with the version
        row unchanged: that statement's implicit commit came before it and committed only the note, and
        it failed whole, so nothing of the revision was committed. Its note is deleted (the revision can
        run again as it is); True then."""
        from .._guards import markers

        if not (self.active and sent == 1 and version_unchanged):
            return False
        markers.tidy(engine, clear=True)
        return True

    def left_behind(self, engine: Engine) -> tuple[str, ...]:
        """The changes made by the revision that failed (empty when inactive or nothing was noted)."""
        from .._guards import markers

        if not self.active:
            return ()
        marker = markers.pending(engine)
        return markers.left_behind(engine, marker) if marker is not None else ()
