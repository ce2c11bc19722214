"""What an ER picture shows: tables, their columns and foreign keys, read from a ``MetaData``.

One :class:`ERTable` per table, with :class:`ERColumn` rows; with ``--diff``, each table and column
carries a mark (``added``, ``removed``, ``changed``) from comparing two MetaData: the models' against
the database's, or a revision's. Types are compared by family and size (:func:`..safety.shape`), since
a reflected type and a declared one print differently for the same column.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._guards.safety import shape

if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class ERColumn:
    """One column: its type as SQL text, key roles, and what a diff says of it."""

    name: str
    type: str
    primary_key: bool = False
    references: str | None = None
    """``table.column`` of the first foreign key, if any."""
    nullable: bool = True
    mark: str = ""
    detail: str = ""

    @property
    def keys(self) -> str:
        return ",".join(k for k, on in (("PK", self.primary_key), ("FK", self.references)) if on)


@dataclass(frozen=True)
class ERTable:
    """One table with its columns, in their order."""

    name: str
    schema: str | None
    columns: tuple[ERColumn, ...]
    mark: str = ""

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def er_tables(metadata: MetaData, pattern: str | None = None, schema: str | None = None) -> list[ERTable]:
    """The tables of ``metadata`` (those whose name matches the glob ``pattern``), sorted by name."""
    return [_table(t) for t in _selected(metadata.tables.values(), pattern, schema)]


def _selected(tables: Iterable[Table], pattern: str | None, schema: str | None) -> list[Table]:
    chosen = [
        t
        for t in tables
        if (pattern is None or fnmatch.fnmatchcase(t.name, pattern))
        and (schema is None or t.schema in (schema, None))
    ]
    return sorted(chosen, key=lambda t: (t.schema or "", t.name))


def _table(table: Table) -> ERTable:
    return ERTable(table.name, table.schema, tuple(_column(c) for c in table.columns))


def _column(column: Column[Any]) -> ERColumn:
    foreign = next(iter(column.foreign_keys), None)
    target = None
    if foreign is not None:
        parts = foreign.target_fullname.split(".")
        target = ".".join(parts[-2:])
    return ERColumn(column.name, _type(column), bool(column.primary_key), target, bool(column.nullable))


def _type(column: Column[Any]) -> str:
    from sqlalchemy.exc import CompileError

    try:
        return str(column.type)
    except CompileError:  # a type that cannot print without its dialect: its class name
        return type(column.type).__name__.upper()


# -- the difference of two ----------------------------------------------------------------------


def er_diff(
    old: MetaData, new: MetaData, pattern: str | None = None, schema: str | None = None
) -> list[ERTable]:
    """The union of both MetaData's tables, marked: in ``new`` only (added), in ``old`` only
    (removed), or with columns added, removed or changed."""
    before = {t.key: t for t in er_tables(old, pattern, schema)}
    after = {t.key: t for t in er_tables(new, pattern, schema)}
    tables = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            tables.append(_all_marked(after[key], ADDED))
        elif key not in after:
            tables.append(_all_marked(before[key], REMOVED))
        else:
            tables.append(_compared(before[key], after[key], old, new))
    return tables


def _all_marked(table: ERTable, mark: str) -> ERTable:
    return replace(table, mark=mark, columns=tuple(replace(c, mark=mark) for c in table.columns))


def _compared(old: ERTable, new: ERTable, old_md: MetaData, new_md: MetaData) -> ERTable:
    old_columns = {c.name: c for c in old.columns}
    old_types = {c.name: c.type for c in old_md.tables[old.key].columns}
    new_types = {c.name: c.type for c in new_md.tables[new.key].columns}
    columns = []
    for column in new.columns:
        before = old_columns.get(column.name)
        if before is None:
            columns.append(replace(column, mark=ADDED))
        elif shape(old_types[column.name]) != shape(new_types[column.name]):
            columns.append(replace(column, mark=CHANGED, detail=f"{before.type} → {column.type}"))
        elif before.nullable != column.nullable:
            nullable = "NULL" if column.nullable else "NOT NULL"
            columns.append(replace(column, mark=CHANGED, detail=f"now {nullable}"))
        else:
            columns.append(column)
    names = {c.name for c in new.columns}
    columns += [replace(c, mark=REMOVED) for c in old.columns if c.name not in names]
    changed = any(c.mark for c in columns)
    return replace(new, columns=tuple(columns), mark=CHANGED if changed else "")
