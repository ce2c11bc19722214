"""Reflection kept between ``diff`` calls: the same rows as a fresh comparison, fewer statements, and a
schema changed by another connection (or by a migration) read afresh."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sakyum_magic import Migrator
from sakyum_magic._features.diff import compare_database
from sakyum_magic._features.reflection import ReflectionCache, fingerprint
from tests.conftest import requires_alembic_priorities
from tests.test_diff import after, before, create


@contextmanager
def counted(engine: sa.engine.Engine) -> Iterator[list[str]]:
    """The statements ``engine`` sends meanwhile."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def fresh(url: str, models: sa.MetaData, **options: Any) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        return compare_database(engine, models, options.get("schema"), False, options.get("tables", ()))
    finally:
        engine.dispose()


def run(url: str, statement: str) -> None:
    """``statement`` on a connection of its own, committed: another client changing the schema."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


def test_kept_reflection_gives_a_fresh_comparisons_rows_with_fewer_statements(any_url: str) -> None:
    create(any_url, before())
    expected = fresh(any_url, after())
    assert expected  # the models differ in every way test_diff lists
    engine = sa.create_engine(any_url)
    kept = ReflectionCache()
    with counted(engine) as first:
        assert compare_database(engine, after(), None, False, (), kept) == expected
    with counted(engine) as second:
        assert compare_database(engine, after(), None, False, (), kept) == expected
    # Every table's reflection comes from the kept cache; the fingerprint and what autogenerate
    # reads outside the inspector (enum types on PostgreSQL) remain.
    assert len(second) < len(first) / 2, second
    assert compare_database(engine, before(), None, False, (), kept) == []  # other models, same reflection
    assert compare_database(engine, after(), None, False, ("posts",), kept) == fresh(
        any_url, after(), tables=("posts",)
    )
    engine.dispose()


CHANGES = {
    "sqlite": [
        "ALTER TABLE users ADD COLUMN extra INTEGER",
        "CREATE INDEX ix_posts_editor ON posts (editor_id)",
        "DROP INDEX ix_posts_editor",
    ],
    "postgresql": [
        "ALTER TABLE users ADD COLUMN extra INTEGER",
        "ALTER TABLE users ALTER COLUMN nick SET DEFAULT 'z'",  # pg_attrdef only
        "COMMENT ON COLUMN users.bio IS 'changed'",  # pg_description only
        "CREATE INDEX ix_posts_editor ON posts (editor_id)",
        "ALTER TABLE users ALTER COLUMN email TYPE VARCHAR(120)",
        "CREATE TYPE mood AS ENUM ('sad')",  # pg_type only: the rows stay as they were
        "ALTER TABLE users ADD COLUMN feeling mood",
        "ALTER TYPE mood ADD VALUE 'ok'",  # pg_enum only
    ],
    "mysql": [
        "ALTER TABLE users ADD COLUMN extra INTEGER",
        "ALTER TABLE users ALTER COLUMN nick SET DEFAULT 'z'",
        "ALTER TABLE users MODIFY bio TEXT COMMENT 'changed'",
        "CREATE INDEX ix_posts_editor ON posts (editor_id)",
        "ALTER TABLE users MODIFY email VARCHAR(120)",
    ],
}


SAME_ROWS = {"CREATE TYPE mood AS ENUM ('sad')", "ALTER TYPE mood ADD VALUE 'ok'"}


def test_a_schema_changed_by_another_connection_is_read_afresh(any_url: str, workdir: Path) -> None:
    create(any_url, before())
    migrator = Migrator(url=any_url, metadata=after(), directory=workdir / "migrations")
    rows = migrator.diff()
    for statement in CHANGES[make_url(any_url).get_backend_name()]:
        assert fingerprint_of(any_url) == fingerprint_of(any_url)
        old = fingerprint_of(any_url)
        run(any_url, statement)
        assert fingerprint_of(any_url) != old, statement
        changed = migrator.diff()
        assert changed == fresh(any_url, after()), statement
        assert changed != rows or statement in SAME_ROWS, statement
        rows = changed
    migrator.dispose()


def fingerprint_of(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return fingerprint(connection, None)
    finally:
        engine.dispose()


def test_data_leaves_the_fingerprint_alone(any_url: str) -> None:
    create(any_url, before())
    old = fingerprint_of(any_url)
    run(any_url, "INSERT INTO users (name, nick) VALUES ('a', 'b')")  # a sequence or AUTO_INCREMENT moves
    assert fingerprint_of(any_url) == old


def test_a_migration_forgets_what_was_reflected(sqlite_url: str, workdir: Path) -> None:
    migrator = Migrator(url=sqlite_url, metadata=after(), directory=workdir / "migrations")
    migrator.init()
    migrator.revision("first", autogenerate=True)
    migrator.diff()
    assert len(migrator.reflections) == 1
    migrator.upgrade()
    assert len(migrator.reflections) == 0
    assert migrator.diff() == []
    migrator.dispose()


def test_a_file_replaced_by_another_with_as_many_statements_is_read_afresh(workdir: Path) -> None:
    url = f"sqlite:///{workdir / 'app.db'}"
    one, other = sa.MetaData(), sa.MetaData()
    sa.Table("t", one, sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))
    sa.Table("t", other, sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.String(5)))
    create(url, one)
    migrator = Migrator(url=url, metadata=one, directory=workdir / "migrations")
    assert migrator.diff() == []
    (workdir / "app.db").unlink()
    create(url, other)  # the same schema_version, another schema
    assert [row.op for row in migrator.diff()] == ["modify_type"]
    migrator.dispose()


@pytest.mark.postgres
def test_schema_option_is_part_of_the_key(postgres_url: str) -> None:
    run(postgres_url, "CREATE SCHEMA other")
    run(postgres_url, "CREATE TABLE other.t (id INTEGER PRIMARY KEY)")
    create(postgres_url, before())
    engine = sa.create_engine(postgres_url)
    kept = ReflectionCache()
    for schema in (None, "other", None, "other"):
        assert compare_database(engine, after(), schema, False, (), kept) == fresh(
            postgres_url, after(), schema=schema
        )
    assert len(kept) == 2
    engine.dispose()


def versioned(url: str, workdir: Path) -> Migrator:
    """A directory whose one revision built :func:`before`'s schema, applied; the models now :func:`after`."""
    migrator = Migrator(url=url, metadata=before(), directory=workdir / "migrations")
    migrator.init()
    migrator.revision("first", autogenerate=True)
    migrator.upgrade()
    migrator.metadata = after()
    return migrator


@requires_alembic_priorities
def test_revision_autogenerate_reads_what_diff_kept(any_url: str, workdir: Path) -> None:
    migrator = versioned(any_url, workdir)
    engine = migrator.engine()
    rows = migrator.diff()
    with counted(engine) as kept:
        made = migrator.revision("second", autogenerate=True, allow_drop=True)
    assert list(made.operations) == rows
    for written in (workdir / "migrations" / "versions").glob("*second*.py"):
        written.unlink()
    migrator.reflections.forget()
    with counted(engine) as afresh:
        again = migrator.revision("second", autogenerate=True, allow_drop=True)
    assert again.operations == made.operations
    assert len(kept) < len(afresh), (kept, afresh)
    migrator.dispose()


def test_revision_autogenerate_notices_a_change_made_after_diff(any_url: str, workdir: Path) -> None:
    migrator = versioned(any_url, workdir)
    migrator.diff()
    run(any_url, "ALTER TABLE users ADD COLUMN extra INTEGER")
    made = migrator.revision("second", autogenerate=True, allow_drop=True)
    assert ("remove_column", "users", "extra") in {(r.op, r.table, r.name) for r in made.operations}
    assert list(made.operations) == fresh(any_url, after())
    migrator.dispose()
