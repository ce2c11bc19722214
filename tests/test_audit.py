"""The applied-at log: one row per step, in the step's transaction; failures logged after rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from tests.revisions import write

CREATE = "op.create_table('{0}', sa.Column('id', sa.Integer))"


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def url(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{workdir / 'test.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def chain(migrator: Migrator, failing: bool = False) -> None:
    write(migrator.directory, "r1", None, CREATE.format("t1"), "op.drop_table('t1')")
    second = "op.execute('SELECT * FROM nope')" if failing else CREATE.format("t2")
    write(migrator.directory, "r2", "r1", second, "op.drop_table('t2')")


def test_each_step_is_logged_newest_first(url: str) -> None:
    migrator = Migrator(url=url, metadata=sa.MetaData())
    migrator.init()
    chain(migrator)
    migrator.upgrade()
    migrator.downgrade("-1")
    migrator.stamp("head")
    log = migrator.log()
    assert [(e.revision, e.direction, e.from_revision, e.to_revision) for e in log] == [
        ("r2", "stamp", "r1", "r2"),
        ("r2", "down", "r2", "r1"),
        ("r2", "up", "r1", "r2"),
        ("r1", "up", "base", "r1"),
    ]
    assert all(e.ok and e.who and e.tool.startswith("sakyum-magic ") for e in log)
    assert [e.revision for e in migrator.log(limit=1)] == ["r2"]
    history = {h.info.revision: h.applied_at for h in migrator.history(indicate_current=True)}
    assert history["r1"] == log[3].applied_at and history["r2"] == log[2].applied_at
    assert not [op for op in migrator.diff() if op.table == "sakyum_migration_log"]


def test_a_failed_step_is_logged_after_its_rollback(url: str) -> None:
    migrator = Migrator(url=url)
    migrator.init()
    chain(migrator, failing=True)
    with pytest.raises(MigrationError):
        migrator.upgrade()
    newest = migrator.log()[0]
    assert (newest.revision, newest.ok, newest.from_revision) == ("r2", False, "r1")


def test_plan_logs_nothing_and_audit_can_be_off(workdir: Path) -> None:
    migrator = Migrator(url=f"sqlite:///{workdir / 'test.db'}")
    migrator.init()
    chain(migrator)
    migrator.upgrade("r1")
    migrator.plan()
    assert len(migrator.log()) == 1
    migrator.audit = False
    migrator.upgrade()
    assert len(migrator.log()) == 1
