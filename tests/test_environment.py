"""Any env.py runs the same way: the bound connection, the step table, no log lines, other databases."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sakyum_magic import ConfigurationError, MigrationError, Migrator
from sakyum_magic._run.environment import same_database
from tests.revisions import write
from tests.shells import alembic

CREATE = "op.create_table('{0}', sa.Column('id', sa.Integer))"


def stock(workdir: Path, url: str, env_edit: tuple[str, str] | None = None) -> Migrator:
    """A directory made by `alembic init` (its env.py opens its own engine), two revisions."""
    alembic(workdir, "init", "stock")
    env = workdir / "stock" / "env.py"
    if env_edit is not None:
        env.write_text(env.read_text().replace(*env_edit))
    migrator = Migrator(url=url, directory=workdir / "stock", ini=workdir / "alembic.ini")
    write(migrator.directory, "aaa1", None, CREATE.format("t1"), "op.drop_table('t1')")
    write(migrator.directory, "bbb2", "aaa1", CREATE.format("t2"), "op.drop_table('t2')")
    return migrator


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stock_env_py_gives_the_step_table_and_no_log_lines(
    workdir: Path, sqlite_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    migrator = stock(workdir, sqlite_url)
    result = migrator.upgrade()
    assert [(s.revision, s.direction) for s in result.steps] == [("aaa1", "up"), ("bbb2", "up")]
    assert any("CREATE TABLE t2" in statement for statement in result.steps[1].sql)
    assert any("Running upgrade aaa1 -> bbb2" in line for line in result.log)
    down = migrator.downgrade("base")
    assert [s.revision for s in down.steps] == ["bbb2", "aaa1"]
    out, err = capfd.readouterr()
    assert "alembic" not in out + err


def test_a_failing_revision_is_named_with_a_stock_env_py(workdir: Path, sqlite_url: str) -> None:
    migrator = stock(workdir, sqlite_url)
    write(migrator.directory, "bbb2", "aaa1", "op.execute('SELECT * FROM nope')")
    with pytest.raises(
        MigrationError, match=r"in revision bbb2 .*1 step\(s\) applied.*now at aaa1"
    ) as caught:
        migrator.upgrade()
    assert caught.value.result.after == ("aaa1",)


def test_plan_with_an_env_py_that_sets_its_own_url_changes_nothing(workdir: Path, sqlite_url: str) -> None:
    """Flask-Migrate's and many applications' env.py set sqlalchemy.url themselves."""
    own = f"config.set_main_option('sqlalchemy.url', {sqlite_url!r})\n"
    migrator = stock(
        workdir, sqlite_url, ("def run_migrations_online", own + "\n\ndef run_migrations_online")
    )
    sa.create_engine(sqlite_url).connect().close()
    before = digest(workdir / "test.db")
    planned = migrator.plan()
    assert [s.revision for s in planned.steps] == ["aaa1", "bbb2"]
    assert digest(workdir / "test.db") == before
    assert migrator.current().revisions == ()


def test_an_env_py_that_opens_a_connection_from_the_given_one(workdir: Path, sqlite_url: str) -> None:
    edit = (
        "    connectable = engine_from_config(",
        "    connectable = config.attributes['connection'].engine\n    unused = dict(",
    )
    migrator = stock(workdir, sqlite_url, edit)
    sa.create_engine(sqlite_url).connect().close()
    before = digest(workdir / "test.db")
    assert len(migrator.plan().steps) == 2
    assert digest(workdir / "test.db") == before
    assert len(migrator.upgrade().steps) == 2


def test_another_database_is_reported_and_never_dry_run(workdir: Path, sqlite_url: str) -> None:
    other = f"sqlite:///{workdir / 'other.db'}"
    edit = (
        "def run_migrations_online",
        f"config.set_main_option('sqlalchemy.url', {other!r})\n\n\ndef run_migrations_online",
    )
    migrator = stock(workdir, sqlite_url, edit)
    sa.create_engine(sqlite_url).connect().close()
    sa.create_engine(other).connect().close()
    before = digest(workdir / "other.db")
    with pytest.raises(
        ConfigurationError, match=r"plan cannot dry-run this env.py: it migrates sqlite:///.*other.db"
    ):
        migrator.plan()
    assert digest(workdir / "other.db") == before
    result = migrator.upgrade()
    assert [s.database for s in result.steps] == [other] * 2
    assert result.notes and "other.db" in result.notes[0]


def test_same_database() -> None:
    assert same_database(make_url("postgresql://u@h/db"), make_url("postgresql+psycopg://u@h/db"))
    assert not same_database(make_url("postgresql://u@h/db"), make_url("postgresql://u@h/other"))
    assert same_database(make_url("sqlite:///x.db"), make_url(f"sqlite:///{Path('x.db').absolute()}"))
    assert not same_database(make_url("sqlite://"), make_url("sqlite:///x.db"))
