"""The parts of one online run: its Config, step recorder, schema watch, connection and hooks.

:mod:`sakyum_magic._run.execution` drives a run (lock, env.py, errors); :class:`OnlineRun` is what it
drives with: the hooks env.py's ``configure()`` receives, the guard around each step (a stop request,
the note that a step began, a guarded upgrade's settings), and what is read back after the run or its
failure. A dry run (:class:`Strategy`) is the same run inside a transaction begun before Alembic sees
the connection (:func:`rolled_back`), so Alembic treats it as external and never commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._core.errors import MigrationError
from .._core.records import MigrationResult, Step
from .._guards import audit, markers
from .._guards.locking import alembic_context
from . import interrupts
from .carry import Carrier
from .commits import FlushAtTheEnd, deferred_flush
from .database import (
    LOG_TABLE,
    WRITER_OPTION,
    connect,
    current_heads,
    is_transactional_sqlite,
    sqlite_pragmas,
)
from .environment import RunControl, kept_logging, refuse_commit
from .envrun import Target
from .partial import SchemaWatch
from .recording import StepRecorder
from .state import RunState
from .steps import Steps

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Strategy:
    """How to run: for real, or as a dry run rolled back at the end, with statements classified."""

    dry_run: bool = False
    classify: Callable[[Any, str], bool] | None = None
    settings: tuple[str, ...] = ()
    """Statements run first in each revision's transaction (a guarded upgrade's timeouts)."""
    rewrite: Callable[[str], str] | None = None
    """Applied to each statement a revision runs (``upgrade --online`` adds ``LOCK=NONE``)."""
    on_lock: Callable[[BaseException], bool] | None = None
    """Whether a failure is a lock not granted in time (a revision that sent nothing else can rerun)."""


class OnlineRun:
    """The parts of one online run: its Config, step recorder, schema watch and connection.

    ``state`` is the run so far, shared with every hook; :meth:`finish` builds the run's result from it.
    """

    def __init__(self, target: Target, state: RunState, strategy: Strategy, total: int) -> None:
        self.target, self.state, self.strategy = target, state, strategy
        self.name = name = state.command
        self.total = total  # the steps the run expects (0: not known)
        self.recorder = StepRecorder(name, total or None, target.progress, strategy.classify, state)
        self.watch = SchemaWatch(target.engine)
        self.watch.active &= target.own_tables  # its notes are a table in the database
        self.config = target.config()
        self.log = audit.Logger(name, state) if target.audit and not strategy.dry_run else None
        self.deferred: list[FlushAtTheEnd] = []  # see commits.py
        commits = name != "stamp" and not strategy.dry_run
        self.carrier = Carrier(self.log, self.deferred, self.watch, commits)
        self._planned: list[str] = []  # the revisions the current run_migrations() call will apply
        self._mark = 0  # steps recorded before that call
        self.server_thread: interrupts.ServerThread | None = None  # MySQL/MariaDB
        self.log_skipped = False  # the role may not create the applied-at log's table

    def planning(self, steps: Steps) -> Steps:
        """``steps`` whose planner also remembers what each run_migrations() call is about to apply."""

        def plan(rev: Any, context: Any) -> Any:
            planned = list(steps.fn(rev, context))
            self._planned = [_revision_of(step) for step in planned]
            self._mark = len(self.state.steps)
            for step in planned:
                step.migration_fn = self._guarded(step)
            return planned

        return Steps(plan, steps.options)

    def _guarded(self, step: Any) -> Callable[..., Any]:
        """The step's function, first honouring a stop request (at its start, inside its transaction,
        nothing done) and, where DDL commits at once, noting in the database that the step began."""
        migration_fn = step.migration_fn

        @functools.wraps(migration_fn)  # Alembic logs "Running upgrade ..." from the function's name
        def guarded(**kw: Any) -> Any:
            from alembic import op

            interrupts.check()
            if self.log is not None:
                self.log.step_started()
            if self.watch.active and not self.state.database:
                self.watch.started(_revision_of(step), "up" if step.is_upgrade else "down")
            if self.strategy.settings or self.strategy.rewrite:
                self._prepare()
            self.carrier.forget()  # the revision's own statements carry nothing
            done = migration_fn(**kw)
            if not self.state.database:  # what follows in the step is its version write
                self.carrier.started(step, op.get_context())
            return done

        return guarded

    def _prepare(self) -> None:
        """A guarded run: its settings in the revision's transaction, its statements rewritten."""
        from alembic import op
        from sqlalchemy import event

        bind = op.get_bind()
        for statement in self.strategy.settings:
            bind.exec_driver_sql(statement)
        rewrite = self.strategy.rewrite
        if rewrite is not None and not event.contains(bind, "before_cursor_execute", self._rewritten):
            event.listen(bind, "before_cursor_execute", self._rewritten, retval=True)

    def _rewritten(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        assert self.strategy.rewrite is not None
        sent = self.strategy.rewrite(statement)
        self.recorder.sent_as(statement, sent)  # the recorder's listener came first and saw the original
        return sent, parameters

    def ready_log(self) -> None:
        """Create the applied-at log's table; for a role that may not, no log this run (a note says
        so; if the role may not write the rest either, the run's privilege error says why it stops)."""
        if self.log is not None and not audit.ensure_table(self.target.engine):
            self.log, self.carrier.log, self.log_skipped = None, None, True

    def check_unfinished(self) -> None:
        """Refuse to run on top of a revision an earlier run left half done (DDL that commits at once)."""
        if not self.watch.active:
            return
        self.watch.table_ready, marker = markers.read(self.target.engine)
        if marker is None:
            return
        if self.name == "stamp":
            return
        left = ", ".join(markers.left_behind(self.target.engine, marker)) or "no table or column change"
        raise MigrationError(
            f"revision {marker.revision} did not finish ({marker.direction}grade begun {marker.started} by "
            f"process {marker.pid} on {marker.host}) and left: {left}. This database commits DDL at once: "
            f"undo that by hand and run %migrate stamp REV with the revision the schema matches (which "
            f"clears this note), or, if the revision did complete, %migrate stamp {marker.revision}"
        )

    def stop(self, exc: BaseException | None = None) -> MigrationResult:
        """After a failed step: what was applied, what the failed step left, and its line in the log.
        ``undone``: nothing of the failed step is left (rolled back, or a lock timeout on its first
        statement where DDL commits at once, whose note is then cleared)."""
        result = self.finish(stopped=True)
        undone = not self.watch.active
        if exc is not None and self.strategy.on_lock is not None and self.strategy.on_lock(exc):
            sent = [s for s in self.recorder.in_progress if s not in self.strategy.settings]
            unchanged = sorted(result.after) == sorted(self.state.heads or result.before)
            if self.watch.forget_untouched(self.target.engine, len(sent), unchanged):
                undone = True
                result = replace(result, left_behind=self.watch.left_behind(self.target.engine))
        result = replace(result, undone=undone)
        self.log_failure(result)
        return result

    def cli_before(
        self, control: RunControl, connection: Connection, result: MigrationResult
    ) -> tuple[str, ...] | None:
        """Where the ``alembic`` CLI would have left the database after this failure, when that differs:
        with transactional DDL and no ``transaction_per_migration`` from env.py, it runs every revision
        in one transaction and rolls them all back; here each revision commits on its own."""
        if self.strategy.dry_run or self.name == "stamp" or result.before == result.after:
            return None
        if any(step.database for step in result.steps) or control.asked.get("transaction_per_migration"):
            return None
        from alembic.ddl.impl import DefaultImpl

        default = DefaultImpl.get_by_dialect(connection.dialect).transactional_ddl
        return result.before if control.asked.get("transactional_ddl", default) else None

    def log_failure(self, result: MigrationResult) -> None:
        """Log the step that failed, after its rollback (another database's steps are not logged here)."""
        failing = self.failing()
        if self.log is not None and failing is not None and not self.state.database:
            direction = "stamp" if self.name == "stamp" else self.name.removesuffix("grade")
            audit.log_failure(self.target.engine, failing, ", ".join(result.after) or "base", direction)

    def failing(self) -> str | None:
        """The revision the failed call was applying: the first planned one not yet recorded."""
        done = {step.revision for step in self.state.steps[self._mark :]}
        failing = next((rev for rev in self._planned if rev not in done), None)
        database = self.state.database
        return f"{failing} (on {database})" if failing and database else failing

    @contextmanager
    def connected(self) -> Iterator[Connection]:
        """The bound database's connection, handed to env.py through ``Config.attributes``."""
        attributes = self.config.attributes
        attributes["target_metadata"] = self.target.metadata
        attributes["sakyum_url"] = self.target.url
        # env.py drives Alembic's module-level context: one thread at a time in this process.
        with (
            alembic_context(),
            kept_logging(),
            connect(self.target.engine) as connection,
            sqlite_pragmas(connection, self.strategy.settings),
        ):
            attributes["connection"] = connection.execution_options(**{WRITER_OPTION: True})
            self.server_thread = interrupts.server_thread(connection)
            interrupts.check_client(connection)
            self.watch.attach(attributes["connection"])
            try:
                yield attributes["connection"]
            finally:
                self.watch.detach()
                self.carrier.detach()

    def rolled_back_if_dry(self, connection: Connection) -> AbstractContextManager[Any]:
        return rolled_back(connection) if self.strategy.dry_run else nullcontext()

    def control(self, connection: Connection) -> RunControl:
        # One transaction per revision whatever env.py asked for: a failure leaves the database at the
        # last good revision, and a run commits even when env.py never calls begin_transaction().
        # A stamp is one transaction, so that a failure also undoes --purge.
        options: dict[str, Any] = {"transaction_per_migration": self.name != "stamp"}
        if is_transactional_sqlite(self.target.engine):
            options["transactional_ddl"] = True
        hooks: list[Callable[..., None]] = [self.recorder]
        hooks += [self.watch] if self.watch.active else []
        hooks += [self.log] if self.log is not None else []
        total, dry_run = self.recorder.total or 0, self.strategy.dry_run
        self.deferred[:] = deferred_flush(connection, self.name, total, dry_run)
        hooks += self.deferred
        self.carrier.hooks = hooks

        def watch(configured: Connection) -> None:
            self.recorder.watch(configured)
            if configured is connection:  # after the recorder, which sees each statement as Alembic sent it
                self.carrier.attach(configured)

        return RunControl(
            connection,
            self.target.url,
            options,
            hooks,
            dry_run=self.strategy.dry_run,
            watch=watch,
            state=self.state,
            one_transaction=self.name == "stamp",
            fence=self.target.fence,
        )

    def finish(self, stopped: bool = False) -> MigrationResult:
        """The run's one result, built at its end (``stopped``: by a failure or an interrupt)."""
        for deferred in self.deferred if stopped else ():
            deferred.flush(self.target.engine)
        # A dry run's changes are still open on the run's connection: the database is where it was.
        after = self.state.before if self.strategy.dry_run else self._heads_after(stopped)
        if stopped:
            self._record_carried_commit(after)
        steps = tuple(self.state.steps)
        if stopped and steps and not _committed(steps[-1], after):
            # Recorded inside its transaction, which the failure or interrupt then rolled back: it is
            # the one that failed (see failing()), not one applied.
            steps = steps[:-1]
            del self.state.steps[len(steps) :]
        left_behind = self.watch.left_behind(self.target.engine) if stopped else ()
        return self.state.result(after, steps, left_behind=left_behind, notes=self._notes(), stopped=stopped)

    def _heads_after(self, stopped: bool) -> tuple[str, ...]:
        """The bound database's heads after the run: those its last step left when that step's COMMIT
        went with its version update (so the version table holds them, committed), else read again."""
        last = self.state.steps[-1] if self.state.steps and not self.state.others else None
        committing = self.carrier.committing
        carried = last is not None and committing is not None and last.revision == _revision_of(committing)
        if not stopped and carried and last is not None and not last.database:
            return self.state.heads
        return current_heads(self.target.engine)

    def _record_carried_commit(self, after: tuple[str, ...]) -> None:
        """A step whose COMMIT went with its version update (see carry.py) and whose hooks never ran,
        stopped while its reply was awaited, is recorded now; whether it committed is then decided as
        for any step recorded last."""
        step = self.carrier.committing
        if step is None or (self.state.steps and self.state.steps[-1].revision == _revision_of(step)):
            return
        self.recorder(ctx=None, step=step.info, heads=set(after), run_args=None)

    def _notes(self) -> tuple[str, ...]:
        notes = tuple(
            f"env.py also migrated {other}, which is not the bound database (its steps name it)"
            for other in self.state.others
        )
        if self.log_skipped:
            role = repr(self.target.url.username) if self.target.url.username else "this role"
            notes += (
                f"The applied-at log was not written: {role} may not create its table {LOG_TABLE} "
                "here; grant it CREATE on the schema, or turn the log off "
                "(%config MigrateMagics.audit = False).",
            )
        return notes


def _committed(step: Step, after: tuple[str, ...]) -> bool:
    """Whether the version table shows ``step`` done: an upgrade's revision is there, a downgrade's gone."""
    if step.direction == "stamp" or step.database:
        return True  # a stamp is one transaction; another database's version table is not read here
    return (step.revision in after) == (step.direction == "up")


def _revision_of(step: Any) -> str:
    """The revision id a planned step applies (a RevisionStep's script; a stamp's target)."""
    script = getattr(step, "revision", None)
    if script is not None:
        return str(script.revision)
    return ", ".join(getattr(step, "to_revisions", ())) or "base"


@contextmanager
def rolled_back(connection: Connection) -> Iterator[None]:
    """One transaction around everything run on ``connection``; rolled back, and no COMMIT allowed."""
    from sqlalchemy import event

    transaction = connection.begin()
    event.listen(connection, "commit", refuse_commit)
    try:
        yield
    finally:
        event.remove(connection, "commit", refuse_commit)
        if transaction.is_active:
            transaction.rollback()
