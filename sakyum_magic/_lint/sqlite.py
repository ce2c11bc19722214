"""SQLite: batch mode's table rebuilds (``CREATE TABLE _alembic_tmp_t``, every row copied, the old table
dropped and the new one renamed), named as such, one finding per rebuilt table."""

from __future__ import annotations

import re

from .findings import Hit
from .sources import RevisionSQL

_REBUILD = re.compile(r'^\s*CREATE TABLE\s+"?_alembic_tmp_([^\s"(]+)"?', re.I)


def check(revisions: list[RevisionSQL]) -> list[Hit]:
    """A finding for each table a revision rebuilds."""
    hits = []
    for revision in revisions:
        for index, statement in enumerate(revision.statements):
            rebuilt = _REBUILD.match(statement)
            if rebuilt:
                table = rebuilt[1].lower()
                message = f"batch mode rebuilds {table}: a new table, every row copied, the old one dropped"
                hits.append(Hit(revision.revision, index, statement, table, "sqlite-batch-rebuild", message))
    return hits
