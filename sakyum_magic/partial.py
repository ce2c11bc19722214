"""What a failed revision leaves behind on a database whose DDL is not transactional.

MySQL and MariaDB commit every CREATE, ALTER and DROP at once, so a revision that fails halfway
cannot be rolled back: the version table still names the last good revision, but the schema already
holds part of the failed one. :class:`SchemaWatch` notes the tables and columns after every applied
revision (it is an ``on_version_apply`` hook) and, after a failure, lists exactly what changed since.
On databases with transactional DDL (PostgreSQL, and SQLite as the migrator sets it up) it does
nothing, because the failed revision is rolled back whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

Schema = dict[str, frozenset[str]]


def has_transactional_ddl(engine: Engine) -> bool:
    """Whether a failed revision's DDL is rolled back with its transaction on this engine."""
    from alembic.ddl.impl import DefaultImpl

    from .database import is_transactional_sqlite

    if is_transactional_sqlite(engine):
        return True
    return bool(DefaultImpl.get_by_dialect(engine.dialect).transactional_ddl)


class SchemaWatch:
    """An ``on_version_apply`` hook remembering the schema after the last applied revision."""

    def __init__(self, engine: Engine) -> None:
        from .database import connect

        self.active = not has_transactional_ddl(engine)
        self.last: Schema = {}
        if self.active:
            with connect(engine) as connection:
                self.last = snapshot(connection)

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if self.active:
            self.last = snapshot(ctx.connection)

    def left_behind(self, engine: Engine) -> tuple[str, ...]:
        """The changes made since the last applied revision, one phrase each (empty when inactive)."""
        from .database import connect

        if not self.active:
            return ()
        with connect(engine) as connection:
            return changes(self.last, snapshot(connection))


def snapshot(connection: Connection) -> Schema:
    """Each table of the default schema with its column names (the version table left out)."""
    from .compat import column_names
    from .database import OWN_TABLES, VERSION_TABLE

    columns = column_names(connection)
    return {
        table: frozenset(names)
        for table, names in columns.items()
        if table != VERSION_TABLE and table not in OWN_TABLES
    }


def changes(before: Schema, after: Schema) -> tuple[str, ...]:
    """Phrases such as ``created table t3`` or ``added column users.email``, in a stable order."""
    found = [f"created table {t}" for t in sorted(after.keys() - before.keys())]
    found += [f"dropped table {t}" for t in sorted(before.keys() - after.keys())]
    for table in sorted(before.keys() & after.keys()):
        found += [f"added column {table}.{c}" for c in sorted(after[table] - before[table])]
        found += [f"dropped column {table}.{c}" for c in sorted(before[table] - after[table])]
    return tuple(found)
