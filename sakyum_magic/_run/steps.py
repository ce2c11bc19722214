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

from .._core.errors import RevisionError

if TYPE_CHECKING:
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
