"""Table renames: a dropped and an added table with the same columns are one table renamed.

Autogenerate writes a renamed table as ``drop_table`` + ``create_table``, losing every row. The diff
marks such a pair as a possible rename (the columns match by name, type, nullability and default:
Django's rule), and ``--rename-table OLD:NEW`` turns the pair into ``op.rename_table``, both ways.
The indexes move with the table; on PostgreSQL the sequences, the primary key and the indexes whose
names embed the old table name are renamed too (``people_id_seq`` becomes ``persons_id_seq``), so the
renamed table looks as if it had been created under its new name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .._core.records import Operation
from .._guards.safety import shape

if TYPE_CHECKING:
    from sqlalchemy import Column, Table


@dataclass(frozen=True)
class TableRename:
    """``--rename-table [SCHEMA.]OLD:NEW``: a table autogenerate sees dropped and added is renamed."""

    old: str
    new: str
    schema: str | None = None

    def __str__(self) -> str:
        return f"{self.schema}.{self.old}:{self.new}" if self.schema else f"{self.old}:{self.new}"


_RENAME = re.compile(r"^(?:(?P<schema>\w+)\.)?(?P<old>\w+):(?P<new>\w+)$")


def parse_table_rename(text: str) -> TableRename:
    """Parse ``[SCHEMA.]OLD:NEW``; anything else is a ConfigurationError."""
    match = _RENAME.match(text.strip())
    if not match:
        raise ConfigurationError(
            f"--rename-table {text!r} is not OLD:NEW: write it like --rename-table people:persons"
        )
    return TableRename(match["old"], match["new"], match["schema"])


def parse_table_renames(values: Iterable[str | TableRename]) -> tuple[TableRename, ...]:
    """Parse every ``--rename-table`` value; a table renamed twice is an error too."""
    renames = tuple(v if isinstance(v, TableRename) else parse_table_rename(v) for v in values)
    seen = [(r.schema, r.old) for r in renames]
    if len(set(seen)) != len(seen):
        raise ConfigurationError("--rename-table names the same table twice: give each OLD once")
    return renames


# -- matching columns ---------------------------------------------------------------------------


def column_differences(old: Table, new: Table) -> list[str]:
    """The columns that keep two tables from being one renamed (empty: they match)."""
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    found = [f"{name} only in {old.name}" for name in before.keys() - after.keys()]
    found += [f"{name} only in {new.name}" for name in after.keys() - before.keys()]
    for name in sorted(before.keys() & after.keys()):
        a, b = before[name], after[name]
        if not _same_type(a.type, b.type):
            found.append(f"{name}: {a.type} vs {b.type}")
        elif a.nullable != b.nullable:
            found.append(f"{name}: nullable {a.nullable} vs {b.nullable}")
        elif _default(a) != _default(b):
            found.append(f"{name}: default {_default(a)} vs {_default(b)}")
    return sorted(found)


def _same_type(a: Any, b: Any) -> bool:
    left, right = shape(a), shape(b)
    # MySQL/MariaDB store a Boolean as TINYINT(1) and reflect it as an integer.
    return left == right or {left[0], right[0]} == {"bool", "int"}


def _default(column: Column[Any]) -> str | None:
    """The server default as comparable text; a sequence's nextval (SERIAL) counts as none."""
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    text = str(getattr(arg, "text", arg)).strip()
    if text.lower().startswith("nextval("):
        return None
    text = re.sub(r"::[\w ]+$", "", text).strip("()").strip("'\"")
    return text


# -- the diff: possible renames -----------------------------------------------------------------


def mark_table_renames(rows: list[Operation], diffs: Sequence[tuple[Any, ...]]) -> list[Operation]:
    """Pair each dropped table with an added table of the same schema whose columns match."""
    added = [i for i, d in enumerate(diffs) if d[0] == "add_table"]
    for index, diff in enumerate(diffs):
        if diff[0] != "remove_table":
            continue
        old = diff[1]
        match = next(
            (
                i
                for i in added
                if diffs[i][1].schema == old.schema and not column_differences(old, diffs[i][1])
            ),
            None,
        )
        if match is None:
            continue
        added.remove(match)
        new = diffs[match][1]
        flag = f"--rename-table {TableRename(old.name, new.name, old.schema)}"
        rows[index] = dataclasses.replace(
            rows[index], detail=f"{rows[index].detail}; possible rename to {new.name} ({flag})"
        )
        rows[match] = dataclasses.replace(
            rows[match], detail=f"{rows[match].detail}; possible rename of {old.name}"
        )
    return rows
