"""Schema differences as rows: one :class:`Operation` per thing autogenerate would change.

Rows are built from Alembic's operation objects (``to_diff_tuple``), never from rendered text. A row
is ``destructive`` when applying it loses or may lose stored data (see :mod:`sakyum_magic._guards.safety`):
dropping a table or a column, or narrowing a column's type. A dropped and an added column of the
same family of type in one table are marked as a possible rename.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError, DatabaseError
from .._core.records import Operation
from .._guards.safety import Rename, apply_renames, compatible, guard_drops, narrowing, shape

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation
    from sqlalchemy.engine import Engine

    from .reflection import ReflectionCache

DESTRUCTIVE_OPS = frozenset({"remove_table", "remove_column"})
NOT_IN_MODELS = "in the database but in no bound metadata (models not imported?)"


def operation_rows(operations: Iterable[MigrateOperation]) -> list[Operation]:
    """Flatten Alembic operations (and containers of them) into one row per difference."""
    diffs = list(_diff_tuples(operations))
    rows = [_row(diff) for diff in diffs]
    from .._schema.renames import mark_table_renames

    return mark_table_renames(_mark_renames(rows, diffs), diffs)


def _diff_tuples(operations: Iterable[MigrateOperation]) -> Iterator[tuple[Any, ...]]:
    from alembic.operations.ops import (
        AlterColumnOp,
        DropTableCommentOp,
        ExecuteSQLOp,
        OpContainer,
        RenameTableOp,
    )

    from .._schema.enums import is_enum_op

    for operation in operations:
        if is_enum_op(operation):  # alembic-postgresql-enum's, on PostgreSQL
            yield ("enum", operation)
            continue
        if isinstance(operation, OpContainer):
            yield from _diff_tuples(operation.ops)
            continue
        if isinstance(operation, ExecuteSQLOp):  # --rename-table's; Alembic < 1.10 has no diff tuple for it
            yield ("execute", operation.sqltext)
            continue
        if isinstance(operation, RenameTableOp):  # written by --rename-table (autogenerate has none)
            yield ("rename_table", operation.schema, operation.table_name, operation.new_table_name)
            continue
        if isinstance(operation, AlterColumnOp) and operation.modify_name:
            yield ("rename_column", operation.schema, operation.table_name, operation.column_name, operation)
        diff = operation.to_diff_tuple()
        if isinstance(operation, DropTableCommentOp):
            diff = (*diff, operation.existing_comment)
        if isinstance(diff, list):
            yield from diff
        elif diff:
            yield diff


def _row(diff: tuple[Any, ...]) -> Operation:
    from .._schema.enums import enum_reshaped, enum_row

    kind = diff[0]
    if kind == "enum":
        return enum_row(diff[1])
    if kind.startswith("modify_"):
        _, schema, table, column, _existing, old, new = diff
        lossy = kind == "modify_type" and (narrowing(shape(old), shape(new)) or enum_reshaped(old, new))
        return Operation(kind, schema, table, column, f"{_show(old)} → {_show(new)}", lossy)
    if kind == "rename_column":
        _, schema, table, column, alter = diff
        return _make(kind, schema, table, column, f"{column} → {alter.modify_name}")
    if kind == "rename_table":
        _, schema, table, new = diff
        return _make(kind, schema, table, None, f"{table} → {new}")
    if kind in {"add_column", "remove_column"}:
        _, schema, table, column = diff
        return _make(kind, schema, table, column.name, _column_detail(column))
    if kind in {"add_table", "remove_table"}:
        table = diff[1]
        detail = "(" + ", ".join(c.name for c in table.columns) + ")"
        if kind == "remove_table":
            detail += f"; {NOT_IN_MODELS}"
        return _make(kind, table.schema, table.name, None, detail)
    if kind in {"add_table_comment", "remove_table_comment"}:
        table = diff[1]
        old = diff[2] if len(diff) > 2 else None
        new = table.comment if kind == "add_table_comment" else None
        return _make(kind, table.schema, table.name, None, f"{_show(old)} → {_show(new)}")
    if kind == "execute":
        return _make(kind, None, None, None, str(diff[1]))
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
    if kind.endswith("_index") and getattr(item, "unique", False):
        detail += " unique"
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
    from sqlalchemy import CheckConstraint, PrimaryKeyConstraint, UniqueConstraint

    if kind.endswith("_constraint"):
        verb = kind.split("_", 1)[0]
        for cls, noun in (
            (UniqueConstraint, "unique"),
            (CheckConstraint, "check"),
            (PrimaryKeyConstraint, "pk"),
        ):
            if isinstance(item, cls):
                return f"{verb}_{noun}"
    return kind


def _make(op: str, schema: str | None, table: str | None, name: str | None, detail: str) -> Operation:
    return Operation(op, schema, table, name, detail, destructive=op in DESTRUCTIVE_OPS)


def _mark_renames(rows: list[Operation], diffs: list[tuple[Any, ...]]) -> list[Operation]:
    """Pair each dropped column with an added column of the same family in the same table."""
    added: dict[tuple[Any, Any], list[int]] = {}
    for index, diff in enumerate(diffs):
        if diff[0] == "add_column":
            added.setdefault((diff[1], diff[2]), []).append(index)
    for index, diff in enumerate(diffs):
        if diff[0] != "remove_column":
            continue
        candidates = added.get((diff[1], diff[2]), [])
        match = next(
            (i for i in candidates if compatible(shape(diff[3].type), shape(diffs[i][3].type))), None
        )
        if match is None:
            continue
        candidates.remove(match)
        old, new = rows[index], rows[match]
        flag = f"--rename {_dotted(old.schema, old.table)}.{old.name}:{new.name}"
        rows[index] = dataclasses.replace(old, detail=f"{old.detail}; possible rename to {new.name} ({flag})")
        rows[match] = dataclasses.replace(new, detail=f"{new.detail}; possible rename of {old.name}")
    return rows


def _dotted(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


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


# -- comparing ----------------------------------------------------------------------------


def compare_database(
    engine: Engine,
    target: Any,
    schema: str | None,
    include_schemas: bool,
    tables: Collection[str],
    reflections: ReflectionCache | None = None,
) -> list[Operation]:
    """:func:`compare` on a connection of its own, with database errors as one-line DatabaseErrors."""
    from sqlalchemy.exc import DBAPIError

    from .._core.binding import mask_url
    from .._run.database import connect, first_line

    with connect(engine) as connection:
        _require_schema(connection, schema)
        try:
            return compare(
                connection, target, schema=schema, include_schemas=include_schemas, tables=tables,
                reflections=reflections,
            )  # fmt: skip
        except DBAPIError as exc:  # a database that cannot be read, or a table it refuses to show
            raise DatabaseError(
                f"cannot compare with {mask_url(engine.url)}: {first_line(exc.orig, engine.url)}; "
                "check --schema and the table names"
            ) from exc


def _require_schema(connection: Any, schema: str | None) -> None:
    """An unknown --schema would compare nothing and look like "no differences": refuse it."""
    from sqlalchemy import inspect

    if schema is None:
        return
    known = inspect(connection).get_schema_names()
    if schema not in known:
        raise ConfigurationError(
            f"--schema {schema[:60]!r} is not a schema of this database (it has: {', '.join(known)})"
        )


def compare(
    connection: Any,
    target: Any,
    *,
    schema: str | None = None,
    include_schemas: bool = False,
    tables: Collection[str] = (),
    reflections: ReflectionCache | None = None,
) -> list[Operation]:
    """What autogenerate would change to make the database at ``connection`` match ``target``.

    :param schema: compare only this schema.
    :param include_schemas: compare every schema, not only the default one.
    :param tables: compare only these tables, as ``name`` or ``schema.name`` (the table filter).
    :param reflections: what earlier comparisons read, used again while the schema is unchanged.
    """
    from alembic.migration import MigrationContext

    opts: dict[str, Any] = {"compare_type": True, "compare_server_default": True, "target_metadata": target}
    filters = _Filter(connection, target, schema, tables)
    if schema is not None or include_schemas:
        opts["include_schemas"] = True
    opts["include_name"], opts["include_object"] = filters.include_name, filters.include_object
    from .._schema.enums import count_rewrites, load_for

    enums = load_for(connection.dialect.name)  # enum types compared on PostgreSQL only
    context = MigrationContext.configure(connection, opts=opts)
    script = _produce(context, target, reflections, (schema, include_schemas, tuple(sorted(tables))))
    if enums:
        count_rewrites(connection, script.upgrade_ops_list)
    return operation_rows(script.upgrade_ops_list)


def _produce(context: Any, target: Any, reflections: ReflectionCache | None, options: Any) -> Any:
    """Alembic's comparison, through the kept reflection when there is one."""
    if reflections is None:
        from alembic.autogenerate import produce_migrations

        return produce_migrations(context, target)
    from .reflection import compared_schemas

    schema, include_schemas, _tables = options
    owners = compared_schemas(context.bind, schema, include_schemas)
    return reflections.comparison(context, target, options, owners)


class _Filter:
    """The ``include_name`` / ``include_object`` hooks for ``--schema`` and the table filter."""

    def __init__(self, connection: Any, target: Any, schema: str | None, tables: Collection[str]) -> None:
        self.default = connection.dialect.default_schema_name
        self.only_schema = schema is not None
        self.schema = None if schema == self.default else schema
        self.tables = {self._key(name) for name in tables}
        if self.tables:
            self._check_known(connection, target)

    def _key(self, name: str) -> tuple[str | None, str]:
        owner, _, table = name.rpartition(".")
        if owner:
            return (None if owner == self.default else owner), table
        return self.schema, table

    def _check_known(self, connection: Any, target: Any) -> None:
        from sqlalchemy import inspect

        metadatas = target if isinstance(target, list | tuple) else [target]
        known = {self._key(_dotted(t.schema, t.name)) for m in metadatas for t in m.tables.values()}
        inspector = inspect(connection)
        for owner in {owner for owner, _ in self.tables}:
            known.update((owner, name) for name in inspector.get_table_names(schema=owner))
        unknown = sorted(_dotted(*key) for key in self.tables - known)
        if unknown:
            raise ConfigurationError(
                f"unknown table(s) {', '.join(unknown)}: neither the models nor the database have them; "
                "check the spelling (schema.table for another schema), or run %migrate diff without a filter"
            )

    def include_name(self, name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "schema":
            return not self.only_schema or name == self.schema
        if type_ == "table":
            from .._run.database import OWN_TABLES

            return name not in OWN_TABLES and self._wanted(parent_names.get("schema_name"), str(name))
        return True

    def include_object(self, obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ != "table" or reflected:
            return True
        return self._wanted(None if obj.schema == self.default else obj.schema, str(name))

    def _wanted(self, owner: str | None, table: str) -> bool:
        if self.only_schema and owner != self.schema:
            return False
        return not self.tables or (owner, table) in self.tables


def directives_hook(
    collected: dict[str, Any],
    autogenerate: bool,
    allow_drop: bool = True,
    renames: Sequence[Rename] = (),
) -> Callable[..., None]:
    """A process_revision_directives hook: applies --rename, records the operations, drops an empty
    autogenerate, and refuses drops without --allow-drop (raising here means no file is written)."""

    def collect(context: Any, revision: Any, directives: list[Any]) -> None:
        if not directives:
            return
        script = directives[0]
        if autogenerate and renames:
            apply_renames(script, renames)
        collected["operations"] = operations = operation_rows(script.upgrade_ops_list)
        if autogenerate and all(ops.is_empty() for ops in script.upgrade_ops_list):
            directives[:] = []
        elif autogenerate:
            guard_drops(operations, allow_drop)

    return collect
