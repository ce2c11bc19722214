"""What keeps a scratch run (``%migrate test``) on its scratch database, and what proves it stayed there.

A scratch URL changes only the default database of a connection. Whatever names a database or a
schema of its own still reaches it. On PostgreSQL a schema lives inside one database, so a scratch
database's schemas are its own; on SQLite another database is reached only through ``ATTACH``; on
MySQL/MariaDB a schema *is* a database, so ``version_table_schema``, ``include_schemas``, a
revision's ``schema=`` and any ``db.table`` in its SQL can name the bound database, or another one
on the server. :class:`Fence` is passed down to every ``context.configure()`` and every statement of
the scratch run:

- ``version_table_schema`` naming the bound database is redirected to the scratch database; naming
  another real database (MySQL/MariaDB) is refused, as is ``include_schemas``;
- a statement that names a real database (``db.table``, ``USE db``) or attaches a file (SQLite) is
  refused before it runs.

:func:`watched` then compares the bound database's version rows and table list before and after the
run: a change is an error naming it, never "the bound one was not used".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url, parse_url
from .._core.errors import ScratchError
from .._run import aio
from .._run.database import connect, file_identity, sqlite_file

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

# Databases on a MySQL/MariaDB server no revision writes to and that only describe the server.
VIEWS_ONLY = frozenset({"information_schema", "performance_schema"})
# String literals and comments: a database name inside them is no reference to it.
_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|--[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)
# An identifier (backquoted or bare) followed by a dot: the database or table part of a name.
_QUALIFIER = re.compile(r"(?<![\w$.`])(?:`((?:[^`]|``)+)`|([A-Za-z0-9_$]+))\s*\.")
_USE = re.compile(r"^\s*USE\s+`?([^`\s;]+)`?", re.IGNORECASE)
_ATTACH = re.compile(r"^\s*ATTACH\b", re.IGNORECASE)


SCRATCH_PREFIX = "sakyum_test_"


@dataclass(frozen=True)
class Fence:
    """The databases a scratch run must not name, and its own.

    :param backend: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included).
    :param bound: the bound database's name.
    :param scratch: the scratch database's name.
    :param real: (MySQL/MariaDB) every database on the server that is not a scratch one, lower case.
    """

    backend: str
    bound: str
    scratch: str
    real: frozenset[str] = frozenset()

    def __call__(self, options: dict[str, Any], connection: Any) -> dict[str, Any]:
        """The ``configure()`` options of env.py, kept on the scratch database (refused if they cannot be)."""
        schema = options.get("version_table_schema")
        if self.backend == "mysql":
            if schema is not None and str(schema).lower() == self.bound.lower():
                options["version_table_schema"] = self.scratch
            elif schema is not None and str(schema) != self.scratch:
                raise self.refused(f"version_table_schema={schema!r} names the database {schema!r}", schema)
            if options.get("include_schemas"):
                raise self.refused("include_schemas=True reads every database on the server")
        elif self.backend == "postgresql" and schema:
            _create_schema(connection.engine, str(schema))
        return options

    def statement(self, statement: str) -> None:
        """ScratchError for a statement that would reach a database other than the scratch one."""
        text = _QUOTED.sub(" ", statement)
        if self.backend == "sqlite" and _ATTACH.match(text):
            raise self.refused("a revision attaches another database file (ATTACH)")
        if self.backend != "mysql":
            return
        used = _USE.match(text)
        names = [used.group(1)] if used else []
        names += [(quoted or bare).replace("``", "`") for quoted, bare in _QUALIFIER.findall(text)]
        named = next((name for name in names if name.lower() in self.real), None)
        if named is not None:
            raise self.refused(f"a statement names the database {named!r} ({_short(statement)!r})", named)

    def refused(self, what: str, database: str = "") -> ScratchError:
        """The error for ``what``, which names ``database`` (if any) and will not run."""
        same = " (the bound one)" if database and database.lower() == self.bound.lower() else ""
        where = "on MySQL/MariaDB a schema is a database, so " if self.backend == "mysql" else ""
        return ScratchError(
            f"%migrate test stopped before it reached a real database: {where}{what}{same}, which a "
            "scratch database cannot stand in for; nothing real was changed. Check these revisions on "
            "a database of their own (bind a copy with %migrate config --url URL)"
        )


def fence_for(bound: Engine, scratch: URL) -> Fence:
    """The fence of a scratch run next to ``bound`` (on MySQL/MariaDB, the server's databases are read)."""
    url = bound.url
    backend = "mysql" if url.get_backend_name() in {"mysql", "mariadb"} else url.get_backend_name()
    real = frozenset(_server_databases(bound)) if backend == "mysql" else frozenset()
    return Fence(backend, url.database or "", scratch.database or "", real)


def _server_databases(engine: Engine) -> list[str]:
    def read() -> list[str]:
        with connect(engine) as connection:
            names = [str(n).lower() for n in connection.exec_driver_sql("SHOW DATABASES").scalars()]
            return [n for n in names if n not in VIEWS_ONLY and not n.startswith(SCRATCH_PREFIX)]

    return aio.call(engine, read)


def _create_schema(engine: Engine, schema: str) -> None:
    """A PostgreSQL schema named by ``version_table_schema``, made in the scratch database (the bound
    one has it; Alembic does not create it), on a connection of its own."""

    def create() -> None:
        with connect(engine) as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            quoted = engine.dialect.identifier_preparer.quote_schema(schema)
            autocommit.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")

    aio.call(engine, create)


def guard_statements(engine: Engine, fence: Fence) -> None:
    """Every statement run on the scratch ``engine`` first passes ``fence``."""
    from sqlalchemy import event

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        fence.statement(statement)

    event.listen(engine, "before_cursor_execute", before)


def _short(statement: str, limit: int = 120) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the bound database, before and after ----------------------------------------------------------


@dataclass(frozen=True)
class BoundState:
    """What a scratch run must leave as it was: the bound database's tables and its version rows."""

    tables: frozenset[str]
    versions: dict[str, tuple[str, ...]]
    """Each version table (a table with a ``version_num`` column), with its rows."""

    def changes(self, after: BoundState) -> list[str]:
        """What differs in ``after``, each in a few words."""
        found = []
        for table in sorted(set(self.versions) | set(after.versions)):
            was, now = self.versions.get(table, ()), after.versions.get(table, ())
            if was != now:
                found.append(f"{table} {', '.join(was) or 'empty'} → {', '.join(now) or 'empty'}")
        if added := sorted(after.tables - self.tables):
            found.append(f"tables added: {', '.join(added)}")
        if removed := sorted(self.tables - after.tables):
            found.append(f"tables removed: {', '.join(removed)}")
        return found


@contextmanager
def watched(engine: Engine) -> Iterator[None]:
    """ScratchError when the bound database's version rows or tables change inside the block (also
    when the block raised: the change is what matters, the error it ended with is its context)."""
    before = bound_state(engine)
    try:
        yield
    finally:
        _compare(engine, before)


def _compare(engine: Engine, before: BoundState | None) -> None:
    after = bound_state(engine)
    if before is None or after is None:
        changes = ["the database file was created"] if after is not None else []
    else:
        changes = before.changes(after)
    if changes:
        raise ScratchError(
            f"%migrate test changed the bound database {mask_url(engine.url)}: {'; '.join(changes)}. "
            "env.py or a revision reached it (or another process changed it meanwhile): see %migrate "
            "current and %migrate history -i, and repair it before anything else"
        )


def bound_state(engine: Engine) -> BoundState | None:
    """The bound database's tables and version rows, read only (None: its SQLite file does not exist)."""
    path = sqlite_file(parse_url(engine.url))
    if path is not None and file_identity(path) is None:
        return None

    def read() -> BoundState:
        with connect(engine) as connection:
            tables = _names(connection, _TABLES)
            versions = {_label(n): _rows(connection, n) for n in _names(connection, _VERSION_TABLES)}
            return BoundState(frozenset(map(_label, tables)), versions)

    return aio.call(engine, read)


# Per backend: every table and view (schema, name), and those with Alembic's version_num column.
_NOT_SYSTEM = "table_schema NOT IN ('pg_catalog', 'information_schema')"
_TABLES = {
    "sqlite": "SELECT '', name FROM sqlite_master WHERE type IN ('table', 'view')",
    "postgresql": "SELECT table_schema, table_name FROM information_schema.tables "
    f"WHERE table_catalog = current_database() AND {_NOT_SYSTEM}",
    "mysql": "SELECT '', table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
}
_VERSION_TABLES = {
    "sqlite": "SELECT '', m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c "
    "WHERE m.type = 'table' AND c.name = 'version_num'",
    "postgresql": "SELECT table_schema, table_name FROM information_schema.columns "
    f"WHERE table_catalog = current_database() AND {_NOT_SYSTEM} AND column_name = 'version_num'",
    "mysql": "SELECT '', table_name FROM information_schema.columns "
    "WHERE table_schema = DATABASE() AND column_name = 'version_num'",
}


def _names(connection: Connection, queries: dict[str, str]) -> list[tuple[str, str]]:
    backend = "mysql" if connection.dialect.name in {"mysql", "mariadb"} else connection.dialect.name
    rows = connection.exec_driver_sql(queries[backend]).all()
    return sorted((str(schema), str(name)) for schema, name in rows)


def _label(name: tuple[str, str]) -> str:
    """``table``, or ``schema.table`` outside PostgreSQL's default schema."""
    schema, table = name
    return table if schema in {"", "public"} else f"{schema}.{table}"


def _rows(connection: Connection, name: tuple[str, str]) -> tuple[str, ...]:
    preparer = connection.dialect.identifier_preparer
    quoted = ".".join(preparer.quote(part) for part in name if part)
    found = connection.exec_driver_sql(f"SELECT version_num FROM {quoted}").scalars()
    return tuple(sorted(str(value) for value in found))
