"""A real project's migrations, installed from the package registry: optuna's (its RDB storage).

``%migrate upgrade head`` on optuna's own directory must leave the database exactly as the
``alembic`` CLI leaves it (same tables, columns, indexes, constraints and version row, no table of
ours), and the project's own autogenerate comparison against its models (what its ``alembic check``
runs) must find the same, and nothing about a table of ours.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from sakyum_magic._run.database import OWN_TABLES
from tests.directories import ini_value, set_option, versions
from tests.revisions import sync_url
from tests.shells import alembic

optuna = pytest.importorskip("optuna", reason="optuna (a test extra) is not installed")


def project_directory(workdir: Path, url: str) -> Path:
    """optuna's migration directory and alembic.ini, copied as installed, pointed at ``url``."""
    installed = Path(optuna.__file__).parent / "storages" / "_rdb"
    shutil.copytree(installed / "alembic", workdir / "alembic", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(installed / "alembic.ini", workdir / "alembic.ini")
    set_option(workdir / "alembic.ini", "alembic", "sqlalchemy.url", ini_value(sync_url(url)))
    return workdir / "alembic"


def schema(url: str) -> dict[str, Any]:
    """Every table with its columns, primary key, indexes, unique and foreign key constraints."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                table: (
                    [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                    sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
                    sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in inspector.get_indexes(table)
                    ),
                    sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
                    sorted(
                        (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                        for f in inspector.get_foreign_keys(table)
                    ),
                )
                for table in sorted(inspector.get_table_names())
            }
    finally:
        engine.dispose()


def project_check(url: str) -> list[str]:
    """What the project's own autogenerate finds between its models and the database."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from optuna.storages._rdb.models import BaseModel

    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True})
            return sorted(repr(diff) for diff in compare_metadata(context, BaseModel.metadata))
    finally:
        engine.dispose()


def drop_everything(url: str) -> None:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            reflected = sa.MetaData()
            reflected.reflect(connection)
            reflected.drop_all(connection)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_upgrade_leaves_the_schema_the_cli_leaves(workdir: Path, any_url: str) -> None:
    """On MariaDB one of optuna's revisions fails under the CLI too: then both must stop alike."""
    import subprocess

    directory = project_directory(workdir, any_url)
    try:
        alembic(workdir, "upgrade", "head")
        cli_failed = False
    except subprocess.CalledProcessError:
        cli_failed = True
    by_cli = schema(any_url), versions(any_url), project_check(any_url)
    drop_everything(any_url)
    assert schema(any_url) == {}
    migrator = Migrator(url=any_url, directory=directory, progress=False)
    if cli_failed:
        with pytest.raises(MigrationError):
            migrator.upgrade("head")
    else:
        result = migrator.upgrade("head")
        assert len(result.steps) == len(list((directory / "versions").glob("v*.py")))
    migrator.dispose()
    by_magic = schema(any_url), versions(any_url), project_check(any_url)
    assert not set(by_magic[0]) & OWN_TABLES
    assert by_magic == by_cli
    assert not [found for found in by_magic[2] if any(table in found for table in OWN_TABLES)]
