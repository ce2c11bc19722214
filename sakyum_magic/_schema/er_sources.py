"""Where ``%migrate schema`` reads a schema: the bound database, the models, or a revision built on
a scratch database; and with ``--diff``, two of those compared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError
from .baseline import reflected
from .er import LEGEND, SchemaDiagram, diagram
from .er_model import er_diff, er_tables

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from .._core.migrator import Migrator


def schema_picture(
    migrator: Migrator, models: bool, at: str | None, diff: bool, pattern: str | None, schema: str | None
) -> SchemaDiagram:
    """The picture the options ask for (see :meth:`~.._core.migrator.Migrator.schema_diagram`)."""
    if models and at is not None and not diff:
        raise ConfigurationError(
            "--models and --at name two schemas: add --diff to compare them, or drop one"
        )
    if diff:
        old = _at(migrator, at, schema) if at else _database(migrator, schema)
        old_name = f"revision {at}" if at else "the database"
        new = _models(migrator)
        tables = er_diff(old, new, pattern, schema)
        marked = sum(bool(t.mark) for t in tables)
        title = f"The models against {old_name}: {marked} of {len(tables)} table(s) differ"
        return diagram(title, tables, [LEGEND] if marked else ["No differences."])
    if models:
        source, name = _models(migrator), "the models"
    elif at is not None:
        source, name = _at(migrator, at, schema), f"revision {at}"
    else:
        source, name = _database(migrator, schema), migrator.masked_url()
    tables = er_tables(source, pattern, schema)
    return diagram(f"{name}: {len(tables)} table(s)", tables, [] if tables else [_none(pattern)])


def _none(pattern: str | None) -> str:
    return f"No table matches --tables {pattern}." if pattern else "No tables."


def _database(migrator: Migrator, schema: str | None) -> MetaData:
    if migrator._missing_file():
        raise ConfigurationError(f"{migrator.masked_url()} does not exist yet: %migrate upgrade creates it")
    return reflected(migrator.engine(), schema)


def _models(migrator: Migrator) -> MetaData:
    import sqlalchemy as sa

    merged = sa.MetaData()
    for metadata in migrator.target_metadatas():
        for table in metadata.tables.values():
            if table.key not in merged.tables:
                table.to_metadata(merged)
    return merged


def _at(migrator: Migrator, revision: str, schema: str | None) -> MetaData:
    """The schema ``revision`` builds, upgraded to on a scratch database (removed afterwards)."""
    from .._features.scratch import scratch_migrator

    with scratch_migrator(migrator, migrator.bound_elsewhere) as scratch:
        scratch.upgrade(revision)
        return reflected(scratch.engine(), schema)
