"""``diff``: every kind of difference as a row, destructive ones marked, filters, and its display."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from IPython.core.error import UsageError

from sakyum_magic import ConfigurationError, Migrator
from sakyum_magic._display.render import DESTRUCTIVE_MARK, DESTRUCTIVE_STYLE
from sakyum_magic._guards.safety import narrowing, shape, sql_shape
from tests.models import USERS
from tests.shells import migrate


def before() -> sa.MetaData:
    """The schema the database has."""
    m = sa.MetaData()
    sa.Table(
        "users",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("email", sa.String(100)),
        sa.Column("age", sa.Integer, index=True),
        sa.Column("bio", sa.Text, comment="old"),
        sa.Column("nick", sa.String(20), server_default="x"),
        sa.Column("legacy", sa.Integer),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    sa.Table(
        "posts",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey("users.id", name="fk_posts_user")),
        sa.Column("editor_id", sa.Integer),
        comment="posts table",
    )
    sa.Table("old_table", m, sa.Column("id", sa.Integer, primary_key=True))
    return m


def after() -> sa.MetaData:
    """The models: one change of every kind against :func:`before`."""
    m = sa.MetaData()
    sa.Table(
        "users",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(20), nullable=False, index=True),  # narrowed; new index
        sa.Column("email", sa.String(100)),  # unique constraint removed
        sa.Column("age", sa.BigInteger),  # widened; index removed
        sa.Column("bio", sa.Text, comment="new", nullable=False),
        sa.Column("nick", sa.String(20), server_default="y"),
        sa.Column("joined", sa.DateTime),  # added; legacy removed
        sa.UniqueConstraint("nick", name="uq_users_nick"),
        comment="people",
    )
    sa.Table(
        "posts",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer),
        sa.Column("editor_id", sa.ForeignKey("users.id", name="fk_posts_editor")),
    )
    sa.Table("tags", m, sa.Column("id", sa.Integer, primary_key=True))
    return m


EVERY_KIND = {
    ("add_table", "tags", None, False),
    ("remove_table", "old_table", None, True),
    ("add_column", "users", "joined", False),
    ("remove_column", "users", "legacy", True),
    ("modify_type", "users", "name", True),
    ("modify_type", "users", "age", False),
    ("modify_nullable", "users", "bio", False),
    ("modify_default", "users", "nick", False),
    ("add_index", "users", "ix_users_name", False),
    ("remove_index", "users", "ix_users_age", False),
    ("add_unique", "users", "uq_users_nick", False),
    ("remove_unique", "users", "uq_users_email", False),
    ("add_fk", "posts", "fk_posts_editor", False),
    ("remove_fk", "posts", "fk_posts_user", False),
}
COMMENTS = {
    ("modify_comment", "users", "bio", False),
    ("add_table_comment", "users", None, False),
    ("remove_table_comment", "posts", None, False),
}


def create(url: str, metadata: sa.MetaData) -> None:
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, workdir: Path) -> str:
    """SQLite, then PostgreSQL, each with the test's own working directory."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_every_op_kind_is_a_row(url: str) -> None:
    create(url, before())
    rows = Migrator(url=url, metadata=after()).diff()
    found = {(r.op, r.table, r.name, r.destructive) for r in rows}
    # SQLite keeps no comments, so only PostgreSQL can show the comment kinds.
    expected = EVERY_KIND | (COMMENTS if url.startswith("postgresql") else set())
    assert found == expected
    assert len(rows) == len(expected)
    by_key = {(r.op, r.name or r.table): r for r in rows}
    assert by_key["modify_type", "name"].detail == "VARCHAR(50) → VARCHAR(20)"
    assert "models not imported?" in by_key["remove_table", "old_table"].detail
    assert table_names(url) == {"users", "posts", "old_table"}  # diff wrote nothing


def test_dropped_and_added_column_of_one_family_is_a_possible_rename(sqlite_url: str) -> None:
    old = sa.MetaData()
    sa.Table("users", old, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)))
    create(sqlite_url, old)
    new = sa.MetaData()
    sa.Table(
        "users",
        new,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("full_name", sa.String(80)),
        sa.Column("visits", sa.Integer),
    )
    rows = {r.name: r for r in Migrator(url=sqlite_url, metadata=new).diff()}
    assert "possible rename to full_name (--rename users.name:full_name)" in rows["name"].detail
    assert "possible rename of name" in rows["full_name"].detail
    assert "possible rename" not in rows["visits"].detail  # an integer cannot be the old string


def test_table_filter_and_unknown_table(sqlite_url: str) -> None:
    create(sqlite_url, before())
    migrator = Migrator(url=sqlite_url, metadata=after())
    assert {r.table for r in migrator.diff(["posts"])} == {"posts"}
    assert {(r.op, r.table) for r in migrator.diff(["tags", "old_table"])} == {
        ("add_table", "tags"),
        ("remove_table", "old_table"),
    }
    with pytest.raises(ConfigurationError, match=r"unknown table.*nosuch"):
        migrator.diff(["posts", "nosuch"])


@pytest.mark.postgres
def test_schema_options(postgres_url: str, workdir: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA audit")
        connection.exec_driver_sql("CREATE TABLE audit.events (id integer primary key)")
        connection.exec_driver_sql("CREATE TABLE stray (id integer primary key)")
    engine.dispose()
    models = sa.MetaData()
    sa.Table("log", models, sa.Column("id", sa.Integer, primary_key=True), schema="audit")
    migrator = Migrator(url=postgres_url, metadata=models)

    default_only = {(r.op, r.schema, r.table) for r in migrator.diff()}
    assert ("remove_table", None, "stray") in default_only
    assert ("remove_table", "audit", "events") not in default_only

    audit = {(r.op, r.schema, r.table) for r in migrator.diff(schema="audit")}
    assert audit == {("add_table", "audit", "log"), ("remove_table", "audit", "events")}

    everywhere = {(r.op, r.schema, r.table) for r in migrator.diff(include_schemas=True)}
    assert audit | {("remove_table", None, "stray")} <= everywhere

    assert {r.table for r in migrator.diff(["audit.events"], include_schemas=True)} == {"events"}
    with pytest.raises(ConfigurationError, match=r"unknown table.*audit\.nosuch"):
        migrator.diff(["audit.nosuch"], include_schemas=True)


@pytest.mark.parametrize(
    ("old", "new", "lossy"),
    [
        ("VARCHAR(50)", "VARCHAR(20)", True),
        ("VARCHAR(20)", "VARCHAR(50)", False),
        ("VARCHAR(20)", "TEXT", False),
        ("TEXT", "VARCHAR(255)", True),
        ("INTEGER", "BIGINT", False),
        ("BIGINT", "INTEGER", True),
        ("INTEGER", "SMALLINT", True),
        ("NUMERIC(10, 2)", "NUMERIC(12, 2)", False),
        ("NUMERIC(10, 2)", "NUMERIC(10, 1)", True),
        ("NUMERIC(10, 2)", "NUMERIC(9, 2)", True),
        ("INTEGER", "NUMERIC(12, 0)", False),
        ("DATE", "TIMESTAMP", False),
        ("TIMESTAMP WITHOUT TIME ZONE", "DATE", True),
        ("INTEGER", "VARCHAR(30)", False),
        ("INTEGER", "VARCHAR(5)", True),
        ("VARCHAR(10)", "INTEGER", True),
        ("BOOLEAN", "INTEGER", False),
        ("FLOAT", "INTEGER", True),
        ("character varying(40)", "character varying(40)", False),
    ],
)
def test_narrowing(old: str, new: str, lossy: bool) -> None:
    assert narrowing(sql_shape(old), sql_shape(new)) is lossy


def test_shapes_of_sqlalchemy_types_agree_with_sql_text() -> None:
    for type_, text in [
        (sa.String(20), "VARCHAR(20)"),
        (sa.Text(), "TEXT"),
        (sa.BigInteger(), "BIGINT"),
        (sa.Numeric(10, 2), "NUMERIC(10, 2)"),
        (sa.DateTime(), "TIMESTAMP"),
        (sa.Boolean(), "BOOLEAN"),
    ]:
        assert shape(type_) == sql_shape(text)


# -- through the magic ----------------------------------------------------------------------


def test_magic_diff_highlights_destructive_rows(shell: Any, sqlite_url: str) -> None:
    create(sqlite_url, before())
    shell.user_ns["models"] = after()
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    shown = migrate(shell, "diff")
    frame = shown
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["op", "schema", "table", "name", "detail", "destructive"]
    assert frame["destructive"].sum() == 3
    text = repr(shown)
    lossy_lines = [line for line in text.splitlines() if line.lstrip().startswith(DESTRUCTIVE_MARK)]
    assert len(lossy_lines) == 3
    assert DESTRUCTIVE_STYLE.split(";")[0] in shown._repr_html_()
    assert shown[shown.destructive].equals(frame[frame["destructive"]])

    only = migrate(shell, "diff posts")
    assert set(only["table"]) == {"posts"}


def test_magic_diff_of_a_matching_database_is_a_message(shell: Any, sqlite_url: str) -> None:
    shell.run_cell(USERS)
    shell.run_cell(f"import sqlalchemy as sa; Base.metadata.create_all(sa.create_engine({sqlite_url!r}))")
    migrate(shell, f"config --url {sqlite_url} --metadata Base")
    shown = migrate(shell, "diff")
    assert isinstance(shown, pd.DataFrame) and shown.empty
    assert "matches the models" in repr(shown)


def test_magic_diff_unknown_table_is_one_line(shell: Any, sqlite_url: str) -> None:
    shell.run_cell(USERS)
    migrate(shell, f"config --url {sqlite_url} --metadata Base")
    with pytest.raises(UsageError) as caught:
        migrate(shell, "diff userz")
    assert type(caught.value) is UsageError
    assert "\n" not in str(caught.value)
    assert "unknown table(s) userz" in str(caught.value)
