"""A comparison kept while neither the database's schema nor the models changed: the same rows, no
comparison made again, and a model edited in place (or a schema changed by another connection)
compared afresh."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic._features import reflection
from sakyum_magic._features.diff import compare_database
from sakyum_magic._features.reflection import ReflectionCache
from sakyum_magic._features.signature import _table, signature
from tests.test_diff import after, before, create
from tests.test_reflection import fresh, run


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many comparisons Alembic made meanwhile (through the kept reflection)."""
    made: list[int] = []
    produce = reflection.produce_migrations_through

    def counting(*args: Any) -> Any:
        made.append(1)
        return produce(*args)

    monkeypatch.setattr(reflection, "produce_migrations_through", counting)
    return made


def test_the_same_models_on_an_unchanged_schema_are_compared_once(
    any_url: str, comparisons: list[int]
) -> None:
    create(any_url, before())
    models, expected = after(), fresh(any_url, after())
    engine = sa.create_engine(any_url)
    kept = ReflectionCache()
    for _ in range(3):
        assert compare_database(engine, models, None, False, (), kept) == expected
    assert len(comparisons) == 1
    assert compare_database(engine, models, None, False, ("posts",), kept) == fresh(
        any_url, after(), tables=("posts",)
    )  # another table filter: compared on its own
    assert len(comparisons) == 2
    run(any_url, "CREATE TABLE another (id INTEGER)")  # another client changes the schema
    assert compare_database(engine, models, None, False, (), kept) == fresh(any_url, after())
    assert len(comparisons) == 3
    engine.dispose()


EDITS: dict[str, Callable[[sa.MetaData], Any]] = {
    "type": lambda m: setattr(m.tables["users"].c.name, "type", sa.String(300)),
    "nullable": lambda m: setattr(
        m.tables["users"].c.name, "nullable", not m.tables["users"].c.name.nullable
    ),
    "column": lambda m: m.tables["users"].append_column(sa.Column("added", sa.Integer)),
    "index": lambda m: sa.Index("ix_users_added_name", m.tables["users"].c.name),
    "comment": lambda m: setattr(m.tables["users"].c.name, "comment", "edited in place"),
    "table": lambda m: sa.Table("brand_new", m, sa.Column("id", sa.Integer, primary_key=True)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_model_edited_in_place_is_compared_afresh(
    sqlite_url: str, edit: str, comparisons: list[int]
) -> None:
    create(sqlite_url, before())
    models = after()
    engine = sa.create_engine(sqlite_url)
    kept = ReflectionCache()
    first = compare_database(engine, models, None, False, (), kept)
    EDITS[edit](models)
    edited = after()
    EDITS[edit](edited)
    again = compare_database(engine, models, None, False, (), kept)
    assert again == fresh(sqlite_url, edited)
    assert len(comparisons) == 2
    assert (again == first) == (edit == "comment")  # SQLite keeps no comments to compare
    engine.dispose()


def test_what_a_comparison_reads_is_part_of_the_signature() -> None:
    def models(*values: str, length: int = 20, default: str = "x", where: str = "id > 0") -> sa.MetaData:
        metadata = sa.MetaData()
        table = sa.Table(
            "t", metadata, sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("mood", sa.Enum(*values, name="mood")),
            sa.Column("name", sa.String(length), server_default=default),
        )  # fmt: skip
        sa.Index("ix_t_name", table.c.name, postgresql_where=sa.text(where))
        return metadata

    same = models("a", "b")
    assert signature(same) == signature(same) != signature(models("a", "b"))  # new objects
    kinds = [models("a", "b"), models("a", "b", "c"), models("a", "b", length=30)]
    kinds += [models("a", "b", default="y"), models("a", "b", where="id > 1")]
    assert len({_table(metadata.tables["t"]) for metadata in kinds}) == len(kinds)
