"""Baselines: a database made by hand is adopted with the stamp the hint names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from sakyum_magic._core.errors import RevisionError
from sakyum_magic._schema.baseline import unversioned_tables
from tests.shells import migrate, one_line_error


def models(with_posts: bool) -> sa.MetaData:
    m = sa.MetaData()
    sa.Table("users", m, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)))
    if with_posts:
        sa.Table(
            "posts",
            m,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
            sa.Column("title", sa.String(200), nullable=False),
        )
    return m


def two_revisions(url: str) -> tuple[Migrator, list[str]]:
    """Revisions users, then posts, written against a scratch database of the test's own."""
    migrator = Migrator(url=url, metadata=models(False))
    migrator.init()
    first = migrator.revision("users", autogenerate=True).revisions[0].revision
    migrator.upgrade()
    migrator.metadata = models(True)
    second = migrator.revision("posts", autogenerate=True).revisions[0].revision
    migrator.downgrade("base")
    drop_version_table(url)
    return migrator, [first, second]


def drop_version_table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def by_hand(url: str, with_posts: bool) -> None:
    """The tables as a person would create them: create_all, with no version table."""
    engine = sa.create_engine(url)
    models(with_posts).create_all(engine)
    engine.dispose()


def test_hint_names_the_matching_revision_then_stamp_and_check(any_url: str, workdir: Path) -> None:
    migrator, (first, second) = two_revisions(any_url)
    by_hand(any_url, with_posts=False)  # the schema of the first revision
    expected = f"its schema is that of revision {first}; run %migrate stamp {first} to adopt it"
    assert expected in migrator.current().note
    assert expected in getattr(migrator.diff(), "note", "")
    with pytest.raises(RevisionError, match=f"stamp {first} to adopt it; upgrade refused"):
        migrator.upgrade()
    assert unversioned_tables(migrator.engine()) == ("users",)  # nothing was changed
    migrator.stamp(first)
    migrator.upgrade()
    assert [r.revision for r in migrator.current().revisions] == [second]
    assert migrator.check() == []


def test_newest_matching_revision_wins(sqlite_url: str, workdir: Path) -> None:
    migrator, (_first, second) = two_revisions(sqlite_url)
    by_hand(sqlite_url, with_posts=True)
    assert f"run %migrate stamp {second} to adopt it" in migrator.current().note
    with pytest.raises(RevisionError, match=f"stamp {second}.*autogenerate refused"):
        migrator.revision("more", autogenerate=True)


def test_no_matching_revision_lets_upgrade_run(sqlite_url: str, workdir: Path) -> None:
    migrator, (_first, second) = two_revisions(sqlite_url)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as connection:  # a table of another application: not a revision's schema
        connection.execute(sa.text("CREATE TABLE legacy (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    assert "no revision's schema matches it" in migrator.current().note
    migrator.upgrade()
    assert [r.revision for r in migrator.current().revisions] == [second]


def test_models_match_without_revisions_says_stamp_head(sqlite_url: str, workdir: Path) -> None:
    migrator = Migrator(url=sqlite_url, metadata=models(True))
    migrator.init()
    by_hand(sqlite_url, with_posts=True)
    note = "it matches the models; write a first revision with no operations, then run %migrate stamp head"
    assert note in migrator.current().note


def test_magic_shows_the_hint(shell: Any, sqlite_url: str, workdir: Path) -> None:
    _migrator, (first, _second) = two_revisions(sqlite_url)
    by_hand(sqlite_url, with_posts=False)
    shell.user_ns["m"] = models(True)
    migrate(shell, f"config --url {sqlite_url} --metadata m")
    shown = migrate(shell, "current")
    assert f"%migrate stamp {first}" in repr(shown) or f"%migrate stamp {first}" in shown._repr_html_()
    message = one_line_error(shell, "upgrade")
    assert f"%migrate stamp {first} to adopt it" in message
