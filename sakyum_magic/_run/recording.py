"""The step table of a run: which revision each step applied, how long it took, and the SQL it ran.

:class:`StepRecorder` is an ``on_version_apply`` hook (added to any env.py's ``configure()`` by
:mod:`sakyum_magic._run.environment`) plus a statement listener on the connections the run uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_text
from .._core.records import Step
from .state import RunState

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass
class StepRecorder:
    """Receives Alembic's ``on_version_apply`` calls and times each step; drives the progress bar.

    :param direction: ``upgrade``, ``downgrade`` or ``stamp``.
    :param total: the number of steps expected (for the progress bar).
    :param progress: show a progress bar.
    :param classify: marks a statement that loses data (``plan``).
    :param state: the run so far: the database the current step runs on is read from it, and each
        step is added to its ``steps`` (and the bound database's heads to its ``heads``).
    """

    direction: str
    total: int | None = None
    progress: bool = False
    classify: Callable[[Any, str], bool] | None = None
    state: RunState = field(default_factory=RunState)
    _last: float = field(default_factory=time.perf_counter)
    _bar: Any = None
    _scope: ExitStack = field(default_factory=ExitStack)
    _sql: list[str] = field(default_factory=list)
    _flags: list[bool] = field(default_factory=list)
    _watched: list[Any] = field(default_factory=list)

    @property
    def in_progress(self) -> tuple[str, ...]:
        """The statements the step in progress has sent so far (after a failure: up to the failing one)."""
        return tuple(self._sql)

    def sent_as(self, original: str, sent: str) -> None:
        """A later listener rewrote ``original`` (``upgrade --online``): the step records what was sent."""
        text = original.strip()
        if sent != original and self._sql and self._sql[-1].startswith(text):
            self._sql[-1] = sent.strip() + self._sql[-1][len(text) :]

    def __enter__(self) -> StepRecorder:
        from .._display.progress import progress

        self._bar = self._scope.enter_context(progress(self.total, self.direction, self.progress))
        self._last = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._scope.close()
        from sqlalchemy import event

        for connection in self._watched:
            event.remove(connection, "before_cursor_execute", self._statement)
        self._watched.clear()

    def watch(self, connection: Connection) -> None:
        """Record the statements that write to the database on ``connection``, step by step."""
        from sqlalchemy import event

        if any(connection is seen for seen in self._watched):
            return
        event.listen(connection, "before_cursor_execute", self._statement)
        self._watched.append(connection)

    def _statement(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        from .._guards.safety import writes

        if not writes(statement) or _on_own_table(statement):
            return
        text = statement.strip()
        if parameters:
            text += f"  -- parameters: {short(repr(parameters), 200)}"
        if self.classify is not None:
            self._flags.append(self.classify(conn, statement))
        self._sql.append(text)

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        now = time.perf_counter()
        direction = self.direction if self.direction == "stamp" else ("up" if step.is_upgrade else "down")
        revision = getattr(step, "up_revision_id", None) or step.up_revision_ids
        script = getattr(step, "up_revision", None)
        message = mask_text(script.doc or "") if script is not None else ""
        seconds = round(now - self._last, 4)
        sql, flags = tuple(self._sql), tuple(self._flags)
        database = self.state.database
        self.state.steps.append(
            Step(_revision_text(revision), message or "", direction, seconds, sql, flags, database)
        )
        if not database:
            self.state.heads = tuple(sorted(heads))
        self._sql.clear()
        self._flags.clear()
        self._last = now
        if self._bar is not None:
            self._bar.update(1)


def _on_own_table(statement: str) -> bool:
    """The package's bookkeeping (the applied-at log, the notes of unfinished revisions, how a
    revision commits) is no step's SQL."""
    from .commits import DEFER_FLUSH
    from .database import OWN_TABLES

    return statement == DEFER_FLUSH or any(table in statement for table in OWN_TABLES)


def _revision_text(revision: Any) -> str:
    if isinstance(revision, tuple | list):
        return ", ".join(revision) if revision else "base"
    return str(revision)


def short(statement: str, limit: int = 160) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(str(statement).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
