"""What only the live database knows: its server version, how many rows each table holds, and
(PostgreSQL) how volatile a function is. Each read with one query, on a connection of its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine


@dataclass(frozen=True)
class Live:
    """The server's version and the tables' row counts (estimates on PostgreSQL and MySQL)."""

    dialect: str
    version: tuple[int, ...]
    mariadb: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    column_types: dict[tuple[str, str], str] = field(default_factory=dict)  # MySQL: COLUMN_TYPE

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def rows_of(self, table: str | None) -> int | None:
        return None if table is None else self.rows.get(table.lower())


def read(engine: Engine, exists: bool) -> Live:
    """The live facts, or only the dialect and version when there is no database file yet."""
    from .._run.aio import call

    if not exists:
        return Live(engine.dialect.name, ())
    return call(engine, lambda: _read(engine))


def _read(engine: Engine) -> Live:
    from .._run.database import connect

    dialect = engine.dialect.name
    with connect(engine, autocommit=True) as connection:
        version = tuple(p for p in engine.dialect.server_version_info or () if isinstance(p, int))
        mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
        reader = {"postgresql": _postgres, "mysql": _mysql, "sqlite": _sqlite}.get(dialect)
        rows, types = reader(connection) if reader else ({}, {})
    return Live(dialect, version, mariadb, rows, types)


def _postgres(connection: Connection) -> tuple[dict[str, int], dict[tuple[str, str], str]]:
    """``pg_class.reltuples`` of the tables on the search path; a table never analysed (-1) falls back
    to the statistics collector's ``n_live_tup``."""
    from sqlalchemy import text

    found = connection.execute(
        text(
            "SELECT c.relname, c.reltuples, coalesce(s.n_live_tup, 0) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid)"
        )
    )
    return {str(name).lower(): int(tuples if tuples >= 0 else live) for name, tuples, live in found}, {}


def _mysql(connection: Connection) -> tuple[dict[str, int], dict[tuple[str, str], str]]:
    from sqlalchemy import text

    where = "TABLE_SCHEMA = DATABASE()"
    rows = connection.execute(
        text(f"SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE {where}")
    )
    counts = {str(name).lower(): int(count or 0) for name, count in rows}
    columns = connection.execute(
        text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
            f"WHERE {where}"
        )
    )
    types = {
        (str(t).lower(), str(c).lower()): f"{kind} {'NULL' if nullable == 'YES' else 'NOT_NULL'}"
        for t, c, kind, nullable in columns
    }
    return counts, types


def _sqlite(connection: Connection) -> tuple[dict[str, int], dict[tuple[str, str], str]]:
    """Exact counts: SQLite keeps no estimate."""
    from sqlalchemy import text

    names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
    counts = {}
    for name in names:
        quoted = '"' + str(name).replace('"', '""') + '"'
        counts[str(name).lower()] = int(
            connection.execute(text(f"SELECT count(*) FROM {quoted}")).scalar() or 0
        )
    return counts, {}


def volatility(engine: Engine, functions: Iterable[str]) -> dict[str, str]:
    """Each of ``functions`` (lower-case names) the server has, with its ``pg_proc.provolatile``: ``v``
    volatile, ``s`` stable, ``i`` immutable (an overloaded name: the most volatile of its forms)."""
    from sqlalchemy import bindparam, text

    from .._run.aio import call
    from .._run.database import connect

    names = sorted(set(functions))
    if not names:
        return {}
    query = text(
        "SELECT lower(proname), max(CASE provolatile WHEN 'v' THEN 'v' WHEN 's' THEN 's' ELSE 'i' END) "
        "FROM pg_proc WHERE lower(proname) IN :n GROUP BY lower(proname)"
    )

    def read() -> dict[str, str]:
        with connect(engine, autocommit=True) as connection:
            found: Any = connection.execute(query.bindparams(bindparam("n", expanding=True)), {"n": names})
            return {str(name): str(kind) for name, kind in found}

    return call(engine, read)
