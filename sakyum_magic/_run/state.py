"""One run as it goes, and the one result built from it at its end.

A :class:`RunState` is made when a run starts and handed to everything that follows it: the
``configure()`` control (:class:`~sakyum_magic._run.environment.RunControl`, which says which database
the current ``run_migrations()`` call works on and collects Alembic's log lines), the step recorder
(:class:`~sakyum_magic._run.recording.StepRecorder`, which adds each step) and the applied-at log's
hook (:class:`~sakyum_magic._guards.audit.Logger`, which logs the bound database's steps only). When
the run ends, finished, failed or interrupted, :meth:`RunState.result` builds its
:class:`~sakyum_magic._core.records.MigrationResult` once; the result is frozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._core.records import MigrationResult, Step


@dataclass
class RunState:
    """What one upgrade, downgrade or stamp has done so far.

    :param command: ``upgrade``, ``downgrade`` or ``stamp``.
    :param target: the revision asked for, as written.
    :param before: the bound database's heads when the run began (under the lock).
    """

    command: str = ""
    target: str = ""
    before: tuple[str, ...] = ()
    database: str = ""
    """The database the current run_migrations() call works on: '' for the bound one."""
    steps: list[Step] = field(default_factory=list)
    """Every step recorded so far, on any database, in order."""
    heads: tuple[str, ...] = ()
    """The version table's heads after the last recorded step (of the bound database)."""
    log: list[str] = field(default_factory=list)
    """Alembic's log lines (and env.py's stderr) so far."""
    others: list[str] = field(default_factory=list)
    """Masked URLs (or multidb engine names) of other databases env.py configured."""

    def result(
        self,
        after: tuple[str, ...],
        steps: tuple[Step, ...] | None = None,
        *,
        sql: str | None = None,
        left_behind: tuple[str, ...] = (),
        notes: tuple[str, ...] = (),
        stopped: bool = False,
    ) -> MigrationResult:
        """The run's result, with what is known only at its end (``steps``: those recorded, unless
        given: a stopped run leaves out a step its rollback undid)."""
        done = tuple(self.steps) if steps is None else steps
        return MigrationResult(
            self.command,
            self.target,
            self.before,
            after,
            done,
            sql=sql,
            left_behind=left_behind,
            log=tuple(self.log),
            notes=notes,
            stopped=stopped,
        )
