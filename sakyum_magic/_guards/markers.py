"""A note in the database while a revision runs where DDL commits at once (MySQL, MariaDB).

There a revision that stops halfway (an error, an interrupt, ``kill -9``) leaves part of its schema
changes behind while the version table still names the revision before it. Just before a revision's
first DDL statement, and before each later one naming a table not noted yet, a row is written to
:data:`MARKER_TABLE`: the revision, who ran it, and the tables that statement names with their
columns as they are (read by the same statement on MySQL and MariaDB: one round trip). The DDL
statement commits the row. The rows are deleted in the revision's own transaction, with its version
update, so they survive exactly when the revision did not finish. The next run finds them and says
what the revision left; ``stamp`` (the way out) deletes them. The table is dropped again when a run
ends with no note in it.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from .._run.database import MARKER_TABLE

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine


Schema = dict[str, frozenset[str]]
"""Tables and their columns."""

CLEAR = f"DELETE FROM {MARKER_TABLE}"
"""What :func:`clear` sends: every note goes (a run begins only where none is left)."""


@dataclass(frozen=True)
class Marker:
    """A revision that began and did not finish."""

    revision: str
    direction: str
    started: str
    pid: int
    host: str
    before: Schema
    """The noted tables that existed before the revision touched them, with their columns."""
    tables: tuple[str, ...] | None = None
    """The tables the revision touched (None: a note naming every table, from an earlier version)."""


@cache
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


def create(connection: Connection) -> None:
    """Create the notes table (once per run, before the first note; its DDL commits at once)."""
    if connection.dialect.name != "mysql":
        _table().create(connection, checkfirst=True)
        return
    from sqlalchemy.schema import CreateTable

    ddl = str(CreateTable(_table()).compile(dialect=connection.dialect))
    connection.exec_driver_sql(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))


def drop(engine: Engine) -> None:
    """After a run that created the table and finished every revision it noted: drop it (empty)."""
    from .._run.database import connect

    with connect(engine) as connection:
        _table().drop(connection, checkfirst=True)
        connection.commit()


def note(connection: Connection, revision: str, direction: str, tables: tuple[str, ...]) -> None:
    """Note that ``revision`` runs and is about to change ``tables`` (on the run's own connection,
    just before a DDL statement, which commits the note)."""
    import sqlalchemy as sa

    row: dict[str, Any] = {
        "revision": revision,
        "direction": direction,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "host": _host(),
    }
    prefix = '{"touched": ' + json.dumps(sorted(tables)) + ', "columns": '
    if tables and _aggregates_json(connection):
        columns = (
            "(SELECT JSON_ARRAYAGG(JSON_ARRAY(TABLE_NAME, COLUMN_NAME)) FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :names)"
        )
        statement = sa.text(
            f"INSERT INTO {MARKER_TABLE} (revision, direction, started, pid, host, schema_before) "
            f"VALUES (:revision, :direction, :started, :pid, :host, "
            f"CONCAT(:prefix, COALESCE({columns}, '[]'), '}}'))"
        ).bindparams(sa.bindparam("names", expanding=True))
        connection.execute(statement, {**row, "prefix": prefix, "names": list(tables)})
        return
    found = columns_of(connection, tables)
    pairs = [[table, column] for table in sorted(found) for column in sorted(found[table])]
    connection.execute(_table().insert(), {**row, "schema_before": prefix + json.dumps(pairs) + "}"})


@cache
def _host() -> str:
    return socket.gethostname()


def _aggregates_json(connection: Connection) -> bool:
    """Whether the server has JSON_ARRAYAGG (MariaDB 10.5, MySQL 5.7.22), so a note reads the columns
    in the statement that writes it."""
    dialect = connection.dialect
    version = tuple(dialect.server_version_info or ())
    if dialect.name != "mysql":
        return False
    return version >= ((10, 5) if getattr(dialect, "is_mariadb", False) else (5, 7, 22))


def clear(connection: Connection) -> None:
    """The revision is done: delete its notes, in the same transaction as its version row."""
    connection.exec_driver_sql(CLEAR)


def pending(engine: Engine) -> Marker | None:
    """The revision that began and did not finish, if a note says so."""
    return read(engine)[1]


def read(engine: Engine) -> tuple[bool, Marker | None]:
    """Whether the notes table exists, and the unfinished revision its notes name."""
    from sqlalchemy import inspect

    from .._run.database import connect

    with connect(engine) as connection:
        if not inspect(connection).has_table(MARKER_TABLE):
            return False, None
        rows = connection.execute(_table().select()).all()
    if not rows:
        return True, None
    first = rows[0]
    before: dict[str, frozenset[str]] = {}
    touched: list[str] | None = []
    for row in rows:
        found = json.loads(row.schema_before)
        if set(found) == {"touched", "columns"} and touched is not None:
            touched += found["touched"]
            for table, column in found["columns"]:
                before[table] = before.get(table, frozenset()) | {column}
        else:  # a note naming every table with its columns
            touched = None
            before = {name: frozenset(columns) for name, columns in found.items()}
    tables = None if touched is None else tuple(dict.fromkeys(touched))
    return True, Marker(first.revision, first.direction, first.started, first.pid, first.host, before, tables)


def left_behind(engine: Engine, marker: Marker) -> tuple[str, ...]:
    """What the unfinished revision changed, compared with the tables as noted when it touched them."""
    from .._run.database import connect

    with connect(engine) as connection:
        now = columns_of(connection, marker.tables)
    return changes(marker.before, now)


def tidy(engine: Engine, clear: bool = False) -> None:
    """After a run: drop the notes table when it is empty; with ``clear`` (a stamp, which says where
    the database really is), delete the notes first."""
    from sqlalchemy import inspect

    from .._run.database import connect

    with connect(engine) as connection:
        if not inspect(connection).has_table(MARKER_TABLE):
            return
        table = _table()
        if clear:
            connection.execute(table.delete())
        if connection.execute(table.select()).first() is None:
            table.drop(connection)
        connection.commit()


def columns_of(connection: Connection, tables: tuple[str, ...] | None) -> Schema:
    """The columns of the named tables that exist (every table of the default schema for None), the
    version table and the package's own left out."""
    from .._run.database import OWN_TABLES, VERSION_TABLE

    if tables is None:
        from .._core.compat import column_names

        found = {table: frozenset(names) for table, names in column_names(connection).items()}
    elif not tables:
        found = {}
    elif connection.dialect.name == "mysql":
        found = _mysql_columns(connection, tables)
    else:
        found = _reflected_columns(connection, tables)
    return {t: c for t, c in found.items() if t != VERSION_TABLE and t not in OWN_TABLES}


def _mysql_columns(connection: Connection, tables: tuple[str, ...]) -> Schema:
    import sqlalchemy as sa

    query = sa.text(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    found: dict[str, set[str]] = {}
    for table, column in connection.execute(query, {"names": list(tables)}):
        found.setdefault(str(table), set()).add(str(column))
    return {table: frozenset(columns) for table, columns in found.items()}


def _reflected_columns(connection: Connection, tables: tuple[str, ...]) -> Schema:
    from sqlalchemy import inspect

    inspector = inspect(connection)
    return {
        table: frozenset(c["name"] for c in inspector.get_columns(table))
        for table in tables
        if inspector.has_table(table)
    }


def changes(before: Schema, after: Schema) -> tuple[str, ...]:
    """Phrases such as ``created table t3`` or ``added column users.email``, in a stable order."""
    found = [f"created table {t}" for t in sorted(after.keys() - before.keys())]
    found += [f"dropped table {t}" for t in sorted(before.keys() - after.keys())]
    for table in sorted(before.keys() & after.keys()):
        found += [f"added column {table}.{c}" for c in sorted(after[table] - before[table])]
        found += [f"dropped column {table}.{c}" for c in sorted(before[table] - after[table])]
    return tuple(found)
