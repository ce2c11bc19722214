"""Where a target stands against the chain: already at a revision, or how it drifted from it.

Both read the cached revision map only (no env.py, no lock); a revision argument Alembic cannot
resolve here is left for the command itself to report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Engine

AT_HEAD, BEHIND, AHEAD = "at head", "behind", "ahead"
OTHER_BRANCH, NO_TABLE, UNKNOWN, EMPTY = "other branch", "no version table", "unknown revision", "at base"
NO_FILE = "no database file"  # a SQLite target whose file does not exist (a read-only command makes none)


def resolved(revision: str, script: ScriptDirectory) -> tuple[str, ...] | None:
    """The revisions ``revision`` names (head, heads, base, an id or prefix); None when it is relative
    (+1, -2, head-1), names a branch, or is unknown here."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    if revision in ("head", "heads"):
        return tuple(sorted(script.get_heads()))
    if revision == "base":
        return ()
    if any(mark in revision for mark in "+-@:"):
        return None
    try:
        found = script.get_revision(revision)
    except (AlembicRevisionError, CommandError):
        return None
    return (found.revision,) if found is not None else None


def already_at(revision: str, before: tuple[str, ...], script: ScriptDirectory) -> bool:
    """Whether a target at ``before`` is at ``revision`` already (so the command has nothing to do)."""
    wanted = resolved(revision, script)
    return wanted is not None and tuple(sorted(before)) == tuple(sorted(wanted))


def drift(engine: Engine, before: tuple[str, ...], script: ScriptDirectory, revision: str | None) -> str:
    """How a target at ``before`` stands against ``revision`` (default the heads): at head, behind N,
    ahead N, other branch, unknown revision (none of these files defines it), no version table."""
    wanted = resolved(revision or "heads", script) or ()
    if not before:
        return EMPTY if _has_version_table(engine) else NO_TABLE
    known = {rev: _ancestors(script, rev) for rev in before}
    if any(ancestors is None for ancestors in known.values()):
        unknown = [rev for rev, ancestors in known.items() if ancestors is None]
        return f"{UNKNOWN} ({', '.join(unknown)})"
    if tuple(sorted(before)) == tuple(sorted(wanted)):
        return AT_HEAD if revision in (None, "head", "heads") else f"at {', '.join(wanted)}"
    below_wanted: set[str] = set().union(*(_ancestors(script, rev) or set() for rev in wanted))
    below_before: set[str] = set().union(*(ancestors or set() for ancestors in known.values()))
    if set(before) <= below_wanted:
        return f"{BEHIND} {len(below_wanted - below_before)}"
    if set(wanted) <= below_before:
        return f"{AHEAD} {len(below_before - below_wanted)}"
    return OTHER_BRANCH


def _ancestors(script: ScriptDirectory, revision: str) -> set[str] | None:
    """``revision`` and every revision below it; None when no file here defines it."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    try:
        return {s.revision for s in script.revision_map.iterate_revisions(revision, "base")}
    except (AlembicRevisionError, CommandError, KeyError):
        return None


def _has_version_table(engine: Engine) -> bool:
    from sqlalchemy import inspect

    from .._run.database import VERSION_TABLE, connect

    with connect(engine) as connection:
        return bool(inspect(connection).has_table(VERSION_TABLE))
