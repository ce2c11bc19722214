"""Table renames: the diff marks a possible rename, ``--rename-table`` keeps every row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, Migrator
from sakyum_magic._core.errors import DropRefusedError
from sakyum_magic._schema.pg_names import swap
from sakyum_magic._schema.renames import TableRename, parse_table_rename
from tests.shells import migrate, one_line_error

ROWS = [(1, "Ada", 36), (2, "Grace", 45), (3, "Linus", None)]


def people(table: str = "people", age_type: Any = sa.Integer) -> sa.MetaData:
    m = sa.MetaData()
    sa.Table(
        table,
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, index=True),
        sa.Column("age", age_type),
    )
    sa.Table("notes", m, sa.Column("id", sa.Integer, primary_key=True))
    return m


def rows(url: str, table: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text(f"SELECT id, name, age FROM {table} ORDER BY id"))
            return [tuple(r) for r in found]
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


def test_diff_marks_a_possible_rename(any_url: str, workdir: Path) -> None:
    migrator = at_version_one(any_url)
    migrator.metadata = people("persons")
    found = {(o.op, o.table): o.detail for o in migrator.diff()}
    assert "possible rename to persons (--rename-table people:persons)" in found["remove_table", "people"]
    assert "possible rename of people" in found["add_table", "persons"]


def test_different_columns_are_no_rename(sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = people("persons", age_type=sa.String(10))
    assert not any("possible rename" in o.detail for o in migrator.diff())
    with pytest.raises(ConfigurationError, match=r"--rename-table people:persons: the columns differ \(age"):
        migrator.revision("rename", autogenerate=True, table_renames=["people:persons"])


def test_without_the_flag_the_drop_guard_refuses(sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = people("persons")
    with pytest.raises(DropRefusedError, match="--rename-table OLD:NEW"):
        migrator.revision("rename", autogenerate=True)


def test_rename_keeps_every_row(any_url: str, workdir: Path) -> None:
    migrator = at_version_one(any_url)
    migrator.metadata = people("persons")
    result = migrator.revision("rename", autogenerate=True, table_renames=["people:persons"])
    source = Path(result.revisions[0].path).read_text()
    assert "op.rename_table('people', 'persons')" in source
    assert "drop_table" not in source and "create_table" not in source
    migrator.upgrade()
    assert rows(any_url, "persons") == ROWS
    assert migrator.diff() == []
    migrator.downgrade("-1")
    assert rows(any_url, "people") == ROWS
    migrator.metadata = people()
    assert migrator.diff() == []


def test_postgres_renames_sequence_key_and_indexes(postgres_url: str, workdir: Path) -> None:
    migrator = at_version_one(postgres_url)
    migrator.metadata = people("persons")
    result = migrator.revision("rename", autogenerate=True, table_renames=["people:persons"])
    source = Path(result.revisions[0].path).read_text()
    assert 'ALTER SEQUENCE "people_id_seq" RENAME TO "persons_id_seq"' in source
    migrator.upgrade()
    assert relations(postgres_url) == ["ix_persons_name", "persons", "persons_id_seq", "persons_pkey"]
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:  # the renamed sequence still numbers new rows
        connection.execute(sa.text("SELECT setval('persons_id_seq', 3)"))
        new_id = connection.execute(sa.text("INSERT INTO persons (name) VALUES ('Barbara') RETURNING id"))
        assert new_id.scalar() == 4
        pkey = "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = 'persons'::regclass"
        assert connection.execute(sa.text(pkey)).scalar() == "persons_pkey"
        connection.execute(sa.text("DELETE FROM persons WHERE id = 4"))
    engine.dispose()
    assert migrator.diff() == []
    migrator.downgrade("-1")
    assert relations(postgres_url) == ["ix_people_name", "people", "people_id_seq", "people_pkey"]
    assert rows(postgres_url, "people") == ROWS


def relations(url: str) -> list[str]:
    """The tables, sequences and indexes named after people or persons."""
    engine = sa.create_engine(url)
    query = (
        "SELECT relname FROM pg_class "
        "WHERE relname ~ '(people|persons)' AND relnamespace = 'public'::regnamespace"
    )
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(sa.text(query)).scalars())
    finally:
        engine.dispose()


def test_rename_that_matches_nothing(sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = people("persons")
    with pytest.raises(ConfigurationError, match="--rename-table peple:persons: autogenerate found no"):
        migrator.revision("rename", autogenerate=True, table_renames=["peple:persons"])
    with pytest.raises(ConfigurationError, match="add --autogenerate"):
        migrator.revision("rename", table_renames=["people:persons"])


@pytest.mark.parametrize("bad", ["people", "a.b.c:d", "people:", ":persons", "people persons"])
def test_malformed_table_rename(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="is not OLD:NEW"):
        parse_table_rename(bad)


def test_parse_and_swap() -> None:
    assert parse_table_rename("crm.people:persons") == TableRename("people", "persons", "crm")
    assert swap("people_id_seq", "people", "persons") == "persons_id_seq"
    assert swap("ix_people_name", "people", "persons") == "ix_persons_name"
    assert swap("peoples_pkey", "people", "persons") == "peoples_pkey"


def test_magic_rename_table(shell: Any, sqlite_url: str, workdir: Path) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["after"] = people("persons")
    migrate(shell, f"config --url {sqlite_url} --metadata after")
    message = one_line_error(shell, "revision --autogenerate -m rename --rename-table people-persons")
    assert "is not OLD:NEW" in message
    migrate(shell, "revision --autogenerate -m rename --rename-table people:persons")
    migrate(shell, "upgrade")
    assert rows(sqlite_url, "persons") == ROWS
