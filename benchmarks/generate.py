"""Synthetic inputs for the benchmark: revision chains and schemas of a given size.

Two kinds of chain: ``table`` (revision i creates table ``t_i``) and ``column`` (ten tables, then
revision i adds column ``c_i`` to one of them). Each chain is written twice, into a project made by
plain ``alembic init`` (the generic template) and into one made by ``%migrate init``, so both sides
read identical revision files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WIDE_TABLES = 10

_HEADER = '''"""{message}

Revision ID: {rev}
Revises: {down}
Create Date: 2024-01-01 00:00:{second:02d}.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = {rev!r}
down_revision: Union[str, Sequence[str], None] = {down_repr}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def rev_id(kind: str, index: int) -> str:
    """A stable 12-hex-digit revision id, like the ones Alembic generates."""
    return hashlib.sha1(f"{kind}-{index}".encode()).hexdigest()[:12]


def _bodies(kind: str, index: int) -> tuple[str, str]:
    if kind == "table":
        up = (
            f"    op.create_table('t_{index}', sa.Column('id', sa.Integer(), primary_key=True),\n"
            f"                    sa.Column('name', sa.String(50), nullable=True))"
        )
        return up, f"    op.drop_table('t_{index}')"
    if index < WIDE_TABLES:
        up = f"    op.create_table('wide_{index}', sa.Column('id', sa.Integer(), primary_key=True))"
        return up, f"    op.drop_table('wide_{index}')"
    table = f"wide_{index % WIDE_TABLES}"
    up = f"    op.add_column('{table}', sa.Column('c_{index}', sa.String(20), nullable=True))"
    return up, f"    op.drop_column('{table}', 'c_{index}')"


def revision_text(kind: str, index: int, down: str | tuple[str, ...] | None) -> str:
    """The source of one synthetic revision file, shaped like Alembic's generic template output."""
    rev = rev_id(kind, index)
    up, down_body = _bodies(kind, index)
    down_text = ", ".join(down) if isinstance(down, tuple) else (down or "")
    return _HEADER.format(
        message=f"{kind} step {index}",
        rev=rev,
        down=down_text,
        down_repr=repr(down),
        second=index % 60,
        upgrade=up,
        downgrade=down_body,
    )


def write_chain(versions: Path, n: int, kind: str) -> list[str]:
    """Write a linear chain of ``n`` revisions into ``versions``; return the ids, oldest first."""
    versions.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    for index in range(n):
        down = ids[-1] if ids else None
        (versions / f"{rev_id(kind, index)}_{kind}_step_{index}.py").write_text(
            revision_text(kind, index, down)
        )
        ids.append(rev_id(kind, index))
    return ids


@dataclass(frozen=True)
class Project:
    """One chain laid out twice: ``plain`` (alembic init) and ``magic`` (%migrate init)."""

    root: Path
    n: int
    kind: str

    @property
    def plain_ini(self) -> Path:
        return self.root / "plain" / "alembic.ini"

    @property
    def magic_ini(self) -> Path:
        return self.root / "magic" / "alembic.ini"

    @property
    def magic_dir(self) -> Path:
        return self.root / "magic" / "alembic"

    def db(self, side: str, tag: str = "") -> Path:
        return self.root / f"{side}{tag}.db"


def make_project(root: Path, n: int, kind: str) -> Project:
    """Create both projects for a chain of ``n`` revisions of ``kind``, pointed at SQLite files."""
    from alembic import command
    from alembic.config import Config

    from sakyum_magic import Migrator

    project = Project(root, n, kind)
    (root / "plain").mkdir(parents=True, exist_ok=True)
    config = Config(str(project.plain_ini), stdout=io.StringIO())
    with contextlib.redirect_stdout(io.StringIO()):  # "Creating directory ..." lines
        command.init(config, str(root / "plain" / "alembic"), template="generic")
    text = project.plain_ini.read_text()
    project.plain_ini.write_text(
        text.replace("driver://user:pass@localhost/dbname", f"sqlite:///{project.db('plain')}")
    )
    write_chain(root / "plain" / "alembic" / "versions", n, kind)
    (root / "magic").mkdir(parents=True, exist_ok=True)
    Migrator(f"sqlite:///{project.db('magic')}", directory=project.magic_dir, ini=project.magic_ini).init()
    write_chain(project.magic_dir / "versions", n, kind)
    return project


def chain_metadata(n: int, kind: str) -> Any:
    """The models a chain of ``n`` revisions of ``kind`` builds (what autogenerate finds nothing against)."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    if kind == "table":
        for index in range(n):
            sa.Table(
                f"t_{index}",
                metadata,
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("name", sa.String(50), nullable=True),
            )
        return metadata
    columns: dict[int, list[Any]] = {i: [] for i in range(min(n, WIDE_TABLES))}
    for index in range(WIDE_TABLES, n):
        columns[index % WIDE_TABLES].append(sa.Column(f"c_{index}", sa.String(20), nullable=True))
    for index, extra in columns.items():
        sa.Table(f"wide_{index}", metadata, sa.Column("id", sa.Integer(), primary_key=True), *extra)
    return metadata


def schema(tables: int) -> Any:
    """A MetaData of ``tables`` tables, each with an index, a composite index and a foreign key."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    for index in range(tables):
        columns: list[Any] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(50), nullable=False, index=True),
            sa.Column("value", sa.Integer, server_default="0"),
            sa.Column("created", sa.DateTime),
        ]
        if index:
            columns.append(sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"s_{index - 1}.id")))
        sa.Table(
            f"s_{index}",
            metadata,
            *columns,
            sa.Index(f"ix_s_{index}_name_value", "name", "value"),
            sa.UniqueConstraint("name", "created", name=f"uq_s_{index}_name_created"),
        )
    return metadata
