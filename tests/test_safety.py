"""The drop guard, ``--rename``, and what counts as a statement that loses data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, Migrator
from sakyum_magic._core.errors import DropRefusedError
from sakyum_magic._guards.safety import Rename, always_destructive, parse_rename, writes
from tests.shells import migrate, one_line_error

ROWS = [(1, "Ada", 36), (2, "Grace", 45), (3, "Linus", None)]


def people(name_column: str = "name", with_extra: bool = True) -> sa.MetaData:
    m = sa.MetaData()
    sa.Table(
        "people",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(name_column, sa.String(50)),
        sa.Column("age", sa.Integer),
    )
    if with_extra:
        sa.Table("notes", m, sa.Column("id", sa.Integer, primary_key=True))
    return m


def versions(workdir: Path) -> list[str]:
    return sorted(p.name for p in (workdir / "alembic" / "versions").glob("*.py"))


def rows(url: str, column: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [
                tuple(r)
                for r in connection.execute(sa.text(f"SELECT id, {column}, age FROM people ORDER BY id"))
            ]
    finally:
        engine.dispose()


def at_version_one(url: str) -> Migrator:
    migrator = Migrator(url=url, metadata=people())
    migrator.init()
    migrator.revision("one", autogenerate=True)
    migrator.upgrade()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO people (id, name, age) VALUES (:i, :n, :a)"),
            [{"i": i, "n": n, "a": a} for i, n, a in ROWS],
        )
    engine.dispose()
    return migrator


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, workdir: Path) -> str:
    """SQLite, then PostgreSQL, each with the test's own working directory."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_guard_refuses_drops_then_allow_drop_writes(url: str, workdir: Path) -> None:
    migrator = at_version_one(url)
    written = versions(workdir)
    migrator.metadata = people(with_extra=False)
    with pytest.raises(DropRefusedError) as refused:
        migrator.revision("drop notes", autogenerate=True)
    message = str(refused.value)
    assert "table(s) notes" in message and "models not imported?" in message and "--allow-drop" in message
    assert "\n" not in message
    assert [(o.op, o.table) for o in refused.value.operations] == [("remove_table", "notes")]
    assert versions(workdir) == written  # nothing written

    result = migrator.revision("drop notes", autogenerate=True, allow_drop=True)
    assert [(o.op, o.table, o.destructive) for o in result.operations] == [("remove_table", "notes", True)]
    assert len(versions(workdir)) == len(written) + 1


def test_guard_names_dropped_columns(sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = people(name_column="full_name")
    with pytest.raises(DropRefusedError, match=r"column\(s\) people\.name.*--rename"):
        migrator.revision("rename", autogenerate=True)
    assert len(versions(workdir)) == 1


def test_rename_keeps_every_row(url: str, workdir: Path) -> None:
    migrator = at_version_one(url)
    migrator.metadata = people(name_column="full_name")
    result = migrator.revision("rename", autogenerate=True, renames=["people.name:full_name"])
    assert [(o.op, o.table, o.name, o.detail) for o in result.operations] == [
        ("rename_column", "people", "name", "name → full_name")
    ]
    source = Path(result.revisions[0].path).read_text()
    assert "new_column_name='full_name'" in source and "drop_column" not in source
    migrator.upgrade()
    assert rows(url, "full_name") == ROWS  # same count, same values
    assert migrator.diff() == []
    migrator.downgrade("-1")
    assert rows(url, "name") == ROWS


def test_rename_that_matches_nothing_writes_nothing(sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = people(name_column="full_name")
    with pytest.raises(ConfigurationError, match=r"--rename people\.nme:full_name: autogenerate found no"):
        migrator.revision("rename", autogenerate=True, renames=["people.nme:full_name"])
    with pytest.raises(ConfigurationError, match="add --autogenerate"):
        migrator.revision("rename", renames=["people.name:full_name"])
    assert len(versions(workdir)) == 1


@pytest.mark.parametrize(
    "bad", ["people.name", "name:full_name", "people.name:", "a.b.c.d:e", "people.na me:x"]
)
def test_malformed_rename(bad: str) -> None:
    with pytest.raises(ConfigurationError, match=r"is not TABLE\.OLD:NEW"):
        parse_rename(bad)


def test_parse_rename() -> None:
    assert parse_rename("people.name:full_name") == Rename("people", "name", "full_name")
    assert parse_rename("crm.people.name:full_name") == Rename("people", "name", "full_name", "crm")


@pytest.mark.parametrize(
    ("statement", "lossy"),
    [
        ("DROP TABLE notes", True),
        ("ALTER TABLE people DROP COLUMN age", True),
        ("TRUNCATE people", True),
        ("DELETE FROM people WHERE id = 1", True),
        ("DELETE FROM alembic_version WHERE alembic_version.version_num = 'abc'", False),
        ("DROP TABLE _alembic_tmp_people", False),
        ("DROP INDEX ix_people_age", False),
        ("ALTER TABLE people ADD COLUMN x INTEGER", False),
        ("UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a'", False),
    ],
)
def test_always_destructive(statement: str, lossy: bool) -> None:
    assert always_destructive(statement) is lossy


def test_reads_are_not_captured() -> None:
    assert not writes("SELECT 1")
    assert not writes('PRAGMA main.table_info("people")')
    assert not writes("BEGIN")
    assert writes("PRAGMA foreign_keys=ON")
    assert writes("CREATE TABLE t (id INTEGER)")


# -- through the magic ----------------------------------------------------------------------


def test_magic_guard_shows_the_drops_then_allow_drop(shell: Any, sqlite_url: str, workdir: Path) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["models"] = people(with_extra=False)
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    message = one_line_error(shell, "revision --autogenerate -m drop")
    assert "models not imported?" in message
    assert len(versions(workdir)) == 1
    migrate(shell, "revision --autogenerate -m drop --allow-drop")
    assert len(versions(workdir)) == 2


def test_magic_guard_displays_a_flagged_table(shell: Any, sqlite_url: str) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["models"] = people(with_extra=False)
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    published: list[dict[str, Any]] = []
    shell.display_pub.publish = lambda data, **_: published.append(data)
    one_line_error(shell, "revision --autogenerate -m drop")
    (shown,) = published
    assert "! remove_table" in shown["text/plain"] and "notes" in shown["text/plain"]
    assert "#f8d7da" in shown["text/html"]  # the destructive row is highlighted


def test_magic_rename(shell: Any, sqlite_url: str) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["models"] = people(name_column="full_name")
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    migrate(shell, "revision --autogenerate -m rename --rename people.name:full_name")
    migrate(shell, "upgrade head")
    assert rows(sqlite_url, "full_name") == ROWS


def test_magic_malformed_rename_writes_nothing(shell: Any, sqlite_url: str, workdir: Path) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["models"] = people(name_column="full_name")
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    message = one_line_error(shell, "revision --autogenerate -m rename --rename people-name-full_name")
    assert "TABLE.OLD:NEW" in message
    assert len(versions(workdir)) == 1
