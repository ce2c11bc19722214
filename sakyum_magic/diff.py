"""Schema differences as rows: one :class:`Operation` per thing autogenerate would change.

Rows are built from Alembic's operation objects (``to_diff_tuple``), never from rendered text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .records import Operation

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation

DESTRUCTIVE_OPS = frozenset({"remove_table", "remove_column"})


def operation_rows(operations: Iterable[MigrateOperation]) -> list[Operation]:
    """Flatten Alembic operations (and containers of them) into one row per difference."""
    return [_row(diff) for diff in _diff_tuples(operations)]


def _diff_tuples(operations: Iterable[MigrateOperation]) -> Iterator[tuple[Any, ...]]:
    from alembic.operations.ops import OpContainer

    for operation in operations:
        if isinstance(operation, OpContainer):
            yield from _diff_tuples(operation.ops)
            continue
        diff = operation.to_diff_tuple()
        if isinstance(diff, list):
            yield from diff
        else:
            yield diff


def _row(diff: tuple[Any, ...]) -> Operation:
    kind = diff[0]
    if kind.startswith("modify_"):
        _, schema, table, column, _existing, old, new = diff
        return _make(kind, schema, table, column, f"{_show(old)} → {_show(new)}")
    if kind in {"add_column", "remove_column"}:
        _, schema, table, column = diff
        return _make(kind, schema, table, column.name, _column_detail(column))
    if kind in {"add_table", "remove_table"}:
        table = diff[1]
        columns = ", ".join(c.name for c in table.columns)
        return _make(kind, table.schema, table.name, None, f"({columns})")
    return _constraint_row(kind, diff[1])


def _constraint_row(kind: str, item: Any) -> Operation:
    """Indexes, foreign keys, unique and other constraints: ``(kind, object)`` tuples."""
    table = getattr(item, "table", None)
    columns = ", ".join(str(getattr(c, "name", c)) for c in getattr(item, "columns", ()))
    detail = f"({columns})" if columns else ""
    if kind.endswith("_fk"):
        referred = getattr(item, "referred_table", None)
        if referred is not None:
            detail += f" → {referred.name}"
    name = getattr(item, "name", None)
    return _make(
        _constraint_kind(kind, item),
        getattr(table, "schema", None),
        getattr(table, "name", None),
        None if name is None else str(name),
        detail.strip(),
    )


def _constraint_kind(kind: str, item: Any) -> str:
    """Alembic says add_constraint/remove_constraint for unique constraints; name them plainly."""
    from sqlalchemy import CheckConstraint, UniqueConstraint

    if kind.endswith("_constraint"):
        verb = kind.split("_", 1)[0]
        if isinstance(item, UniqueConstraint):
            return f"{verb}_unique"
        if isinstance(item, CheckConstraint):
            return f"{verb}_check"
    return kind


def _make(op: str, schema: str | None, table: str | None, name: str | None, detail: str) -> Operation:
    return Operation(op, schema, table, name, detail, destructive=op in DESTRUCTIVE_OPS)


def _column_detail(column: Any) -> str:
    nullable = "NULL" if column.nullable else "NOT NULL"
    return f"{_show(column.type)} {nullable}"


def _show(value: Any) -> str:
    if value is None:
        return "None"
    text = getattr(value, "text", None)  # server defaults
    if text is not None:
        return str(text)
    arg = getattr(value, "arg", None)
    if arg is not None and not isinstance(value, type):
        return str(getattr(arg, "text", arg))
    return str(value)


def compare(connection: Any, target: Any) -> list[Operation]:
    """What autogenerate would change to make the database at ``connection`` match ``target``."""
    from alembic.autogenerate import produce_migrations
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"compare_type": True, "target_metadata": target})
    script = produce_migrations(context, target)
    return operation_rows(script.upgrade_ops_list)
