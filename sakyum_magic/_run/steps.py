"""The steps a command hands Alembic's ``EnvironmentContext``: what ``alembic.command`` computes.

``alembic.command.upgrade``, ``downgrade`` and ``stamp`` each build a step planner and its starting
and destination revisions before running env.py; the same is done here on the revision map already
loaded (Alembic's commands would import every revision file again through
``ScriptDirectory.from_config``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core import translation
from .._core.errors import RevisionError

if TYPE_CHECKING:
    from pathlib import Path

    from alembic.script import ScriptDirectory


@dataclass(frozen=True)
class Steps:
    """What to hand EnvironmentContext: the step planner and its starting/destination revisions."""

    fn: Callable[[Any, Any], Any]
    options: dict[str, Any]


def step_planner(
    script: ScriptDirectory, name: str, revision: str | Sequence[str], sql: bool, purge: bool = False
) -> Steps:
    """The planner ``alembic.command.upgrade/downgrade/stamp`` hand to EnvironmentContext.

    The same steps as Alembic's commands, on the revision map already loaded (Alembic's commands
    would import every revision file again through ``ScriptDirectory.from_config``).
    """
    if name == "stamp":
        return _stamp_planner(script, revision, sql, purge)
    assert isinstance(revision, str)
    starting_rev, destination = _range(revision, sql, name)
    plan = script._upgrade_revs if name == "upgrade" else script._downgrade_revs
    options = {"starting_rev": starting_rev, "destination_rev": destination}
    return Steps(lambda rev, _context: plan(destination, rev), options)


def _range(revision: str, sql: bool, name: str) -> tuple[str | None, str]:
    from alembic.util import CommandError

    if ":" in revision:
        if not sql:
            raise CommandError("Range revision not allowed")
        if revision.count(":") > 1:  # Alembic's own split(":", 2) fails with a bare ValueError here
            raise CommandError(f"Revision range {revision!r} has more than one colon: use FROM:TO")
        start, destination = revision.split(":", 1)
        return start, destination
    if sql and name == "downgrade":
        raise CommandError("downgrade with --sql requires <fromrev>:<torev>")
    return None, revision


def _stamp_planner(script: ScriptDirectory, revision: str | Sequence[str], sql: bool, purge: bool) -> Steps:
    from alembic.util import CommandError

    revisions = [revision] if isinstance(revision, str) else list(revision)
    if any(r.count(":") > 1 for r in revisions):
        shown = " ".join(revisions)[:80]
        raise RevisionError(f"stamp {shown!r}: a range takes one colon, FROM:TO (with --sql)")
    starts = {r.split(":", 1)[0] for r in revisions if ":" in r}
    if starts and not sql:
        raise CommandError("Range revision not allowed")
    if len(starts) > 1:
        raise CommandError("Stamp operation with --sql only supports a single starting revision at a time")
    destination = tuple(r.split(":", 1)[-1] for r in revisions)
    options = {"starting_rev": next(iter(starts), None), "destination_rev": destination, "purge": purge}
    return Steps(lambda rev, _context: script._stamp_revs(destination, rev), options)


def at_target(target: str, before: tuple[str, ...], script: ScriptDirectory) -> bool:
    """Whether an upgrade to ``target`` has nothing to do (checked against the cached map)."""
    if not before:
        return False
    heads = tuple(sorted(script.get_heads()))
    if target in {"head", "heads"}:
        return before == heads
    return target in before


def pending_revisions(name: str, target: str, before: tuple[str, ...], script: ScriptDirectory) -> list[str]:
    """The revisions a run is expected to apply, in order (for the progress bar and errors)."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    upper, lower = (target, before or "base") if name == "upgrade" else (before or "base", target)
    if name == "stamp":
        return []
    try:
        revisions = [s.revision for s in script.iterate_revisions(upper, lower)]
    except (AlembicRevisionError, CommandError):
        return []
    except AssertionError as exc:  # Alembic's own argument checks; the run reports them
        if not translation.raised_by_alembic(exc):
            raise
        return []
    return revisions[::-1] if name == "upgrade" else revisions


def require_known(heads: tuple[str, ...], script: ScriptDirectory, directory: Path) -> None:
    """The database's revisions must have files here; otherwise say how to get out of it."""
    missing = [rev for rev in heads if not _defined(script, rev)]
    if missing:
        raise RevisionError(
            f"the database is at {', '.join(missing)}, which no file in {directory} defines "
            "(deleted, or from other code?): restore the file, or reset the version table with "
            "%migrate stamp REV --purge (REV = base, head, or the revision the schema really matches)"
        )


def _defined(script: ScriptDirectory, rev: str) -> bool:
    from alembic.script.revision import RevisionError as AlembicRevisionError

    try:
        return script.revision_map.get_revision(rev) is not None
    except AlembicRevisionError:
        return False
