"""``kill -9`` in the middle of a revision, on SQLite and PostgreSQL, whose DDL is transactional
(and on MariaDB, whose DDL is not: there the next run finds r6's table and says so).

A real subprocess upgrades a chain of revisions with rows; revision r6 creates its table, fills it,
and waits at a gate the test holds: in Python (the session is idle in its transaction) or, on
PostgreSQL, in a statement that waits for a lock (the server is busy for the dead client). The test
sends SIGKILL once the run is at the gate. Afterwards the database is at the whole revision r5 (its
tables and all their rows, none of r6's), nothing of the dead run is left on the server, no lock is
left behind (a SQLite lock file still naming the dead process holds nobody up), and the next run, in
a fresh process that will not wait for any lock, applies r6..r12 once each. Nothing is timed: the
test waits on conditions, with a limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from sakyum_magic._core.compat import engine_options
from sakyum_magic._guards.lockfiles import read_holder, sqlite_lock_files
from sakyum_magic._guards.locking import advisory_key
from sakyum_magic._run.database import LOG_TABLE
from tests.revisions import body, counts, one_value, table_with_rows, version, write
from tests.test_locking import GATE_KEY, wait_for

REVISIONS = 12
KILLED_IN = 6

WORKER = """
import json, sys
from sakyum_magic import Migrator

result = Migrator(url=sys.argv[1], lock_timeout=float(sys.argv[2])).upgrade("head")
print(json.dumps({"steps": [step.revision for step in result.steps], "after": list(result.after)}))
"""


class Gate:
    """Where r6 waits: for a file (``python``), or for an advisory lock (``statement``, PostgreSQL)."""

    def __init__(self, kind: str, workdir: Path, url: str) -> None:
        self.kind, self.workdir, self.url = kind, workdir, url
        self.holder: sa.Connection | None = None
        if kind == "statement":
            self.holder = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options()).connect()
            self.holder.execute(sa.text(f"SELECT pg_advisory_lock({GATE_KEY})"))
            self.holder.commit()

    def body(self) -> str:
        """Upgrade body: wait at the gate (a file for at most 120 s; the lock for as long as it takes)."""
        if self.kind == "statement":
            return f'op.execute("SELECT pg_advisory_lock({GATE_KEY})")'
        return f"""
        import pathlib, time
        for _ in range(12000):
            if pathlib.Path({str(self.workdir / "gate")!r}).exists():
                break
            time.sleep(0.01)
        """

    def reached(self) -> bool:
        """Whether the run is waiting at the gate (a note it leaves in a file; a waiter in pg_locks)."""
        if self.kind == "statement":
            return gate_waiting(self.url)
        return (self.workdir / "inside").exists()

    def open(self) -> None:
        (self.workdir / "gate").touch()
        if self.holder is not None:
            self.holder.close()


def gate_waiting(url: str) -> bool:
    """Whether a session waits for the gate's advisory lock in the test's own database."""
    query = (
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :key "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    return bool(one_value(url, query, key=GATE_KEY))


def gated_chain(directory: Path, gate: Gate) -> list[str]:
    """r1..r12: revision k creates t<k> with 10*k rows; r6 then waits at the gate."""
    inside = f"import pathlib\npathlib.Path({str(gate.workdir / 'inside')!r}).touch()"
    ids = [f"r{k}" for k in range(1, REVISIONS + 1)]
    for k, revision in enumerate(ids, start=1):
        upgrade = body(table_with_rows(k), inside, gate.body()) if k == KILLED_IN else table_with_rows(k)
        write(directory, revision, ids[k - 2] if k > 1 else None, upgrade, f'op.drop_table("t{k}")')
    return ids


def upgrade_in_a_process(workdir: Path, url: str, lock_timeout: float) -> subprocess.Popen[str]:
    script = workdir / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.Popen(
        [sys.executable, str(script), url, str(lock_timeout)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def rows_of(first: int, last: int) -> dict[str, int]:
    """The tables revisions r<first>..r<last> create, with their rows."""
    return {f"t{k}": 10 * k for k in range(first, last + 1)}


def logged(url: str) -> dict[str, int]:
    """How many times each revision was logged as applied (upgrade, ok)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options())
    try:
        with engine.connect() as connection:
            query = sa.text(
                f"SELECT revision, COUNT(*) FROM {LOG_TABLE} WHERE direction = 'up' AND ok GROUP BY revision"
            )
            return {row[0]: row[1] for row in connection.execute(query)}
    finally:
        engine.dispose()


def killed_inside_r6(workdir: Path, url: str, gate: Gate) -> int:
    """Start the upgrade, SIGKILL it once r6 waits at the gate; the dead process id."""
    migrator = Migrator(url=url)
    migrator.init()
    migrator.dispose()
    gated_chain(workdir / "alembic", gate)
    child = upgrade_in_a_process(workdir, url, 600)
    try:
        wait_for(lambda: gate.reached() or child.poll() is not None, "r6 to reach the gate", 60)
        assert child.poll() is None, child.communicate()[1]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    return child.pid


def assert_whole_at_r5(url: str) -> None:
    """The version row names r5, and the schema and rows are exactly r1..r5's."""
    assert version(url) == (f"r{KILLED_IN - 1}",)
    assert counts(url) == rows_of(1, KILLED_IN - 1)
    assert logged(url) == {f"r{k}": 1 for k in range(1, KILLED_IN)}


def assert_continued_to_head(workdir: Path, url: str, gate: Gate) -> None:
    """A fresh process that gives up at once if any lock is held applies r6..r12, each once."""
    gate.open()
    result = finished(upgrade_in_a_process(workdir, url, 0))
    assert result == {"steps": [f"r{k}" for k in range(KILLED_IN, REVISIONS + 1)], "after": ["r12"]}
    assert version(url) == ("r12",)
    assert counts(url) == rows_of(1, REVISIONS)
    assert logged(url) == {f"r{k}": 1 for k in range(1, REVISIONS + 1)}


def test_sqlite_killed_mid_revision(workdir: Path, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url, **engine_options())
    with engine.connect():
        pass  # the file exists, so the run locks it by path and by device and inode
    engine.dispose()
    gate = Gate("python", workdir, sqlite_url)
    dead = killed_inside_r6(workdir, sqlite_url, gate)
    locks = sqlite_lock_files(engine.url)
    try:
        # Left on disk, naming the dead process; flock was released by the kernel with the process.
        assert len(locks) == 2 and all((read_holder(path) or {}).get("pid") == dead for path in locks)
        assert (workdir / "test.db-journal").exists()  # r6's transaction, never committed
        assert_whole_at_r5(sqlite_url)  # the first connection to read rolls that hot journal back
        assert_continued_to_head(workdir, sqlite_url, gate)
        assert [path for path in locks if path.exists()] == []
    finally:
        for path in locks:  # when the test fails: the one in the temporary directory outlives workdir
            path.unlink(missing_ok=True)


def sessions(url: str, gate: Gate) -> int:
    """Sessions on the test's own database other than the one asking and the gate's."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options())
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    keep = {gate.holder.connection.dbapi_connection.info.backend_pid} if gate.holder is not None else set()
    try:
        with engine.connect() as connection:
            return len(set(connection.execute(sa.text(query)).scalars()) - keep)
    finally:
        engine.dispose()


def migration_lock_held(url: str) -> bool:
    unsigned = advisory_key() & 0xFFFFFFFFFFFFFFFF
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options())
    query = sa.text(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND classid::bigint = :high AND objid::bigint = :low "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    try:
        with engine.connect() as connection:
            params = {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}
            return bool(connection.execute(query, params).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("where", ["python", "statement"])
def test_postgres_killed_mid_revision(workdir: Path, postgres_url: str, where: str) -> None:
    gate = Gate(where, workdir, postgres_url)
    killed_inside_r6(workdir, postgres_url, gate)
    # Idle in transaction, a session notices its client's socket close at once; busy in a statement,
    # it is told by the client check the run asked for. Either way r6 rolls back, the advisory lock is
    # released, and nothing of the dead run goes on, while the gate is still shut.
    wait_for(lambda: sessions(postgres_url, gate) == 0, "the killed process's sessions to end", 30)
    assert not migration_lock_held(postgres_url)
    assert_whole_at_r5(postgres_url)
    assert_continued_to_head(workdir, postgres_url, gate)
    assert not migration_lock_held(postgres_url)


def mysql_sessions(url: str) -> int:
    """Connections to the test's own database other than the one asking."""
    query = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
    )
    return int(str(one_value(url, query)))


@pytest.mark.mysql
def test_mariadb_killed_mid_revision(workdir: Path, mysql_url: str) -> None:
    """DDL commits at once here: r6's table stays (its rows do not), and the next run says so."""
    gate = Gate("python", workdir, mysql_url)
    dead = killed_inside_r6(workdir, mysql_url, gate)
    wait_for(lambda: mysql_sessions(mysql_url) == 0, "the killed process's connections to end", 30)
    assert version(mysql_url) == ("r5",)
    assert counts(mysql_url) == rows_of(1, 5) | {"t6": 0}
    assert logged(mysql_url) == {f"r{k}": 1 for k in range(1, KILLED_IN)}
    refused = upgrade_in_a_process(workdir, mysql_url, 0)  # takes the lock at once, then refuses
    _out, err = refused.communicate(timeout=120)
    assert refused.returncode == 1
    assert "revision r6 did not finish (upgrade begun" in err and f"by process {dead} " in err
    assert "left: created table t6" in err
    engine = sa.create_engine(mysql_url, **engine_options())
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE t6"))  # the way out: undo by hand, stamp, go on
    engine.dispose()
    migrator = Migrator(url=mysql_url)
    migrator.stamp("r5")
    migrator.dispose()
    assert_continued_to_head(workdir, mysql_url, gate)
