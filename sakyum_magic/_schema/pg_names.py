"""PostgreSQL names that embed a table's name: its sequences, primary key and other indexes.

``CREATE TABLE people (id SERIAL PRIMARY KEY)`` makes ``people_id_seq`` and ``people_pkey``; a table
renamed to ``persons`` keeps them unless they are renamed too. Renaming a constraint's index renames
the constraint (``ALTER INDEX people_pkey RENAME TO persons_pkey``), and a column default refers to
its sequence by OID, so a renamed sequence stays in use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Renamed:
    """A sequence or index to rename along with its table."""

    kind: str  # SEQUENCE or INDEX
    old: str
    new: str

    def backwards(self) -> Renamed:
        return Renamed(self.kind, self.new, self.old)


_SEQUENCES = """
SELECT DISTINCT s.relname FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE s.relkind = 'S' AND t.relname = :table AND n.nspname = COALESCE(:schema, current_schema())
"""
_INDEXES = """
SELECT indexname FROM pg_indexes
WHERE tablename = :table AND schemaname = COALESCE(:schema, current_schema())
"""


def embedded_names(connection: Any, schema: str | None, old: str, new: str) -> list[Renamed]:
    """What to rename with table ``old`` (none on other databases): names with ``old`` as a word
    between underscores, in which it is replaced by ``new``."""
    if connection is None or connection.dialect.name != "postgresql":
        return []
    from sqlalchemy import text

    found: list[Renamed] = []
    for kind, query in (("SEQUENCE", _SEQUENCES), ("INDEX", _INDEXES)):
        rows = connection.execute(text(query), {"table": old, "schema": schema}).scalars()
        for name in sorted(rows):
            renamed = swap(name, old, new)
            if renamed != name:
                found.append(Renamed(kind, name, renamed))
    return found


def swap(name: str, old: str, new: str) -> str:
    """``name`` with ``old`` replaced by ``new`` where it stands between underscores (or an end)."""
    return re.sub(rf"(?<![^_]){re.escape(old)}(?![^_])", new, name, count=1)


def rename_statement(schema: str | None, renamed: Renamed) -> str:
    """``ALTER SEQUENCE|INDEX [schema.]old RENAME TO new``, names quoted."""
    owner = f"{_quoted(schema)}." if schema else ""
    return f"ALTER {renamed.kind} {owner}{_quoted(renamed.old)} RENAME TO {_quoted(renamed.new)}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
