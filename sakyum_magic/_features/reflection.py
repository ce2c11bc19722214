"""Reflection kept between comparisons while the database's schema has not changed.

``diff``, ``check`` and ``revision --autogenerate`` compare the models with what SQLAlchemy's
Inspector reads from the database, and between two cells of a notebook the database rarely changes.
So the Inspector's cache (each table's columns, keys, indexes, comments and options, as Alembic's
autogenerate asked for them) is kept per set of comparison options, and used again while one query
finds the schema unchanged:

- SQLite: ``PRAGMA schema_version`` with a digest of the schema table's text (a file replaced by
  another one made by as many statements has the same version, not the same text);
- PostgreSQL: the row count and transaction ids of the catalogs reflection reads (every DDL
  statement writes the catalog rows it changes with its own transaction id);
- MySQL/MariaDB: a digest of information_schema's rows for the schemas compared (its CREATE_TIME and
  UPDATE_TIME do not follow every DDL statement).

Any other dialect reflects every time. A DDL statement committed between the fingerprint and the
reflection is reflected under the older fingerprint, which the next comparison finds changed. The
cache holds only what the database said, per query, so which tables a comparison reads (its filters)
changes how much of it is used, never what a comparison finds.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.migration import MigrationContext
    from alembic.operations.ops import MigrationScript
    from sqlalchemy.engine import Connection, Inspector

# Catalogs whose rows reflection reads (tables, columns, defaults, keys, indexes, types and enum
# labels, comments, sequences, inheritance, ownership of serial sequences).
PG_CATALOGS = (
    *("pg_namespace", "pg_class", "pg_attribute", "pg_attrdef", "pg_constraint", "pg_index"),
    *("pg_type", "pg_enum", "pg_description", "pg_sequence", "pg_inherits", "pg_depend"),
)

PG_SINCE = (10,)  # pg_sequence
MARIADB_SINCE, MYSQL_SINCE = (10, 2, 22), (8, 0, 16)  # information_schema.CHECK_CONSTRAINTS

# information_schema tables and the columns of each that a reflected table depends on.
MYSQL_ROWS = {
    "TABLES": (
        *("TABLE_SCHEMA", "TABLE_NAME", "TABLE_TYPE", "ENGINE", "ROW_FORMAT", "TABLE_COLLATION"),
        *("CREATE_OPTIONS", "TABLE_COMMENT"),
    ),
    "COLUMNS": (
        *("TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT"),
        *("IS_NULLABLE", "COLUMN_TYPE", "COLLATION_NAME", "EXTRA", "COLUMN_COMMENT", "GENERATION_EXPRESSION"),
    ),
    "STATISTICS": (
        *("TABLE_SCHEMA", "TABLE_NAME", "INDEX_NAME", "NON_UNIQUE", "SEQ_IN_INDEX", "COLUMN_NAME"),
        *("SUB_PART", "INDEX_TYPE", "INDEX_COMMENT", "COLLATION"),
    ),
    "KEY_COLUMN_USAGE": (
        *("TABLE_SCHEMA", "TABLE_NAME", "CONSTRAINT_NAME", "COLUMN_NAME", "ORDINAL_POSITION"),
        *("REFERENCED_TABLE_SCHEMA", "REFERENCED_TABLE_NAME", "REFERENCED_COLUMN_NAME"),
    ),
    "REFERENTIAL_CONSTRAINTS": (
        *("CONSTRAINT_SCHEMA", "CONSTRAINT_NAME", "TABLE_NAME", "UPDATE_RULE", "DELETE_RULE"),
    ),
    "CHECK_CONSTRAINTS": ("CONSTRAINT_SCHEMA", "CONSTRAINT_NAME", "CHECK_CLAUSE"),
}
OPTION = "sakyum_reflections"
"""The MigrationContext option through which ``revision --autogenerate`` finds the kept reflection."""
MYSQL_SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")


KEPT_COMPARISONS = 8
"""How many comparisons' results are kept (the latest), each under its models' signature."""


class ReflectionCache:
    """The Inspector caches of earlier comparisons, one per set of options, each with the fingerprint
    of the schema it was read from; and the latest comparisons' results, by options and models."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, tuple[str, dict[Any, Any]]] = {}
        self._scripts: dict[Hashable, tuple[str, MigrationScript]] = {}

    def comparison(
        self, context: MigrationContext, target: Any, options: Hashable, schemas: Sequence[str] | None
    ) -> MigrationScript:
        """Alembic's comparison of ``target`` with the database of ``context``: the one made before
        while neither the schema nor the models (:mod:`.signature`) changed, else made afresh."""
        from .signature import signature

        connection = context.bind
        assert connection is not None
        mark = fingerprint(connection, schemas)
        models = signature(target)
        key = (options, models)
        kept = self._scripts.get(key)
        if mark is not None and models is not None and kept is not None and kept[0] == mark:
            return kept[1]
        script = produce_migrations_through(
            self.inspector(connection, options, schemas, mark), context, target
        )
        if mark is not None and models is not None:
            self._scripts.pop(key, None)
            self._scripts[key] = (mark, script)
            while len(self._scripts) > KEPT_COMPARISONS:
                self._scripts.pop(next(iter(self._scripts)))
        return script

    def inspector(
        self, connection: Connection, options: Hashable, schemas: Sequence[str] | None, mark: Any = ...
    ) -> Inspector:
        """An Inspector on ``connection`` that answers from the kept cache while the schema is the same.

        :param options: what decides which tables are read (schema, --include-schemas, table filter).
        :param schemas: the schemas compared; None: the connection's default one.
        :param mark: the schema's fingerprint, when just taken.
        """
        from sqlalchemy import inspect

        inspector = inspect(connection)
        mark = fingerprint(connection, schemas) if mark is ... else mark
        kept = self._kept.get(options)
        if mark is not None and kept is not None and kept[0] == mark:
            inspector.info_cache = kept[1]
        elif mark is not None:
            self._kept[options] = (mark, inspector.info_cache)
        else:
            self._kept.pop(options, None)
        return inspector

    def __len__(self) -> int:
        return len(self._kept)

    def forget(self) -> None:
        """Reflect and compare afresh next time (after a command that wrote DDL, or on another
        database)."""
        self._kept.clear()
        self._scripts.clear()


def produce_migrations_through(
    inspector: Inspector, context: MigrationContext, metadata: Any
) -> MigrationScript:
    """Alembic's ``produce_migrations``, reading the database through ``inspector``."""
    from alembic.autogenerate import compare
    from alembic.autogenerate.api import AutogenContext
    from alembic.operations import ops

    autogen_context = AutogenContext(context, metadata=metadata)
    # ``inspector`` is a memoized property: a value in the instance's dict is what it returns.
    autogen_context.__dict__["inspector"] = inspector
    script = ops.MigrationScript(
        rev_id=None, upgrade_ops=ops.UpgradeOps([]), downgrade_ops=ops.DowngradeOps([])
    )
    compare._populate_migration_script(autogen_context, script)
    return script


def fingerprint(connection: Connection, schemas: Sequence[str] | None) -> str | None:
    """One query's summary of the schema, equal while no DDL changed it; None for other dialects and
    for servers older than the catalogs it reads (a failed query would abort the transaction)."""
    dialect = connection.dialect
    version = tuple(dialect.server_version_info or ())
    if dialect.name == "sqlite":
        return _sqlite(connection, schemas)
    if dialect.name == "postgresql" and version >= PG_SINCE:
        return _postgres(connection)
    since = MARIADB_SINCE if getattr(dialect, "is_mariadb", False) else MYSQL_SINCE
    if dialect.name in {"mysql", "mariadb"} and version >= since:
        return _mysql(connection, schemas)
    return None


def _sqlite(connection: Connection, schemas: Sequence[str] | None) -> str:
    digest = hashlib.sha256()
    for schema in schemas or ("main",):
        quoted = connection.dialect.identifier_preparer.quote_identifier(schema)
        version = connection.exec_driver_sql(f"PRAGMA {quoted}.schema_version").scalar()
        rows = connection.exec_driver_sql(
            f"SELECT type, name, tbl_name, sql FROM {quoted}.sqlite_master ORDER BY type, name"
        )
        digest.update(f"{schema}\0{version}\0{list(rows)!r}\0".encode())
    return digest.hexdigest()


def _postgres(connection: Connection) -> str:
    # xid has no cast to a number but its text has; the catalogs are per database.
    parts = ", ".join(
        f"(SELECT count(*) || ':' || coalesce(sum(xmin::text::bigint), 0) FROM pg_catalog.{catalog})"
        for catalog in PG_CATALOGS
    )
    return str(connection.exec_driver_sql(f"SELECT concat_ws('|', {parts})").scalar())


def _mysql(connection: Connection, schemas: Sequence[str] | None) -> str:
    from sqlalchemy import bindparam, text

    parts = []
    for table, columns in MYSQL_ROWS.items():
        row = "CONCAT_WS('|', " + ", ".join(f"QUOTE({column})" for column in columns) + ")"
        owner = columns[0]
        where = f"{owner} IN :schemas" if schemas else f"{owner} = DATABASE()"
        # The sum of each row's digest: no order needed, and no limit on GROUP_CONCAT's length.
        digest = f"CAST(CONV(LEFT(MD5({row}), 15), 16, 10) AS UNSIGNED)"
        parts.append(
            f"(SELECT CONCAT(COUNT(*), ':', COALESCE(SUM({digest}), 0)) "
            f"FROM information_schema.{table} WHERE {where})"
        )
    query = text("SELECT CONCAT_WS('|', " + ", ".join(parts) + ")")
    if schemas:
        query = query.bindparams(bindparam("schemas", list(schemas), expanding=True))
    return str(connection.execute(query).scalar())


def compared_schemas(connection: Connection, schema: str | None, include_schemas: bool) -> list[str] | None:
    """The schemas a comparison reads: the named one, every one (--include-schemas), or None for the
    connection's default."""
    if schema is not None:
        return [schema]
    if not include_schemas:
        return None
    from sqlalchemy import inspect

    names = inspect(connection).get_schema_names()
    return [name for name in names if name not in MYSQL_SYSTEM_SCHEMAS]


def reuse_in_autogenerate(migration: MigrationContext, reflections: ReflectionCache) -> None:
    """Let the autogenerate about to run on ``migration`` (``revision --autogenerate``, inside env.py)
    read the database through ``reflections``; with an Alembic older than 1.18 it reflects afresh."""
    if _comparator_registered():
        migration.opts[OPTION] = reflections


@functools.cache
def _comparator_registered() -> bool:
    """Register, once per process, a first-priority comparator that hands autogenerate the kept
    Inspector when the run asked for it (the registry is Alembic's, for plugins, and process-wide)."""
    from alembic import util
    from alembic.autogenerate import comparators

    priority = getattr(util, "DispatchPriority", None)  # Alembic 1.18+: comparators run in priorities
    if priority is None:
        return False
    comparators.dispatch_for("autogenerate", priority=priority.FIRST)(_use_kept_reflection)
    return True


def _use_kept_reflection(autogen_context: Any, upgrade_ops: Any) -> Any:
    from alembic.util import PriorityDispatchResult

    reflections = autogen_context.migration_context.opts.get(OPTION)
    connection = autogen_context.connection
    if isinstance(reflections, ReflectionCache) and connection is not None:
        include_schemas = bool(autogen_context.opts.get("include_schemas", False))
        owners = compared_schemas(connection, None, include_schemas)
        # diff's key for the same schemas: which tables a run reads changes how much is kept, never what.
        inspector = reflections.inspector(connection, (None, include_schemas, ()), owners)
        autogen_context.__dict__["inspector"] = inspector
    return PriorityDispatchResult.CONTINUE
