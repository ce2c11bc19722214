"""Baselines: adopting a database that has tables but no version table.

A database made by hand, by ``create_all()`` or by another tool has tables and no ``alembic_version``:
upgrading it would create what is already there, and autogenerate refuses it. What it needs is
``%migrate stamp REV`` for the revision whose schema it already has. That revision is found by
building the revisions one by one on a scratch database (:mod:`..scratch`: the bound database is only
read) and comparing the bound database with the scratch one after each, with autogenerate's own
comparison; the newest match wins. When no revision matches but the models do, the hint is
``stamp head``. Only the env.py ``%migrate init`` writes is known to keep its versions in
``alembic_version``; with another env.py nothing is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError, SakyumError
from .._run.database import OWN_TABLES, VERSION_TABLE, connect

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Engine

    from .._core.migrator import Migrator
    from .._features.reflection import ReflectionCache

SKIPPED = frozenset({VERSION_TABLE, *OWN_TABLES})


@dataclass(frozen=True)
class Baseline:
    """A database with tables and no version table, and what to stamp it with (None: unknown)."""

    tables: tuple[str, ...]
    revision: str | None
    line: str


def unversioned_tables(engine: Engine) -> tuple[str, ...]:
    """The database's tables when it has no version table (empty when it has one, or no tables)."""
    from sqlalchemy import inspect

    with connect(engine, autocommit=True) as connection:
        inspector = inspect(connection)
        if inspector.has_table(VERSION_TABLE):  # one query, however many tables the database holds
            return ()
        names = set(inspector.get_table_names())
    return tuple(sorted(names - SKIPPED - {VERSION_TABLE}))


def table_names(engine: Engine) -> tuple[str, ...]:
    """The database's tables, without the version table and the package's own."""
    from sqlalchemy import inspect

    with connect(engine, autocommit=True) as connection:
        return tuple(sorted(set(inspect(connection).get_table_names()) - SKIPPED))


def baseline(migrator: Migrator, models_match: bool | None = None) -> Baseline | None:
    """The one-line hint for an unversioned database with tables, or None when it is not one.

    :param models_match: whether the models match the database, when a comparison just found it.
    """
    from .._run.envrun import own_env

    if (migrator.directory / "env.py").exists() and not own_env(migrator.directory):
        return None  # another env.py may keep its versions in a table of another name
    tables = unversioned_tables(migrator.engine())
    if not tables:
        return None
    where = f"{migrator.masked_url()} has {len(tables)} table(s) ({_listed(tables)})"
    where += f" but no {VERSION_TABLE} table"
    revision = matching_revision(migrator)
    if revision is not None:
        return Baseline(
            tables,
            revision,
            f"{where}: its schema is that of revision {revision}; run %migrate stamp {revision} to adopt it",
        )
    if _models_match(migrator) if models_match is None else models_match:
        first = "" if _has_revisions(migrator) else "write a first revision with no operations, then "
        line = f"{where}: it matches the models; {first}run %migrate stamp head to adopt it"
        return Baseline(tables, "head", line)
    return Baseline(
        tables,
        None,
        f"{where}, and no revision's schema matches it: %migrate diff shows how it differs from the models",
    )


def _listed(tables: tuple[str, ...]) -> str:
    return ", ".join(tables[:5]) + (f", and {len(tables) - 5} more" if len(tables) > 5 else "")


def matching_revision(migrator: Migrator) -> str | None:
    """The newest revision whose schema, built on a scratch database, equals the bound database's."""
    from .._features.checks import upgrade_order
    from .._features.scratch import scratch_migrator

    found = None
    try:  # no directory, no scratch database here, or a revision that fails: the matches so far
        revisions = [s.revision for s in upgrade_order(migrator.script_directory())]
        if not revisions:
            return found
        wanted = set(unversioned_tables(migrator.engine()))
        with scratch_migrator(migrator, migrator.bound_elsewhere) as scratch:
            for revision in revisions:
                scratch.upgrade(revision)
                # The same tables first (one query), the whole comparison only then.
                if set(table_names(scratch.engine())) != wanted:
                    continue
                if same_schema(migrator.engine(), reflected(scratch.engine())):
                    found = revision
    except SakyumError:
        return found
    return found


def reflected(engine: Engine, schema: str | None = None) -> MetaData:
    """The database's tables (of ``schema``, default the default one) as a MetaData, without the
    version table and the package's own."""
    from sqlalchemy import MetaData, inspect

    metadata = MetaData()
    with connect(engine) as connection:
        if schema is not None:
            _require_schema(schema, inspect(connection).get_schema_names())
        metadata.reflect(connection, schema=schema, only=lambda name, _metadata: name not in SKIPPED)
    return metadata


def _require_schema(schema: str, existing: list[str]) -> None:
    """A --schema the database does not have is one line naming those it has."""
    if schema not in existing:
        raise ConfigurationError(
            f"the database has no schema {schema!r} (it has {', '.join(sorted(existing)) or 'none'}): "
            "name one of those with --schema, or leave --schema out for the default one"
        )


def same_schema(engine: Engine, metadata: Any, reflections: ReflectionCache | None = None) -> bool:
    """Whether autogenerate finds nothing to change between the database and ``metadata``."""
    from .._features.diff import compare

    with connect(engine) as connection:
        return not compare(connection, metadata, reflections=reflections)


def _models_match(migrator: Migrator) -> bool:
    if migrator.metadata is None:
        return False
    from .._core.binding import as_target

    return same_schema(migrator.engine(), as_target(migrator.target_metadatas()), migrator.reflections)


class Differences(list[Any]):
    """``diff``'s rows with a note to show under them (the baseline hint); equal to a plain list."""

    def __init__(self, rows: Any, note: str) -> None:
        super().__init__(rows)
        self.note = note


def _has_revisions(migrator: Migrator) -> bool:
    try:
        return bool(migrator.script_directory().get_heads())
    except SakyumError:  # no directory yet
        return False
