"""Revision files written in code: chains of small revisions with rows, faults and gates."""

from __future__ import annotations

import textwrap
from pathlib import Path

import sqlalchemy as sa

from sakyum_magic._run.database import OWN_TABLES
from tests.conftest import POSTGRES_DRIVER

TEMPLATE = '''"""{message}

Revision ID: {revision}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


def write(directory: Path, revision: str, down: str | None, upgrade: str, downgrade: str = "pass") -> Path:
    """Write ``versions/<revision>.py`` with the given bodies (plain Python, dedented)."""
    path = directory / "versions" / f"{revision}.py"
    path.write_text(
        TEMPLATE.format(
            message=f"step {revision}",
            revision=revision,
            down=down,
            upgrade=textwrap.indent(textwrap.dedent(upgrade).strip(), "    "),
            downgrade=textwrap.indent(textwrap.dedent(downgrade).strip(), "    "),
        )
    )
    return path


def body(*parts: str) -> str:
    """Join pieces of a function body, each dedented on its own."""
    return "\n".join(textwrap.dedent(part).strip() for part in parts)


def table_with_rows(n: int) -> str:
    """Upgrade body: create table ``t<n>`` and fill it with ``10 * n`` rows."""
    return f"""
    op.create_table("t{n}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(20)))
    op.bulk_insert(
        sa.table("t{n}", sa.column("id", sa.Integer), sa.column("note", sa.String)),
        [{{"id": i, "note": "row"}} for i in range(1, {10 * n} + 1)],
    )
    """


def chain(directory: Path, count: int, prefix: str = "r") -> list[str]:
    """Revisions r1..r<count>; revision k creates t<k> with 10*k rows and drops it on downgrade."""
    ids = [f"{prefix}{k}" for k in range(1, count + 1)]
    for k, revision in enumerate(ids, start=1):
        down = ids[k - 2] if k > 1 else None
        write(directory, revision, down, table_with_rows(k), f'op.drop_table("t{k}")')
    return ids


def counts(url: str) -> dict[str, int]:
    """Rows per table (the version table and the package's own tables left out), read with a throwaway
    sync engine."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            names = sorted(set(sa.inspect(connection).get_table_names()) - {"alembic_version", *OWN_TABLES})
            return {
                name: connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one()
                for name in names
            }
    finally:
        engine.dispose()


def version(url: str) -> tuple[str, ...]:
    """The version table's rows, sorted (empty when it has none or does not exist)."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return ()
            rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            return tuple(sorted(rows))
    finally:
        engine.dispose()


def one_value(url: str, query: str, **parameters: object) -> object:
    """The single value ``query`` gives, read on a throwaway connection to ``url``."""
    from sakyum_magic._core.compat import engine_options

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options())
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), parameters).scalar_one()
    finally:
        engine.dispose()


def sync_url(url: str) -> str:
    """The same database through a synchronous driver, for checking results from the test."""
    return url.replace("sqlite+aiosqlite:", "sqlite:").replace("postgresql+asyncpg:", f"{POSTGRES_DRIVER}:")
