"""The whole workflow on SQLite, PostgreSQL (psycopg 3) and MariaDB (PyMySQL), each in its own database.

Off CI an unreachable server skips these tests with the reason; under CI=true it fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from tests.models import USERS, USERS_AND_POSTS, namespace
from tests.revisions import counts, version

WIDER_NAMES = USERS_AND_POSTS.replace("sa.String(50)", "sa.String(120)")


@pytest.fixture
def models() -> dict[str, object]:
    """The namespace a notebook's model cell fills; tests re-run it with other models."""
    return namespace(USERS)


@pytest.fixture
def migrator(workdir: Path, any_url: str, models: dict[str, object]) -> Iterator[Migrator]:
    m = Migrator(url=any_url, metadata=lambda: models["Base"])
    yield m
    m.dispose()


def insert_users(url: str, count: int) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO users (id, name) VALUES (:id, :name)"),
                [{"id": i, "name": f"user {i}"} for i in range(1, count + 1)],
            )
    finally:
        engine.dispose()


def test_full_workflow(migrator: Migrator, models: dict[str, object], any_url: str) -> None:
    migrator.init()
    first = migrator.revision("users", autogenerate=True)
    assert [(o.op, o.table) for o in first.operations] == [("add_table", "users")]
    assert [s.revision for s in migrator.upgrade().steps] == [first.revisions[0].revision]
    insert_users(any_url, 25)

    models.update(namespace(USERS_AND_POSTS))
    assert [(o.op, o.table) for o in migrator.diff()] == [("add_table", "posts")]
    second = migrator.revision("posts", autogenerate=True)
    head = second.revisions[0].revision
    assert migrator.upgrade().after == (head,)
    assert migrator.diff() == []
    assert [i.revision for i in migrator.current().revisions] == [head]
    history = migrator.history(indicate_current=True)
    assert [(e.info.revision, e.is_current) for e in history] == [
        (head, True),
        (first.revisions[0].revision, False),
    ]
    assert counts(any_url) == {"posts": 0, "users": 25}

    assert [s.direction for s in migrator.downgrade("-1").steps] == ["down"]
    assert counts(any_url) == {"users": 25}
    migrator.downgrade("base")
    assert counts(any_url) == {}
    assert migrator.current().revisions == ()
    assert migrator.upgrade().after == (head,)
    assert version(any_url) == (head,)


def test_type_change_is_detected_and_keeps_rows(
    migrator: Migrator, models: dict[str, object], any_url: str
) -> None:
    models.update(namespace(USERS_AND_POSTS))
    migrator.init()
    migrator.revision("tables", autogenerate=True)
    migrator.upgrade()
    insert_users(any_url, 40)

    models.update(namespace(WIDER_NAMES))
    change = migrator.revision("wider names", autogenerate=True)
    assert [(o.op, o.table, o.name) for o in change.operations] == [("modify_type", "users", "name")]
    migrator.upgrade()
    assert counts(any_url) == {"posts": 0, "users": 40}
    migrator.downgrade("-1")
    assert counts(any_url) == {"posts": 0, "users": 40}


def test_offline_sql_speaks_the_dialect(migrator: Migrator, any_url: str) -> None:
    migrator.init()
    migrator.revision("users", autogenerate=True)
    sql = migrator.upgrade(sql=True).sql or ""
    assert "CREATE TABLE users" in sql
    assert version(any_url) == ()
    assert counts(any_url) == {}


def test_the_magic_on_every_database(shell: Any, workdir: Path, any_url: str) -> None:
    shell.run_cell(USERS)
    run = shell.run_line_magic
    run("migrate", f"config --url {any_url} --metadata Base")
    run("migrate", "init")
    written = run("migrate", 'revision --autogenerate -m "users"')
    revision = written.written[0].revision  # the revision written, attached to its operations table
    steps = run("migrate", "upgrade head")
    assert isinstance(steps, pd.DataFrame)
    assert list(steps["direction"]) == ["up"]
    history = run("migrate", "history --verbose")
    assert isinstance(history, pd.DataFrame)
    assert list(history["revision"]) == [revision]
    current = run("migrate", "current")
    assert current is not None
    down = run("migrate", "downgrade base")
    assert list(down["direction"]) == ["down"]
    assert version(any_url) == ()
