"""Locking: concurrent upgrades of one database apply each revision exactly once.

Real subprocesses and threads. Where the database can show who waits on a lock (PostgreSQL's
pg_locks, MariaDB's process list), the tests wait until the second migration is really blocked
behind the first before letting the first go on; nothing is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import DatabaseError, MigrationResult, Migrator
from sakyum_magic.compat import engine_options
from sakyum_magic.locking import LOCK_NAME, advisory_key, database_lock, file_lock, sqlite_lock_path
from tests.revisions import body, version, write

REVISIONS = 5
GATE_KEY = 4242
GATE_NAME = "sakyum_test_gate"
HOLDING = "the first process to reach r1 holding the migration lock"
WAITING = "the second process to wait for the migration lock"

WORKER = """
import json, sys
from sakyum_magic import Migrator
from sakyum_magic.render import migration

result = Migrator(url=sys.argv[1]).upgrade("head")
print(json.dumps({
    "steps": [step.revision for step in result.steps],
    "before": list(result.before),
    "after": list(result.after),
    "shown": repr(migration(result)),
}))
"""

GATES = {
    "postgres": f"""
        op.execute("SELECT pg_advisory_lock({GATE_KEY})")
        op.execute("SELECT pg_advisory_unlock({GATE_KEY})")
        """,
    "mysql": f"""
        op.execute("SELECT GET_LOCK('{GATE_NAME}', 120)")
        op.execute("SELECT RELEASE_LOCK('{GATE_NAME}')")
        """,
    "sqlite": """
        import pathlib, time
        gate = pathlib.Path(op.get_context().config.config_file_name).parent / "gate"
        for _ in range(12000):
            if gate.exists():
                break
            time.sleep(0.01)
        """,
}


def write_logged_chain(directory: Path, gate: str = "") -> list[str]:
    """r1..r5: r1 creates the log table (after an optional gate); each revision logs itself once
    and creates a table, so running a revision twice would also fail loudly."""
    ids = [f"r{k}" for k in range(1, REVISIONS + 1)]
    create_log = 'op.create_table("applied", sa.Column("revision", sa.String(8)))'
    for k, revision in enumerate(ids, start=1):
        parts = [gate, create_log] if k == 1 else []
        parts += [
            f"op.execute(\"INSERT INTO applied (revision) VALUES ('{revision}')\")",
            f'op.create_table("t{k}", sa.Column("id", sa.Integer, primary_key=True))',
        ]
        undo = [f'op.drop_table("t{k}")']
        undo += (
            ['op.drop_table("applied")']
            if k == 1
            else [f"op.execute(\"DELETE FROM applied WHERE revision = '{revision}'\")"]
        )
        write(directory, revision, ids[k - 2] if k > 1 else None, body(*parts), body(*undo))
    return ids


def applied(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT revision, COUNT(*) FROM applied GROUP BY revision")
            return {row[0]: row[1] for row in connection.execute(query)}
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    """Poll until ``condition`` holds; a stuck test fails with ``what`` instead of hanging."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


class Worker:
    """``upgrade head`` in a separate Python process, from the test's working directory."""

    def __init__(self, workdir: Path, url: str) -> None:
        script = workdir / "worker.py"
        script.write_text(WORKER)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.process = subprocess.Popen(
            [sys.executable, str(script), url],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self) -> dict[str, Any]:
        out, err = self.process.communicate(timeout=180)
        assert self.process.returncode == 0, err
        return dict(json.loads(out.strip().splitlines()[-1]))


def assert_once_then_nothing(first: dict[str, Any], second: dict[str, Any], url: str) -> None:
    ids = [f"r{k}" for k in range(1, REVISIONS + 1)]
    assert first["steps"] == ids
    assert first["after"] == second["before"] == second["after"] == ["r5"]
    assert second["steps"] == []
    assert second["shown"] == "Nothing to do: the database is already at r5."
    assert applied(url) == dict.fromkeys(ids, 1)
    assert version(url) == ("r5",)


@pytest.fixture
def initialized(workdir: Path) -> Callable[[str], Migrator]:
    def make(url: str) -> Migrator:
        m = Migrator(url=url)
        m.init()
        return m

    return make


def pg_waiting(url: str, key: int) -> Callable[[], bool]:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    query = sa.text(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid::bigint = :high AND objid::bigint = :low"
    )
    params = {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}

    def check() -> bool:
        with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
            return bool(connection.execute(query, params).scalar_one())

    return check


def test_two_processes_on_postgres(
    workdir: Path, postgres_url: str, initialized: Callable[[str], Migrator]
) -> None:
    write_logged_chain(initialized(postgres_url).directory, GATES["postgres"])
    gate = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool, **engine_options()).connect()
    gate.execute(sa.text(f"SELECT pg_advisory_lock({GATE_KEY})"))
    gate.commit()
    first = Worker(workdir, postgres_url)
    wait_for(pg_waiting(postgres_url, GATE_KEY), HOLDING)
    second = Worker(workdir, postgres_url)
    wait_for(pg_waiting(postgres_url, advisory_key()), WAITING)
    gate.execute(sa.text(f"SELECT pg_advisory_unlock({GATE_KEY})"))
    gate.close()
    assert_once_then_nothing(first.result(), second.result(), postgres_url)


def mysql_waiting(url: str, fragment: str) -> Callable[[], bool]:
    query = sa.text(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
        "WHERE STATE = 'User lock' AND INFO LIKE :fragment"
    )

    def check() -> bool:
        with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
            return bool(connection.execute(query, {"fragment": f"%{fragment}%"}).scalar_one())

    return check


def test_two_processes_on_mariadb(
    workdir: Path, mysql_url: str, initialized: Callable[[str], Migrator]
) -> None:
    write_logged_chain(initialized(mysql_url).directory, GATES["mysql"])
    gate = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool).connect()
    gate.execute(sa.text(f"SELECT GET_LOCK('{GATE_NAME}', 0)"))
    first = Worker(workdir, mysql_url)
    wait_for(mysql_waiting(mysql_url, GATE_NAME), HOLDING)
    second = Worker(workdir, mysql_url)
    wait_for(mysql_waiting(mysql_url, LOCK_NAME), WAITING)
    gate.execute(sa.text(f"SELECT RELEASE_LOCK('{GATE_NAME}')"))
    gate.close()
    assert_once_then_nothing(first.result(), second.result(), mysql_url)


def test_two_processes_on_sqlite(
    workdir: Path, sqlite_url: str, initialized: Callable[[str], Migrator]
) -> None:
    write_logged_chain(initialized(sqlite_url).directory, GATES["sqlite"])
    lock_file = sqlite_lock_path(sa.engine.make_url(sqlite_url))
    assert lock_file is not None
    # Both start while the test holds the database's lock, so whichever goes first, the other waits.
    with file_lock(lock_file):
        workers = [Worker(workdir, sqlite_url), Worker(workdir, sqlite_url)]
        (workdir / "gate").touch()
    results = sorted((w.result() for w in workers), key=lambda r: len(r["steps"]), reverse=True)
    assert_once_then_nothing(results[0], results[1], sqlite_url)
    assert not lock_file.exists()


def run_in_threads(*calls: Callable[[], MigrationResult]) -> list[MigrationResult]:
    results: list[Any] = [None] * len(calls)

    def target(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            results[index] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return results


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_two_threads_on_one_database(
    request: pytest.FixtureRequest, workdir: Path, database: str, initialized: Callable[[str], Migrator]
) -> None:
    url = str(request.getfixturevalue(f"{database}_url"))
    write_logged_chain(initialized(url).directory)
    a, b = Migrator(url=url), Migrator(url=url)
    results = run_in_threads(lambda: a.upgrade("head"), lambda: b.upgrade("head"))
    a.dispose()
    b.dispose()
    first, second = sorted(results, key=lambda r: len(r.steps), reverse=True)
    assert_once_then_nothing(
        {"steps": [s.revision for s in first.steps], "after": list(first.after)},
        {
            "steps": [s.revision for s in second.steps],
            "before": list(second.before),
            "after": list(second.after),
            "shown": "Nothing to do: the database is already at r5.",
        },
        url,
    )


def test_threads_on_different_databases_do_not_share_alembic_context(workdir: Path) -> None:
    """Alembic's context and op proxies are module globals; the process lock keeps each run whole."""
    migrators = []
    for name in ("one", "two", "three"):
        (workdir / name).mkdir()
        url = f"sqlite:///{workdir / name / 'db.sqlite'}"
        m = Migrator(url=url, directory=workdir / name / "alembic", ini=workdir / name / "alembic.ini")
        m.init()
        write_logged_chain(m.directory)
        migrators.append((m, url))
    for _round in range(3):
        results = run_in_threads(*(lambda m=m: m.upgrade("head") for m, _ in migrators))
        assert all([s.revision for s in r.steps] == [f"r{k}" for k in range(1, 6)] for r in results)
        for m, url in migrators:
            assert applied(url) == {f"r{k}": 1 for k in range(1, 6)}
            downs = run_in_threads(lambda m=m: m.downgrade("base"))
            assert len(downs[0].steps) == REVISIONS
    for m, _ in migrators:
        m.dispose()


def test_sqlite_lock_wait_gives_up_with_a_clear_error(workdir: Path, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    path = sqlite_lock_path(engine.url)
    assert path == workdir / "test.db.lock"
    with (
        file_lock(path),
        pytest.raises(DatabaseError, match=r"another migration of .* still holds"),
        database_lock(engine, timeout=0.05),
    ):
        pass
    assert not path.exists()
    with database_lock(engine):
        assert path.exists()
    assert not path.exists()
    assert sqlite_lock_path(sa.engine.make_url("sqlite://")) is None


def test_postgres_lock_wait_gives_up_with_a_clear_error(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url, **engine_options())
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key()})
        with pytest.raises(DatabaseError, match="has held its lock"), database_lock(engine, timeout=0.05):
            pass
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key()})
    with database_lock(engine):
        pass
    engine.dispose()


def test_mariadb_lock_wait_gives_up_with_a_clear_error(mysql_url: str) -> None:
    engine = sa.create_engine(mysql_url, **engine_options())
    with engine.connect() as holder:
        database = holder.execute(sa.text("SELECT DATABASE()")).scalar_one()
        name = f"{LOCK_NAME}:{database}"[:64]
        holder.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name})
        with pytest.raises(DatabaseError, match="has held its lock"), database_lock(engine, timeout=0):
            pass
        holder.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    with database_lock(engine):
        pass
    engine.dispose()


def test_lock_contexts_nest_in_one_thread(sqlite_url: str) -> None:
    """The process lock is re-entrant: a command that runs another inside it does not deadlock."""
    m = Migrator(url=sqlite_url)
    m.init()
    write_logged_chain(m.directory)
    from sakyum_magic.locking import alembic_context

    with alembic_context():
        assert [s.revision for s in m.upgrade("r2").steps] == ["r1", "r2"]
    m.dispose()
