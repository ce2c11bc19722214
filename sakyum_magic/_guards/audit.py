"""The applied-at log: when each revision was applied, by whom, how long it took, and whether it failed.

Every upgrade, downgrade and stamp step adds a row to :data:`LOG_TABLE` in the same database, in the
same transaction as its version update (an ``on_version_apply`` hook), so the log and the version
table never disagree; a step that failed is logged after its rollback, on a connection of its own.
The env.py that ``%migrate init`` writes logs the same way when the plain ``alembic`` CLI runs it
(the table and rows are :mod:`sakyum_magic._guards.sakyum_env_support`'s, which init copies beside env.py).
The log is kept only where it was invited (see :func:`sakyum_magic._core.bound.Bound.target`): in a
database whose directory ``%migrate init`` wrote, or where the user turned it on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import sakyum_env_support as support
from .sakyum_env_support import LOG_TABLE

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

    from .._run.state import RunState

TOOL = "sakyum-magic"
MAX_LIMIT = 2**31 - 1
"""More rows than any log holds, and a LIMIT every database takes (SQLite's integers stop at 2**63)."""


@dataclass(frozen=True)
class LogEntry:
    """One logged step."""

    applied_at: str
    revision: str
    from_revision: str
    to_revision: str
    direction: str
    seconds: float | None
    ok: bool
    who: str
    tool: str


def table() -> Table:
    """The log table (created on first use); one Table object, so its statements compile once."""
    return support.log_table()


TURN_OFF = "turn the applied-at log off (%config MigrateMagics.audit = False, or Migrator(audit=False))"


def ensure_table(engine: Engine) -> bool:
    """Create the log table before a run (DDL of its own, outside the revisions' transactions).

    False when the role may not create it (a read-only role): the run goes on without the log, and
    says why it stops if it does. A table of the same name with other columns is refused.
    """
    from sqlalchemy.exc import DBAPIError

    from .._core.refusals import privilege
    from .._run.database import connect

    with connect(engine, autocommit=True) as connection:  # one CREATE TABLE, committed alone
        if _present(connection):
            return True
        try:
            table().create(connection)
        except DBAPIError as exc:
            if not privilege(exc):
                raise
            connection.rollback()
            return False
        connection.commit()
    return True


def _present(connection: Connection) -> bool:
    """Whether the log table exists; ConfigurationError when a table of its name is someone else's."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import NoSuchTableError

    from .._core.refusals import foreign_table

    try:  # one query: the columns, or no such table
        columns = {column["name"] for column in inspect(connection).get_columns(LOG_TABLE)}
    except NoSuchTableError:
        return False
    if not columns:  # SQLAlchemy 1.4 on SQLite: no error, no columns
        return False
    if not set(table().columns.keys()) <= columns:
        raise foreign_table(LOG_TABLE, columns, TURN_OFF)
    return True


def _row(
    revision: str, before: str, after: str, direction: str, seconds: float | None, ok: bool
) -> dict[str, Any]:
    return support.log_row(revision, before, after, direction, seconds, ok, _tool())


def _tool() -> str:
    from .. import __version__

    return f"{TOOL} {__version__}"


class Logger:
    """An ``on_version_apply`` hook adding one row per step, on the step's own connection."""

    def __init__(self, direction: str, state: RunState) -> None:
        self.direction = direction
        self.state = state  # the run so far: its database is "" for the bound one, the only one logged
        self._started = time.perf_counter()
        self._carried = False

    def step_started(self) -> None:
        """Called when a step begins, so that its row says how long it took."""
        self._started = time.perf_counter()

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if self.state.database:
            return
        if self._carried:  # already written with the version update (see carry.py)
            self._carried = False
            return
        # The row as parameters of one cached statement (compiled once per run, not once per row).
        ctx.connection.execute(table().insert(), self._step_row(step))

    def carry(self, step: Any) -> dict[str, Any] | None:
        """The row of ``step`` (a migration step of the bound database), to be written with its
        version update; the hook then writes none."""
        self._carried = True
        return self._step_row(step.info)

    def _step_row(self, step: Any) -> dict[str, Any]:
        direction = self.direction if self.direction == "stamp" else ("up" if step.is_upgrade else "down")
        seconds = round(time.perf_counter() - self._started, 4)
        return support.step_row(step, direction, seconds, _tool())


def log_failure(engine: Engine, revision: str, before: str, direction: str) -> None:
    """Log a step that failed, after its transaction was rolled back."""
    from sqlalchemy.exc import DBAPIError

    from .._core.refusals import privilege
    from .._run.database import connect

    with connect(engine) as connection:
        row = _row(revision, before, before, direction, None, False)
        try:
            connection.execute(table().insert(), row)
        except DBAPIError as exc:  # a role that may not write it: the run's own error says why
            if not privilege(exc):
                raise
            return
        connection.commit()


def entries(connection: Connection, limit: int | None = None) -> list[LogEntry]:
    """The log, newest first (empty when there is none yet; a table of its name with other columns
    is a ConfigurationError naming it)."""
    if not _present(connection):
        return []
    found = table()
    query = found.select().order_by(found.c.id.desc())
    if limit is not None:
        query = query.limit(min(limit, MAX_LIMIT))
    return [
        LogEntry(
            row.applied_at,
            row.revision,
            row.from_revision,
            row.to_revision,
            row.direction,
            row.seconds,
            bool(row.ok),
            row.who,
            row.tool,
        )
        for row in connection.execute(query)
    ]


def applied_at(connection: Connection) -> dict[str, str]:
    """For each revision, when it was last applied upward (from the log; none from a table of its
    name that is someone else's)."""
    from sqlalchemy import inspect, select

    from .._core.errors import ConfigurationError

    if not inspect(connection).has_table(LOG_TABLE):
        return {}
    try:
        _present(connection)
    except ConfigurationError:
        return {}
    found = table()
    query = (
        select(found.c.revision, found.c.applied_at)
        .where(found.c.ok.is_(True), found.c.direction == "up")
        .order_by(found.c.id)
    )
    return {revision: when for revision, when in connection.execute(query)}
