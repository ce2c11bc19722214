"""A note in the database while a revision runs where DDL commits at once (MySQL, MariaDB).

There a revision that stops halfway (an error, an interrupt, ``kill -9``) leaves part of its schema
changes behind while the version table still names the revision before it. Before each revision's
first statement a row is written to :data:`MARKER_TABLE` (the revision, who ran it, and the tables and
columns as they were); the first DDL statement commits it. The row is deleted in the revision's own
transaction, with its version update, so it survives exactly when the revision did not finish. The
next run finds it and says what the revision left; ``stamp`` (the way out) deletes it. The table
is dropped again when a run ends with no note in it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .database import MARKER_TABLE, OWN_TABLES
from .partial import Schema, changes, snapshot

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine


@dataclass(frozen=True)
class Marker:
    """A revision that began and did not finish."""

    revision: str
    direction: str
    started: str
    pid: int
    host: str
    before: Schema


def _table() -> Table:
    import sqlalchemy as sa

    return sa.Table(
        MARKER_TABLE,
        sa.MetaData(),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("started", sa.String(40), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("schema_before", sa.Text, nullable=False),
    )


def begin(connection: Connection, revision: str, direction: str, before: Schema) -> None:
    """Note that ``revision`` starts, on the run's own connection (its first DDL commits the note)."""
    table = _table()
    table.create(connection, checkfirst=True)
    schema = {name: sorted(columns) for name, columns in before.items() if name not in OWN_TABLES}
    connection.execute(
        table.insert().values(
            revision=revision,
            direction=direction,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            pid=os.getpid(),
            host=socket.gethostname(),
            schema_before=json.dumps(schema),
        )
    )


def finished(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    """An ``on_version_apply`` hook: the revision is done, in the same transaction as its version row."""
    from sqlalchemy import inspect

    if inspect(ctx.connection).has_table(MARKER_TABLE):
        ctx.connection.execute(_table().delete())


def pending(engine: Engine) -> Marker | None:
    """The revision that began and did not finish, if a note says so."""
    from sqlalchemy import inspect

    from .database import connect

    with connect(engine) as connection:
        if not inspect(connection).has_table(MARKER_TABLE):
            return None
        row = connection.execute(_table().select()).first()
    if row is None:
        return None
    before = {name: frozenset(columns) for name, columns in json.loads(row.schema_before).items()}
    return Marker(row.revision, row.direction, row.started, row.pid, row.host, before)


def left_behind(engine: Engine, marker: Marker) -> tuple[str, ...]:
    """What the unfinished revision changed, compared with the schema noted when it began."""
    from .database import connect

    with connect(engine) as connection:
        now = {name: columns for name, columns in snapshot(connection).items() if name not in OWN_TABLES}
    return changes(marker.before, now)


def tidy(engine: Engine, clear: bool = False) -> None:
    """After a run: drop the notes table when it is empty; with ``clear`` (a stamp, which says where
    the database really is), delete the notes first."""
    from sqlalchemy import inspect

    from .database import connect

    with connect(engine) as connection:
        if not inspect(connection).has_table(MARKER_TABLE):
            return
        table = _table()
        if clear:
            connection.execute(table.delete())
        if connection.execute(table.select()).first() is None:
            table.drop(connection)
        connection.commit()
