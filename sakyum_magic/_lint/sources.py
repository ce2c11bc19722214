"""The SQL of each revision, kept apart: a linter given the whole chain at once sees every table as
created a moment earlier and finds nothing (squawk's issue 364).

PostgreSQL and MySQL/MariaDB: Alembic's offline mode (``upgrade FROM:TO --sql``), one env.py run,
cut at the ``-- Running upgrade A -> B`` line Alembic writes before each revision's SQL. The version
table's statements and the transaction around each revision are left out; a ``COMMIT``/``BEGIN``
pair inside a revision (``autocommit_block``) is kept, since whether a statement runs in a
transaction matters to the rules. SQLite: offline SQL cannot show batch mode's table copy, so
the statements come from ``plan``'s rolled-back dry run, step by step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

    from .._run.envrun import Target

VERSION_TABLE = "alembic_version"
_MARKER = re.compile(r"^-- Running upgrade (.*?) -> (.+)$")
_TRANSACTION = re.compile(r"^(BEGIN|COMMIT|START TRANSACTION)$", re.I)
_STATEMENT_END = re.compile(r";[ \t]*$", re.M)


@dataclass(frozen=True)
class RevisionSQL:
    """One revision's statements, in the order they run."""

    revision: str
    statements: tuple[str, ...]


def offline(target: Target, script: ScriptDirectory, start: str | None, end: str) -> list[RevisionSQL]:
    """Each revision's statements from ``start`` (None: base) up to ``end``, from one offline run."""
    from .._run.execution import migrate

    span = f"{start}:{end}" if start else end
    result = migrate(target, script, "upgrade", span, sql=True)
    return split(result.sql or "")


def split(text: str) -> list[RevisionSQL]:
    """Cut Alembic's offline output into each revision's statements."""
    revisions: list[tuple[str, list[str]]] = []
    for statement in _statements(text):
        marker = _MARKER.match(statement)
        if marker:
            revisions.append((marker[2].strip(), []))
        elif revisions and VERSION_TABLE not in statement:
            revisions[-1][1].append(statement)
    return [RevisionSQL(revision, _inner(found)) for revision, found in revisions]


def _statements(text: str) -> list[str]:
    """Statements (the ``;`` dropped) and the ``-- Running`` comment lines, in order."""
    found: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        if _MARKER.match(line.strip()) and not pending:
            found.append(line.strip())
            continue
        if not line.strip() and not pending:
            continue
        pending.append(line)
        if _STATEMENT_END.search(line):
            found.append("\n".join(pending).strip().removesuffix(";").strip())
            pending = []
    if pending:
        found.append("\n".join(pending).strip())
    return found


def _inner(statements: list[str]) -> tuple[str, ...]:
    """Without the end of the transaction Alembic wraps each revision in (its BEGIN comes before the
    ``-- Running`` line; after its COMMIT, the next revision's BEGIN); an ``autocommit_block``'s
    COMMIT ... BEGIN inside the revision stays."""
    end = len(statements)
    for word in ("BEGIN", "COMMIT"):
        if end and _TRANSACTION.match(statements[end - 1]) and statements[end - 1].upper().startswith(word):
            end -= 1
    return tuple(statements[:end])


def dry_run(target: Target, script: ScriptDirectory, current: tuple[str, ...], end: str) -> list[RevisionSQL]:
    """Each pending revision's statements as ``plan``'s rolled-back run executes them (SQLite)."""
    from .._features.plan import plan

    planned = plan(target, script, end, current)
    return [
        RevisionSQL(step.revision, tuple(s for s in step.sql if VERSION_TABLE not in s))
        for step in planned.steps
    ]
