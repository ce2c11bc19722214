"""One target's work, run in a worker process: :func:`run_target` takes a :class:`Task`, returns an Outcome.

A task carries everything a worker needs as plain, picklable values: the target's URL (the only
place its password travels), its schema, the command, and ``open``, the function that binds a
migrator to the target (the core passes its own class, with the binding's settings). The worker
never prints; every failure the core reports becomes a ``failed`` outcome with its one-line error.

Upgrade, downgrade and stamp first read the target's revision with one query: a target already at
the requested revision is skipped without taking its lock or running env.py. ``started`` is the
task's started-marker: a task that finds it already set is a re-run of one whose worker died (Dask
reschedules those silently), so it reports the target lost at the revision it stands at, and does
not run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .._authoring.scripts import ScriptCache
from .._core.binding import parse_url, scrub
from .._core.errors import DatabaseError, SakyumError
from .._run.database import current_heads, require_database_file
from .drift import NO_FILE, already_at, drift
from .readers import version_of
from .records import DONE, FAILED, LOST, SKIPPED, Outcome

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

ACTIONS = ("current", "plan", "upgrade", "downgrade", "stamp", "check", "lint")
"""The fleet commands a worker runs (``lint`` per target: its pending revisions, its table sizes)."""
SKIPPABLE = frozenset({"plan", "upgrade", "downgrade", "stamp"})
"""The commands that have nothing to do on a target at the revision already."""
READ_ONLY = frozenset({"current", "plan", "check", "lint"})
"""The commands that never create a SQLite file just by connecting to it."""
MIGRATING = frozenset({"upgrade", "downgrade", "stamp"})
"""The commands whose tenant schemas share the worker's engine for their database (they run
revisions and reflect nothing: see :mod:`sakyum_magic._run.tenants`)."""

# A worker runs many targets of one chain: their revision map is loaded once per process and reloaded
# only when a revision file changes (the cache is keyed by script location).
_SCRIPTS = ScriptCache()


@dataclass(frozen=True)
class Task:
    """One target's work. ``open(url, schema=...)`` returns a migrator bound to the target."""

    url: str = field(repr=False)
    schema: str | None
    command: str
    revision: str | None
    open: Callable[..., Any] = field(repr=False)
    started: Callable[[], bool] | None = field(default=None, repr=False)
    """The started-marker: True on the task's first start, False when it runs again."""


def run_target(task: Task) -> Outcome:
    """Run ``task`` on its target and say what happened; errors the core reports become ``failed``."""
    began = time.perf_counter()
    if task.started is not None and not task.started():
        return lost_outcome(task, began)
    skipped = _no_file(task) or _skipped(task)
    if skipped is not None:
        return replace(skipped, seconds=round(time.perf_counter() - began, 4))
    migrator = open_migrator(task)
    migrator.scripts = _SCRIPTS
    migrator.shared_engine = task.command in MIGRATING
    waits = LockWait(migrator)
    clean = False
    try:
        outcome = _COMMANDS[task.command](migrator, task.revision)
        clean = True
    except SakyumError as exc:
        error = scrub(str(exc), parse_url(task.url))
        outcome = Outcome(FAILED, error=error, after=_where(migrator.engine(), exc))
    finally:
        # a failed run closes the connections it used (a shared engine's too: nothing it held stays)
        migrator.release() if clean else migrator.dispose()
    return replace(outcome, seconds=round(time.perf_counter() - began, 4), lock_wait=waits.seconds)


def open_migrator(task: Task) -> Any:
    """The migrator of the task's target; a schema also reaches env.py as ``-x tenant=SCHEMA`` (the
    cookbook's recipe), unless the fleet's ``-x`` names a tenant itself."""
    migrator = task.open(task.url, schema=task.schema)
    given = tuple(migrator.x_arguments)
    if task.schema and not any(x.startswith("tenant=") for x in given):
        migrator.x_arguments = (*given, f"tenant={task.schema}")
    return migrator


def lost_outcome(task: Task, began: float) -> Outcome:
    """A target whose worker died while it ran: where it stands now (per-revision transactions leave it
    at a revision boundary), read without migrating."""
    migrator = task.open(task.url, schema=task.schema)
    try:
        at = heads_or_error(migrator.engine())
    finally:
        migrator.dispose()
    return lost(at, time.perf_counter() - began)


def lost(at: tuple[str, ...] | str, seconds: float = 0.0) -> Outcome:
    """The outcome of a target whose worker was lost: "lost: at REV" (or why the revision is unknown)."""
    where = at if isinstance(at, str) else ", ".join(at) or "base"
    after = at if isinstance(at, tuple) else ()
    return Outcome(LOST, after=after, seconds=seconds, error=f"lost: at {where}")


def heads_or_error(engine: Engine) -> tuple[str, ...] | str:
    """The version table's revisions, or the one-line reason they cannot be read."""
    try:
        return current_heads(engine)
    except DatabaseError as exc:
        return f"an unknown revision ({exc})"


class LockWait:
    """Seconds a run waited for the target's migration lock.

    The lock reports a busy lock through ``on_wait``; the wait ends at the next connection the run
    opens, which it does only once it holds the lock (to read the revision under it). The listener is
    on the target's engine, never on a pool a shared engine's views have in common.
    """

    def __init__(self, migrator: Any) -> None:
        from sqlalchemy import event

        self.seconds = 0.0
        self._busy_since: float | None = None
        migrator.on_wait = self._busy
        event.listen(migrator.engine(), "engine_connect", self._checkout)

    def _busy(self, message: str) -> None:
        if self._busy_since is None:
            self._busy_since = time.perf_counter()

    def _checkout(self, *_args: Any) -> None:
        if self._busy_since is not None and not self.seconds:
            self.seconds = round(time.perf_counter() - self._busy_since, 4)


def _where(engine: Engine, exc: SakyumError) -> tuple[str, ...]:
    """Where a failed target stands: from the failed run's result, else read again."""
    result = getattr(exc, "result", None)
    if result is not None and hasattr(result, "after"):
        return tuple(result.after)
    at = heads_or_error(engine)
    return at if isinstance(at, tuple) else ()


def _no_file(task: Task) -> Outcome | None:
    """A read-only command on a SQLite file that does not exist: said, and the file is not created."""
    if task.command not in READ_ONLY:
        return None
    try:
        require_database_file(task.url)
    except DatabaseError as exc:
        if task.command == "current":
            return Outcome(DONE, (), (), drift=NO_FILE)
        return Outcome(FAILED, error=scrub(str(exc), parse_url(task.url)))
    return None


def _skipped(task: Task) -> Outcome | None:
    """A skipped outcome when the target is at the revision already, read the cheap way; else None."""
    if task.command not in SKIPPABLE:
        return None
    before = version_of(task.url, task.schema)
    if before is None:
        return None
    migrator = open_migrator(task)
    migrator.scripts = _SCRIPTS
    if _own_env(migrator) and already_at(task.revision or "head", before, migrator.script_directory()):
        return Outcome(SKIPPED, before, before)
    return None


# -- the commands ------------------------------------------------------------------------------


def _migrate(name: str) -> Callable[[Any, str | None], Outcome]:
    """upgrade, downgrade or stamp; skipped when the target is at the revision already."""

    def migrate(migrator: Any, revision: str | None) -> Outcome:
        wanted = revision or "head"
        before = current_heads(migrator.engine())
        if _own_env(migrator) and already_at(wanted, before, migrator.script_directory()):
            return Outcome(SKIPPED, before, before)
        # lint ran once for the chain, before the rollout (Migrator.fleet), not once per target
        options = {"allow_lint": True} if name == "upgrade" else {}
        result = getattr(migrator, name)(wanted, **options)
        return Outcome(DONE, tuple(result.before), tuple(result.after), len(result.steps))

    return migrate


def _current(migrator: Any, revision: str | None) -> Outcome:
    engine = migrator.engine()
    before = current_heads(engine)
    return Outcome(DONE, before, before, drift=drift(engine, before, migrator.script_directory(), revision))


def _plan(migrator: Any, revision: str | None) -> Outcome:
    wanted = revision or "head"
    before = current_heads(migrator.engine())
    if _own_env(migrator) and already_at(wanted, before, migrator.script_directory()):
        return Outcome(SKIPPED, before, before)
    plan = migrator.plan(wanted)
    return Outcome(DONE, before, before, len(plan.steps), plan=plan)


def _check(migrator: Any, revision: str | None) -> Outcome:
    before = current_heads(migrator.engine())
    migrator.check()
    return Outcome(DONE, before, before)


def _lint(migrator: Any, revision: str | None) -> Outcome:
    """The revisions this target has yet to apply (up to ``revision``, default head), linted with its
    own server version and table sizes: the same revision can be a note on one tenant, an error on
    another."""
    before = current_heads(migrator.engine())
    found = migrator.lint(revision)
    return Outcome(DONE, before, before, len(found.revisions), lint=lint_summary(found), findings=found)


def lint_summary(found: Any) -> str:
    """One line: the findings counted by severity (allowed ones apart), the worst named by rule,
    table and rows, e.g. ``1 warning: require-concurrent-index-creation on t1 (20,000 rows)``."""
    from .._display.render import plural
    from .._lint.findings import SEVERITIES

    if not found.findings:
        return f"clean ({len(found.revisions)} revision(s))"
    shown = [f for f in found.findings if not f.allowed]
    counts = [(s, sum(1 for f in shown if f.severity == s)) for s in SEVERITIES]
    words = [plural(n, s) for s, n in counts if n]
    allowed = len(found.findings) - len(shown)
    words += [f"{allowed} allowed"] if allowed else []
    worst = next((s for s, n in counts if n), None)
    named = [f"{f.rule} on {f.table or 'a statement'}{_rows(f.rows)}" for f in shown if f.severity == worst]
    return ", ".join(words) + (": " + "; ".join(named) if named else "")


def _rows(rows: int | None) -> str:
    return "" if rows is None else f" ({rows:,} rows)"


def _own_env(migrator: Any) -> bool:
    from .._run.envrun import own_env

    return own_env(migrator.directory)


_COMMANDS: dict[str, Callable[[Any, str | None], Outcome]] = {
    "current": _current,
    "plan": _plan,
    "upgrade": _migrate("upgrade"),
    "downgrade": _migrate("downgrade"),
    "stamp": _migrate("stamp"),
    "check": _check,
    "lint": _lint,
}
