"""Enum types: PostgreSQL's created, changed and dropped through alembic-postgresql-enum; MySQL/MariaDB's
ENUM changes that copy the table flagged; the enum package never imported for SQLite or MariaDB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator

pytest.importorskip("alembic_postgresql_enum", reason="the pg-enum extra (alembic-postgresql-enum) is needed")


def posts(*statuses: str) -> sa.MetaData:
    m = sa.MetaData()
    sa.Table(
        "posts",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.Enum(*statuses, name="post_status"), nullable=False),
    )
    return m


def enum_values(url: str) -> list[str]:
    engine = sa.create_engine(url)
    query = (
        "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
        "WHERE t.typname = 'post_status' ORDER BY e.enumsortorder"
    )
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text(query)).scalars())
    finally:
        engine.dispose()


def insert(url: str, *statuses: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for status in statuses:
            connection.execute(sa.text("INSERT INTO posts (status) VALUES (:s)"), {"s": status})
    engine.dispose()


def source(result: object) -> str:
    return Path(result.revisions[0].path).read_text()  # type: ignore[attr-defined]


def test_postgres_enum_round_trip(postgres_url: str, workdir: Path) -> None:
    migrator = Migrator(url=postgres_url, metadata=posts("draft", "published"))
    migrator.init()
    rows = {(o.op, o.name): o.detail for o in migrator.diff()}
    assert rows[("create_enum", "post_status")] == "(draft, published)"
    first = migrator.revision("posts", autogenerate=True)
    assert "Enum('draft', 'published', name='post_status').create(" in source(
        first
    ) or "create_enum" in source(first)
    migrator.upgrade()
    assert enum_values(postgres_url) == ["draft", "published"]
    migrator.downgrade("base")
    assert enum_values(postgres_url) == []  # the type went with the table
    migrator.upgrade()
    insert(postgres_url, "draft", "published", "draft")

    migrator.metadata = posts("draft", "published", "archived")
    (added,) = migrator.diff()
    assert added.op == "add_enum_value" and not added.destructive
    assert "(draft, published) → (draft, published, archived); used by posts.status" in added.detail
    assert "catalog-only" in added.detail
    second = migrator.revision("archived", autogenerate=True)
    text = source(second)
    assert "autocommit_block()" in text and "add_enum_value" in text
    assert "import alembic_postgresql_enum" in text
    fresh = f"from sakyum_magic import Migrator; Migrator(url={postgres_url!r}).upgrade()"
    done = subprocess.run(
        [sys.executable, "-c", fresh], cwd=workdir, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]  # a new process upgrades with the file alone
    assert enum_values(postgres_url) == ["draft", "published", "archived"]

    migrator.metadata = posts("draft", "archived")
    (synced,) = migrator.diff()
    assert synced.op == "sync_enum_values" and synced.destructive
    assert (
        "rewrites 3 row(s)" in synced.detail and "rows holding published cannot be converted" in synced.detail
    )
    with sa.create_engine(postgres_url).begin() as connection:
        connection.execute(sa.text("DELETE FROM posts WHERE status = 'published'"))
    third = migrator.revision("drop published", autogenerate=True)
    assert "sync_enum_values" in source(third)
    migrator.upgrade()
    assert enum_values(postgres_url) == ["draft", "archived"]
    assert migrator.diff() == []
    results = {r.check: r.ok for r in migrator.test()}
    assert results["up_down_consistency"] and results["upgrade"], results


def test_mariadb_enum_reshape_is_flagged(mysql_url: str, workdir: Path) -> None:
    migrator = Migrator(url=mysql_url, metadata=posts("draft", "published"))
    migrator.init()
    migrator.revision("posts", autogenerate=True)
    migrator.upgrade()
    migrator.metadata = posts("draft", "published", "archived")  # appended: in place
    appended = migrator.diff()
    if not appended:
        import alembic

        pytest.skip(f"alembic {alembic.__version__} does not compare ENUM values on MySQL/MariaDB")
    assert [(o.op, o.destructive) for o in appended] == [("modify_type", False)]
    migrator.metadata = posts("draft", "archived", "published")  # inserted: the table is copied
    assert [(o.op, o.destructive) for o in migrator.diff()] == [("modify_type", True)]


SCRIPT = """
import sys, sqlalchemy as sa
from sakyum_magic import Migrator
m = sa.MetaData()
sa.Table("posts", m, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("status", sa.Enum("draft", "published", name="post_status")))
for url, directory in ((sys.argv[1], "lite"), (sys.argv[2], "maria")):
    migrator = Migrator(url=url, metadata=m, directory=directory, ini=directory + ".ini")
    migrator.init()
    migrator.revision("posts", autogenerate=True)
    migrator.upgrade()
    assert migrator.diff() == [], migrator.diff()
    migrator.downgrade("base")
    migrator.dispose()
print("loaded" if "alembic_postgresql_enum" in sys.modules else "not loaded")
"""


def test_never_imported_on_sqlite_or_mariadb(sqlite_url: str, mysql_url: str, workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), sqlite_url, mysql_url],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "not loaded"
