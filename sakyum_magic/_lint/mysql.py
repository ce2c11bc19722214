"""MySQL and MariaDB: the ``ALTER TABLE`` actions that copy the table (blocking writes while every row
is copied) or rebuild it, read with sqlglot and judged against the server version and the live column.

What each server does in place or instantly follows MySQL's "Online DDL operations" tables and
MariaDB's "InnoDB online DDL" pages: ``ADD COLUMN`` is instant as the last column from MySQL 8.0.12
and MariaDB 10.3.2, anywhere from MySQL 8.0.29 and MariaDB 10.4; ``DROP COLUMN`` is instant from
those same two versions; a type change, a column made ``NOT NULL``, an ENUM/SET change other than
appending, and a foreign key added while ``foreign_key_checks`` is on, copy the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .findings import Hit
from .live import Live
from .sources import RevisionSQL
from .statements import parsed, table_of

if TYPE_CHECKING:
    from sqlglot import exp


def check(revisions: list[RevisionSQL], live: Live) -> list[Hit]:
    """Each statement's actions that copy or rebuild its table."""
    hits = []
    types = dict(live.column_types)  # as each statement leaves them
    for revision in revisions:
        for index, statement in enumerate(revision.statements):
            table = table_of(statement, "mysql")
            for rule, message in _actions(statement, table, live, types):
                hits.append(Hit(revision.revision, index, statement, table, rule, message))
    return hits


def _actions(
    statement: str, table: str | None, live: Live, types: dict[tuple[str, str], str]
) -> list[tuple[str, str]]:
    from sqlglot import exp

    tree = parsed(statement, "mysql")
    if not isinstance(tree, exp.Alter) or table is None:
        return []
    found = []
    for action in tree.args.get("actions") or ():
        judged = _judge(action, table, live, types)
        if judged is not None:
            found.append(judged)
    return found


def _judge(action: Any, table: str, live: Live, types: dict[tuple[str, str], str]) -> tuple[str, str] | None:
    from sqlglot import exp

    if isinstance(action, exp.ColumnDef):
        return _add_column(action, live)
    if isinstance(action, exp.ModifyColumn | exp.AlterColumn):
        return _modify(action, table, types)
    if isinstance(action, exp.AddConstraint):
        if action.find(exp.PrimaryKey):
            return "mysql-add-primary-key", "adding a primary key rebuilds the table"
        if action.find(exp.ForeignKey):
            return (
                "mysql-foreign-key-copy",
                "with foreign_key_checks on, adding a foreign key copies the table",
            )
    dropped = isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() == "COLUMN"
    if dropped and not _at_least(live, mysql=(8, 0, 29), mariadb=(10, 4)):
        return "mysql-drop-column-rebuild", f"DROP COLUMN rebuilds the table on {_server(live)}"
    return None


def _add_column(action: exp.ColumnDef, live: Live) -> tuple[str, str] | None:
    positioned = action.args.get("position") is not None
    if positioned and not _at_least(live, mysql=(8, 0, 29), mariadb=(10, 4)):
        return (
            "mysql-add-column-rebuild",
            f"ADD COLUMN with FIRST/AFTER rebuilds the table on {_server(live)}",
        )
    if not _at_least(live, mysql=(8, 0, 12), mariadb=(10, 3, 2)):
        return "mysql-add-column-rebuild", f"ADD COLUMN is not instant on {_server(live)}"
    return None


def _modify(action: Any, table: str, types: dict[tuple[str, str], str]) -> tuple[str, str] | None:
    from sqlglot import exp

    definition = action.this if isinstance(action, exp.ModifyColumn) else action
    if not isinstance(definition, exp.ColumnDef):
        return None
    column = str(definition.name).lower()
    old = types.get((table, column))
    new_type = definition.args.get("kind")
    not_null = any(
        isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) for c in definition.constraints
    )
    if new_type is not None:
        types[(table, column)] = f"{new_type.sql(dialect='mysql')} {'NOT_NULL' if not_null else 'NULL'}"
    if old is None:
        return (
            "mysql-copy-column-type",
            f"{table}.{column} redefined (MODIFY): a type change copies the table",
        )
    old_type, _, nullability = old.rpartition(" ")
    if new_type is not None and not _same_type(old_type, new_type):
        return _type_change(table, column, old_type, new_type)
    if not_null and nullability == "NULL":
        return "mysql-not-null-existing", f"{table}.{column} made NOT NULL: the table is copied"
    return None


def _type_change(table: str, column: str, old: str, new: exp.DataType) -> tuple[str, str] | None:
    from sqlglot import exp

    before = exp.DataType.build(old, dialect="mysql")
    enums = {exp.DataType.Type.ENUM, exp.DataType.Type.SET}
    if before.this in enums and new.this == before.this:
        old_values = [v.sql() for v in before.expressions]
        new_values = [v.sql() for v in new.expressions]
        if new_values[: len(old_values)] == old_values:
            return None  # appended at the end: in place, metadata only
        return (
            "mysql-enum-not-append",
            f"{table}.{column}: values changed other than appended; the table is copied",
        )
    if _widened_varchar(before, new):
        return None
    shown = new.sql(dialect="mysql")
    return "mysql-copy-column-type", f"{table}.{column} {old} -> {shown}: a type change copies the table"


def _same_type(old: str, new: exp.DataType) -> bool:
    """The same type, ignoring integer display widths (``int(11)`` is INTEGER)."""
    from sqlglot import exp

    before = exp.DataType.build(old, dialect="mysql")
    if before.this != new.this:
        return False
    if before.is_type(*exp.DataType.INTEGER_TYPES):
        return True
    return [e.sql() for e in before.expressions] == [e.sql() for e in new.expressions]


def _widened_varchar(before: exp.DataType, new: exp.DataType) -> bool:
    """VARCHAR made longer without crossing 255 bytes' length prefix: done in place."""
    from sqlglot import exp

    if not (before.is_type(exp.DataType.Type.VARCHAR) and new.is_type(exp.DataType.Type.VARCHAR)):
        return False
    try:
        old_length, new_length = (int(t.expressions[0].name) for t in (before, new))
    except (IndexError, ValueError):
        return False
    return new_length >= old_length and (new_length < 64) == (old_length < 64)  # utf8mb4: 4 bytes a char


def _at_least(live: Live, mysql: tuple[int, ...], mariadb: tuple[int, ...]) -> bool:
    if not live.version:
        return True  # no server to ask: assume a current one
    return live.version >= (mariadb if live.mariadb else mysql)


def _server(live: Live) -> str:
    return f"{'MariaDB' if live.mariadb else 'MySQL'} {live.version_text}"
