"""Where DDL commits at once (MariaDB), a revision that stopped halfway is found and described by the
next run, after an error and after ``kill -9``; ``stamp`` is the way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, Migrator
from tests.revisions import version, write

pytestmark = pytest.mark.mysql

CREATE = "op.create_table('{0}', sa.Column('id', sa.Integer))"


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def three(migrator: Migrator, second: str) -> None:
    write(migrator.directory, "r1", None, CREATE.format("t1"), "op.drop_table('t1')")
    write(migrator.directory, "r2", "r1", second, "op.drop_table('t2')")
    write(migrator.directory, "r3", "r2", CREATE.format("t3"), "op.drop_table('t3')")


def test_a_failed_revision_is_found_by_the_next_run(mysql_url: str, workdir: Path) -> None:
    migrator = Migrator(url=mysql_url)
    migrator.init()
    three(migrator, CREATE.format("t2") + "\nop.execute('SELECT * FROM nope')")
    with pytest.raises(
        MigrationError, match=r"in revision r2 .*partly applied \(created table t2\).*stamp r1"
    ):
        migrator.upgrade()
    assert version(mysql_url) == ("r1",)
    with pytest.raises(
        MigrationError, match=r"revision r2 did not finish .*left: created table t2"
    ) as caught:
        migrator.upgrade()
    assert "Fix the revision file" not in str(caught.value)
    assert "sakyum_in_progress" not in str(caught.value)
    migrator.metadata = sa.MetaData()  # no models: the database's own tables show as removals
    removed = {op.table for op in migrator.diff()}
    assert "t1" in removed and "sakyum_in_progress" not in removed
    # The way out: undo by hand, fix the file, stamp where the schema really is, upgrade.
    engine = sa.create_engine(mysql_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE t2")
    engine.dispose()
    three(migrator, CREATE.format("t2"))
    migrator.stamp("r1")
    assert [s.revision for s in migrator.upgrade().steps] == ["r2", "r3"]
    assert {"t1", "t2", "t3"} <= tables(mysql_url)


def test_a_run_killed_mid_revision_is_found_by_the_next_run(mysql_url: str, workdir: Path) -> None:
    migrator = Migrator(url=mysql_url)
    migrator.init()
    three(migrator, CREATE.format("t2") + "\nimport time\ntime.sleep(30)")
    script = f"from sakyum_magic import Migrator\nMigrator(url={mysql_url!r}).upgrade()\n"
    child = subprocess.Popen([sys.executable, "-c", script], cwd=workdir)
    try:
        deadline = time.monotonic() + 20
        while "t2" not in tables(mysql_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "t2" in tables(mysql_url)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert version(mysql_url) == ("r1",)
    with pytest.raises(
        MigrationError, match=rf"revision r2 did not finish .*process {child.pid} .*created table t2"
    ):
        migrator.upgrade()
    migrator.stamp("r2")  # it created all it had to: say so
    assert [s.revision for s in migrator.upgrade().steps] == ["r3"]
