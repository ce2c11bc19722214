"""The applied-at log: one row per step, in the step's transaction; failures logged after rollback;
the same rows when the alembic CLI runs the env.py that init wrote."""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, MigrationError, Migrator
from tests.revisions import write
from tests.shells import alembic, migrate

CREATE = "op.create_table('{0}', sa.Column('id', sa.Integer))"


UP_DOWN_STAMP = [
    ("r2", "stamp", "r1", "r2"),
    ("r2", "down", "r2", "r1"),
    ("r2", "up", "r1", "r2"),
    ("r1", "up", "base", "r1"),
]
"""The log, newest first, of upgrade head, downgrade -1 and stamp head over r1 <- r2."""


def logged_steps(log: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(e.revision, e.direction, e.from_revision, e.to_revision) for e in log]


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
    assert logged_steps(log) == UP_DOWN_STAMP
    assert all(e.ok and e.who and e.tool.startswith("sakyum-magic ") for e in log)
    assert [e.revision for e in migrator.log(limit=1)] == ["r2"]
    assert len(migrator.log(limit=2**63)) == 4 and migrator.log(limit=0) == []  # past SQLite's integers
    with pytest.raises(ConfigurationError, match="0 or more"):
        migrator.log(limit=-1)
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


# -- the alembic CLI running the env.py init wrote keeps the same log ---------------------------------


def cli_tool() -> str:
    import alembic

    return f"alembic {alembic.__version__} via env.py"


def test_cli_steps_are_logged_as_the_magic_logs_them(url: str, workdir: Path) -> None:
    migrator = Migrator(url=url)
    migrator.init()
    chain(migrator)
    alembic(workdir, "upgrade", "head", url=url)
    alembic(workdir, "downgrade", "-1", url=url)
    alembic(workdir, "stamp", "head", url=url)
    log = migrator.log()
    assert logged_steps(log) == UP_DOWN_STAMP
    assert all(e.ok and e.tool == cli_tool() and e.who == getpass.getuser() for e in log)
    assert all(e.applied_at.endswith("+00:00") and e.seconds is not None and e.seconds >= 0 for e in log)
    assert log[3].seconds > 0  # r1 ran a statement: the time is the revision's own
    history = {h.info.revision: h.applied_at for h in migrator.history(indicate_current=True)}
    assert history == {"r1": log[3].applied_at, "r2": log[2].applied_at}


def test_a_failed_cli_step_is_logged_after_its_rollback(url: str, workdir: Path) -> None:
    migrator = Migrator(url=url)
    migrator.init()
    chain(migrator, failing=True)
    with pytest.raises(subprocess.CalledProcessError) as failed:
        alembic(workdir, "upgrade", "head", url=url)
    assert "nope" in failed.value.stderr
    assert [r.revision for r in migrator.current().revisions] == ["r1"]  # r2 left no version behind
    failure, applied = migrator.log()
    assert (failure.revision, failure.direction, failure.from_revision, failure.to_revision) == (
        "r2",
        "up",
        "r1",
        "r1",
    )
    assert (failure.ok, failure.seconds, failure.tool) == (False, None, cli_tool())
    assert (applied.revision, applied.ok) == ("r1", True)


def test_the_cli_log_can_be_turned_off(workdir: Path, sqlite_url: str) -> None:
    migrator = Migrator(url=sqlite_url)
    migrator.init()
    chain(migrator)
    ini = workdir / "alembic.ini"
    assert "# sakyum_audit = false" in ini.read_text()
    alembic(workdir, "-x", "audit=false", "upgrade", "r1")
    assert migrator.log() == []
    ini.write_text(ini.read_text().replace("# sakyum_audit = false", "sakyum_audit = false"))
    alembic(workdir, "upgrade", "head")
    assert migrator.log() == []
    alembic(workdir, "-x", "audit=yes", "downgrade", "-1")  # the command line wins over alembic.ini
    assert [(e.revision, e.direction) for e in migrator.log()] == [("r2", "down")]
    with pytest.raises(subprocess.CalledProcessError) as refused:
        alembic(workdir, "-x", "audit=maybe", "upgrade", "head")
    assert "audit is true or false, not 'maybe'" in refused.value.stderr
    assert [r.revision for r in migrator.current().revisions] == ["r1"]


def test_one_row_per_step_whichever_tool_runs(url: str, workdir: Path) -> None:
    migrator = Migrator(url=url)
    migrator.init()
    chain(migrator)
    alembic(workdir, "upgrade", "r1", url=url)
    migrator.upgrade()
    alembic(workdir, "downgrade", "-1", url=url)
    migrator.stamp("head")
    migrator.audit = False  # the magic running init's env.py then logs nothing, and env.py neither
    migrator.stamp("r1")
    alembic(workdir, "upgrade", "head", url=url)
    migrator.downgrade("base")
    log = [(e.revision, e.direction, e.tool.split()[0]) for e in migrator.log()]
    assert log == [
        ("r2", "up", "alembic"),
        ("r2", "stamp", "sakyum-magic"),
        ("r2", "down", "alembic"),
        ("r2", "up", "sakyum-magic"),
        ("r1", "up", "alembic"),
    ]


def test_cli_autogenerate_leaves_the_log_alone(workdir: Path, sqlite_url: str) -> None:
    migrator = Migrator(url=sqlite_url)
    migrator.init()
    models = [
        "import sqlalchemy as sa",
        "metadata = sa.MetaData()",
        "sa.Table('t1', metadata, sa.Column('id', sa.Integer))",
    ]
    (workdir / "mymodels.py").write_text("\n".join(models) + "\n")
    ini = workdir / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("# sakyum_metadata = myapp.models:db", "sakyum_metadata = mymodels")
    )
    write(migrator.directory, "r1", None, CREATE.format("t1"))
    alembic(workdir, "upgrade", "head")
    assert len(migrator.log()) == 1
    alembic(workdir, "check")  # the log table is no model's, and no change either


def test_the_magic_shows_the_cli_rows(shell: Any, workdir: Path, sqlite_url: str) -> None:
    migrate(shell, f"config --url {sqlite_url}")
    migrate(shell, "init")
    migrator = Migrator(url=sqlite_url)
    chain(migrator)
    alembic(workdir, "upgrade", "r1")
    migrate(shell, "upgrade")
    log = migrate(shell, "log")
    assert list(log["revision"]) == ["r2", "r1"]
    assert list(log["tool"].str.split().str[0]) == ["sakyum-magic", "alembic"]
    history = migrate(shell, "history -i").set_index("revision")
    assert history.loc["r1", "applied_at"] == log["applied_at"].iloc[1]
