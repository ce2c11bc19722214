"""What loses data, and the guards that keep autogenerate from losing it.

*Destructive* means a change loses, or may lose, stored data: dropping a table or a column, narrowing
a type, ``TRUNCATE``, ``DELETE``. The same definition marks rows in ``diff`` and statements in ``plan``.
A type change counts as narrowing unless it is known to keep every value (a longer string, a wider
integer, a date becoming a timestamp, ...): when unsure, it is marked, since "may lose" is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._core.errors import ConfigurationError, DropRefusedError
from .._core.records import Operation

UNBOUNDED = 10**9
Shape = tuple[str, tuple[int, ...]]

# Longest text form of a value of each family: a string column at least this long keeps it.
_TEXT_WIDTH = {"bool": 5, "int": 20, "float": 24, "date": 10, "datetime": 32, "time": 18, "uuid": 36}
_WIDENING = {("bool", "int"), ("date", "datetime"), ("int", "numeric"), ("int", "float"), ("float", "float")}
_INT_DIGITS = {2: 5, 4: 10, 8: 19}


# -- type shapes: a family and its sizes, from SQLAlchemy types or from SQL text ------------


def shape(type_: Any) -> Shape:
    """The family and sizes of a SQLAlchemy type (reflected or declared)."""
    import sqlalchemy as sa

    from .._core.compat import uuid_types

    checks: list[tuple[Any, str]] = [
        (sa.Boolean, "bool"),
        (sa.Date, "date"),
        (sa.DateTime, "datetime"),
        (sa.Time, "time"),
        (sa.Interval, "interval"),
        (sa.JSON, "json"),
        *((uuid, "uuid") for uuid in uuid_types()),
        (sa.Enum, "enum"),
    ]
    for cls, family in checks:
        if isinstance(type_, cls):
            return family, ()
    if isinstance(type_, sa.Integer):
        size = 8 if isinstance(type_, sa.BigInteger) else 2 if isinstance(type_, sa.SmallInteger) else 4
        return "int", (size,)
    if isinstance(type_, sa.Float):
        return "float", (24 if "REAL" in type(type_).__name__.upper() else 53,)
    if isinstance(type_, sa.Numeric):
        return "numeric", (type_.precision or UNBOUNDED, type_.scale or 0)
    if isinstance(type_, sa.String | sa.LargeBinary):
        family = "string" if isinstance(type_, sa.String) else "binary"
        return family, (getattr(type_, "length", None) or UNBOUNDED,)
    return f"other:{type(type_).__name__.lower()}", ()


_SQL_FAMILIES = [
    (r"bool", "bool"),
    (r"bigint|int8|bigserial", "int8"),
    (r"smallint|int2|tinyint", "int2"),
    (r"int|serial", "int4"),
    (r"numeric|decimal", "numeric"),
    (r"real|float4", "float24"),
    (r"double|float", "float53"),
    (r"timestamp|datetime", "datetime"),
    (r"interval", "interval"),
    (r"date", "date"),
    (r"time", "time"),
    (r"blob|binary|bytea", "binary"),
    (r"char|text|clob|string", "string"),
    (r"json", "json"),
    (r"uuid", "uuid"),
]


def sql_shape(text: str) -> Shape:
    """The family and sizes of a type written in SQL, such as ``VARCHAR(20)`` or ``NUMERIC(10, 2)``."""
    match = re.match(r"\s*([^(]*?)\s*(?:\(([^)]*)\))?\s*(?:USING\b.*)?$", text, re.I | re.S)
    name = (match.group(1) if match else text).lower()
    sizes = tuple(int(a) for a in re.findall(r"\d+", match.group(2) or "")) if match else ()
    for pattern, family in _SQL_FAMILIES:
        if re.search(pattern, name):
            if family.startswith("int"):
                return "int", (int(family[3:]),)
            if family.startswith("float"):
                return "float", (int(family[5:]),)
            if family == "numeric":
                return "numeric", (sizes[0] if sizes else UNBOUNDED, sizes[1] if len(sizes) > 1 else 0)
            if family in {"string", "binary"}:
                return family, (sizes[0] if sizes else UNBOUNDED,)
            return family, ()
    return f"other:{name}", ()


def narrowing(old: Shape, new: Shape) -> bool:
    """Whether changing a column from ``old`` to ``new`` may lose or alter stored values."""
    (old_family, old_sizes), (new_family, new_sizes) = old, new
    if old_family == new_family:
        if old_family == "numeric":
            (old_p, old_s), (new_p, new_s) = old_sizes, new_sizes
            return new_s < old_s or new_p - new_s < old_p - old_s
        return bool(old_sizes and new_sizes and new_sizes[0] < old_sizes[0])
    if new_family == "string":
        width = old_sizes[0] + 2 if old_family == "numeric" else _TEXT_WIDTH.get(old_family, UNBOUNDED)
        return new_sizes[0] < width
    if (old_family, new_family) == ("int", "numeric"):
        precision, scale = new_sizes
        return precision - scale < _INT_DIGITS.get(old_sizes[0], 19)
    if (old_family, new_family) == ("int", "float"):
        return old_sizes[0] > 4 or new_sizes[0] < 53
    return (old_family, new_family) not in _WIDENING


def compatible(old: Shape, new: Shape) -> bool:
    """Whether two columns could hold the same data under another name: the same family of type."""
    return old[0] == new[0]


# -- statements ----------------------------------------------------------------------------

_READ_ONLY = re.compile(
    r"^\s*(SELECT|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SHOW|EXPLAIN|DESCRIBE|PRAGMA\s+[\w.\"]+\s*(\(|;|$))",
    re.I,
)


def writes(statement: str) -> bool:
    """Whether a statement may change the database (reflection queries and BEGIN do not)."""
    return not _READ_ONLY.match(statement)


def always_destructive(statement: str, version_table: str = "alembic_version") -> bool:
    """DROP TABLE/COLUMN, TRUNCATE and DELETE (except on the version table): they lose rows or values."""
    text = " ".join(statement.split()).upper()
    if text.startswith(("TRUNCATE", "DROP TABLE")) or re.search(r"\bDROP\s+COLUMN\b", text):
        return not _on(text, version_table) and "_ALEMBIC_TMP_" not in text.split("(")[0]
    return text.startswith("DELETE") and not _on(text, version_table)


def _on(text: str, table: str) -> bool:
    return bool(re.search(rf"\b{re.escape(table.upper())}\b", text.split(" WHERE ")[0]))


# -- the drop guard and --rename -----------------------------------------------------------


def guard_drops(rows: Sequence[Operation], allow_drop: bool) -> None:
    """Refuse (DropRefusedError) an autogenerate that drops tables or columns, unless allowed."""
    drops = [r for r in rows if r.op in {"remove_table", "remove_column"}]
    if not drops or allow_drop:
        return
    tables = [_qualified(r) for r in drops if r.op == "remove_table"]
    columns = [_qualified(r) for r in drops if r.op == "remove_column"]
    names = " and ".join(
        f"{kind}(s) {', '.join(found)}" for kind, found in (("table", tables), ("column", columns)) if found
    )
    hint = (
        f" Table(s) {', '.join(tables)} are in the database but in no bound metadata: "
        "models not imported? Import them, or bind a list of metadata."
        if tables
        else ""
    )
    raise DropRefusedError(
        f"autogenerate would drop {names}, so no file was written.{hint} "
        "To drop on purpose, run revision --autogenerate again with --allow-drop "
        "(or --rename TABLE.OLD:NEW, --rename-table OLD:NEW to keep a renamed column's or table's data)",
        list(rows),  # every difference, the drops among them (the table shows them all)
    )


def _qualified(row: Operation) -> str:
    parts = [row.schema, row.table, row.name if row.op.endswith("_column") else None]
    return ".".join(p for p in parts if p)


@dataclass(frozen=True)
class Rename:
    """``--rename TABLE.OLD:NEW``: a column that autogenerate sees dropped and added is renamed instead."""

    table: str
    old: str
    new: str
    schema: str | None = None

    def __str__(self) -> str:
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{table}.{self.old}:{self.new}"


_RENAME = re.compile(r"^(?:(?P<schema>\w+)\.)?(?P<table>\w+)\.(?P<old>\w+):(?P<new>\w+)$")


def parse_rename(text: str) -> Rename:
    """Parse ``[SCHEMA.]TABLE.OLD:NEW``; anything else is a ConfigurationError."""
    match = _RENAME.match(text.strip())
    if not match:
        raise ConfigurationError(
            f"--rename {text!r} is not TABLE.OLD:NEW: write it like --rename users.name:full_name"
        )
    return Rename(match["table"], match["old"], match["new"], match["schema"])


def parse_renames(values: Iterable[str | Rename]) -> tuple[Rename, ...]:
    """Parse every ``--rename`` value; a column renamed twice is an error too."""
    renames = tuple(v if isinstance(v, Rename) else parse_rename(v) for v in values)
    seen = [(r.schema, r.table, r.old) for r in renames]
    if len(set(seen)) != len(seen):
        raise ConfigurationError("--rename names the same column twice: give each TABLE.OLD once")
    return renames


def apply_renames(script: Any, renames: Sequence[Rename]) -> None:
    """Turn each named drop + add pair into ``alter_column(..., new_column_name=...)``, both ways."""
    for rename in renames:
        found = False
        for upgrade, downgrade in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=True):
            if _rename_in(upgrade, rename.table, rename.schema, rename.old, rename.new):
                _rename_in(downgrade, rename.table, rename.schema, rename.new, rename.old)
                found = True
        if not found:
            raise ConfigurationError(
                f"--rename {rename}: autogenerate found no dropped column {rename.table}.{rename.old} "
                f"with an added {rename.table}.{rename.new}; check the names with %migrate diff"
            )


def _rename_in(container: Any, table: str, schema: str | None, old: str, new: str) -> bool:
    from alembic.operations import ops

    for modify in container.ops:
        if not isinstance(modify, ops.ModifyTableOps) or modify.table_name != table:
            continue
        if schema is not None and modify.schema != schema:
            continue
        drop = next((o for o in modify.ops if _is(o, ops.DropColumnOp, old)), None)
        add = next((o for o in modify.ops if _is(o, ops.AddColumnOp, new)), None)
        if drop is None or add is None:
            continue
        modify.ops[modify.ops.index(drop)] = _alter(drop, add)
        modify.ops.remove(add)
        return True
    return False


def _is(operation: Any, kind: type, name: str) -> bool:
    column = getattr(operation, "column_name", None) or getattr(
        getattr(operation, "column", None), "name", None
    )
    return isinstance(operation, kind) and column == name


def _alter(drop: Any, add: Any) -> Any:
    from .._core.compat import alter_column_op

    before, after = drop.to_column(), add.column
    same_type = str(before.type) == str(after.type)
    return alter_column_op(
        drop.table_name,
        drop.column_name,
        schema=drop.schema,
        existing_type=before.type,
        existing_nullable=before.nullable,
        existing_server_default=before.server_default or False,
        modify_name=after.name,
        modify_type=None if same_type else after.type,
        modify_nullable=None if before.nullable == after.nullable else after.nullable,
    )
