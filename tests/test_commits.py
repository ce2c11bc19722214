"""PostgreSQL runs of several revisions wait for the disk once, at the last revision's commit.

Every statement the run's engine executes is watched: the deferral appears once per revision but
the last, inside that revision's transaction, and never in a step's SQL, a stamp, a dry run, or on
another database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from sakyum_magic._run.commits import DEFER_CALL, DEFER_FLUSH
from tests.revisions import chain, counts, version, write

FORCED_FLUSH = "SELECT txid_current()"


@pytest.fixture
def watched(request: pytest.FixtureRequest) -> Iterator[tuple[Migrator, list[str], str]]:
    """A Migrator on the parametrised database, and the statements its engine runs (from now on)."""
    url = str(request.getfixturevalue(f"{request.param}_url"))
    migrator = Migrator(url=url)
    migrator.init()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.extend(statement.split("; ") if "alembic_version" in statement else [statement])

    def recording(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.cursor_factory = recording_cursor(statements)

    if url.startswith("postgresql+psycopg:"):  # the driver's cursors: what the pipelines send (pipeline.py)
        sa.event.listen(migrator.engine(), "checkout", recording)
    else:  # one statement each: the log row and the deferral may travel with the version update (carry.py)
        sa.event.listen(migrator.engine(), "before_cursor_execute", seen)
    yield migrator, statements, url
    migrator.dispose()


def recording_cursor(statements: list[str]) -> type:
    """A psycopg 3 cursor class that adds each statement it executes to ``statements``."""
    import psycopg

    class Recording(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
            statements.append(str(query))
            return super().execute(query, params, **options)

    return Recording


def deferrals(statements: list[str]) -> list[int]:
    """Where the deferral was run, as the number of version-table writes before it."""
    versions = 0
    found = []
    for statement in statements:
        writes = statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        if "alembic_version" in statement and writes:
            versions += 1
        if statement == DEFER_FLUSH or DEFER_CALL in statement:  # alone, or in a pipeline's one statement
            found.append(versions)
    return found


@pytest.mark.parametrize("watched", ["postgres"], indirect=True)
def test_every_revision_but_the_last_defers_its_flush(watched: tuple[Migrator, list[str], str]) -> None:
    migrator, statements, _url = watched
    chain(migrator.directory, 4)
    result = migrator.upgrade()
    assert [s.revision for s in result.steps] == ["r1", "r2", "r3", "r4"]
    # after the version update of r1, r2 and r3, before their commits; r4 commits as usual
    assert deferrals(statements) == [1, 2, 3]
    assert FORCED_FLUSH not in statements  # the last commit waited for the disk
    assert not any(DEFER_FLUSH in sql for step in result.steps for sql in step.sql)
    statements.clear()
    down = migrator.downgrade("base")
    assert [s.revision for s in down.steps] == ["r4", "r3", "r2", "r1"]
    assert deferrals(statements) == [1, 2, 3]


@pytest.mark.parametrize("watched", ["postgres"], indirect=True)
def test_one_revision_stamps_and_dry_runs_wait_as_usual(watched: tuple[Migrator, list[str], str]) -> None:
    migrator, statements, url = watched
    chain(migrator.directory, 3)
    migrator.plan()
    migrator.upgrade("r1")
    migrator.stamp("r3")
    migrator.stamp("r1")
    assert deferrals(statements) == []
    assert version(url) == ("r1",)


@pytest.mark.parametrize("watched", ["postgres"], indirect=True)
def test_a_failure_keeps_the_revisions_committed_before_it(watched: tuple[Migrator, list[str], str]) -> None:
    migrator, statements, url = watched
    chain(migrator.directory, 4)
    write(migrator.directory, "r4", "r3", 'op.execute("SELECT * FROM no_such_table")')
    with pytest.raises(MigrationError, match="revision r4"):
        migrator.upgrade()
    assert version(url) == ("r3",)
    assert counts(url) == {"t1": 10, "t2": 20, "t3": 30}
    # r1 and r2 deferred their flush and r3 committed last: one forced flush makes them durable
    assert deferrals(statements) == [1, 2, 3]
    assert statements.count(FORCED_FLUSH) == 1
    deferred = [i for i, s in enumerate(statements) if s == DEFER_FLUSH or DEFER_CALL in s]
    assert statements.index(FORCED_FLUSH) > max(deferred)


@pytest.mark.parametrize("watched", ["sqlite", "mysql"], indirect=True)
def test_other_databases_are_left_alone(watched: tuple[Migrator, list[str], str]) -> None:
    migrator, statements, url = watched
    chain(migrator.directory, 3)
    migrator.upgrade()
    assert statements and deferrals(statements) == []
    assert version(url) == ("r3",)
