"""A revision's bookkeeping carried with its version update: fewer round trips per revision (psycopg 3).

Each revision of a run writes, in its own transaction, its version update (Alembic's), its row of the
applied-at log (:mod:`sakyum_magic._guards.audit`) and, on PostgreSQL, the deferral of its commit's flush
(:mod:`sakyum_magic._run.commits`). Sent one by one, that is three round trips where plain Alembic sends
one. Alembic writes the version table with literal values and no parameters, which psycopg 3 sends
with PostgreSQL's simple query protocol, where one message may hold several statements: the
:class:`Carrier` appends the log row and the deferral to that statement, so the server runs all three
in one round trip, in the same transaction and in the same order as before. psycopg 3 keeps the
first statement's result current (its row count, which Alembic checks, and any RETURNING rows).

Only there: psycopg2 reports the last statement's row count, and asyncpg prepares each statement.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .commits import DEFER_FLUSH

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from .._guards.audit import Logger
    from .commits import FlushAtTheEnd


class Carrier:
    """A ``before_cursor_execute`` listener (``retval=True``) on the run's connection.

    :param log: the applied-at log's hook, or None when the log is off.
    :param deferred: the run's flush deferral (zero or one hook).
    """

    def __init__(self, log: Logger | None, deferred: list[FlushAtTheEnd]) -> None:
        self.log, self.deferred = log, deferred
        self.connection: Connection | None = None
        self._step: Any = None
        self._version: re.Pattern[str] | None = None

    def attach(self, connection: Connection) -> None:
        """Carry on ``connection`` if its driver allows it (psycopg 3 on PostgreSQL)."""
        from sqlalchemy import event

        if self.connection is not None or (self.log is None and not self.deferred):
            return
        if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
            self.connection = connection
            event.listen(connection, "before_cursor_execute", self._carry, retval=True)

    def detach(self) -> None:
        from sqlalchemy import event

        if self.connection is not None:
            event.remove(self.connection, "before_cursor_execute", self._carry)
            self.connection = None

    def started(self, step: Any, version_table: str) -> None:
        """A step of the bound database begins: its version write will carry its bookkeeping."""
        if self.connection is not None:
            self._step = step
            name = re.escape(version_table)
            writes = r"\s*(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(?:\w+\.)?\"?"
            self._version = re.compile(rf"{writes}{name}\b", re.I)

    def _carry(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        step, version = self._step, self._version
        if step is None or version is None or executemany or parameters or not version.match(statement):
            return statement, parameters
        self._step = None  # once per step: a merge's further version writes go alone
        carried = []
        if self.log is not None and (row := self.log.carry(step)) is not None:
            carried.append(_literal_insert(conn, row))
        carried += [DEFER_FLUSH for hook in self.deferred if hook.carry()]
        if not carried:
            return statement, parameters
        if parameters is None:  # psycopg then reads no placeholders, and %% stays as written
            carried = [text.replace("%%", "%") for text in carried]
        return "; ".join([statement.rstrip().rstrip(";"), *carried]), parameters


def _literal_insert(conn: Any, row: dict[str, Any]) -> str:
    """The log row as one INSERT with its values written in (escaped by SQLAlchemy's dialect)."""
    from .._guards.audit import table

    statement = table().insert().inline().values(**row)
    return str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
