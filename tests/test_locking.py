"""Locking: concurrent upgrades of one database apply each revision exactly once, whichever tool runs them.

Real subprocesses (the core, and the plain ``alembic`` CLI running the env.py ``%migrate init`` writes),
threads and a real IPython shell. The first migration waits at a gate inside its first revision; the
tests wait until the second is really blocked behind the first (seen in pg_locks, MariaDB's process
list, or the waiter's own message) before opening the gate; nothing is timed.
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
from sakyum_magic._core.compat import engine_options
from sakyum_magic._guards.lockfiles import read_holder, sqlite_lock_files, sqlite_path_lock
from sakyum_magic._guards.locking import LOCK_NAME, advisory_key, database_lock, mysql_lock_name
from tests.revisions import body, version, write

REVISIONS = 5
GATE_KEY = 4242
GATE_NAME = "sakyum_test_gate"
HOLDING = "the first process to reach r1 holding the migration lock"
WAITING = "the second process to wait for the migration lock"

WORKER = """
import json, sys
from sakyum_magic import Migrator
from sakyum_magic._display.render import migration

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
    engine = sa.create_engine(sqlite_url)
    # Both start while the test holds the database's lock, so whichever goes first, the other waits.
    with database_lock(engine):
        workers = [Worker(workdir, sqlite_url), Worker(workdir, sqlite_url)]
        (workdir / "gate").touch()
    results = sorted((w.result() for w in workers), key=lambda r: len(r["steps"]), reverse=True)
    assert_once_then_nothing(results[0], results[1], sqlite_url)
    assert [p for p in sqlite_lock_files(engine.url) if p.exists()] == []
    engine.dispose()


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
    with engine.connect():
        pass  # the file exists: it is locked by path and by identity
    files = sqlite_lock_files(engine.url)
    assert files[0] == workdir / "test.db.lock" and len(files) == 2
    with (
        database_lock(engine),
        pytest.raises(DatabaseError, match=r"another migration of .* has held its lock for over 0.05 s"),
        database_lock(engine, timeout=0.05, on_wait=lambda _message: None),
    ):
        pass
    assert [p for p in files if p.exists()] == []
    with database_lock(engine):
        assert all(p.exists() for p in files)
    assert [p for p in files if p.exists()] == []
    assert sqlite_lock_files(sa.engine.make_url("sqlite://")) == []
    engine.dispose()


def test_postgres_lock_wait_gives_up_with_a_clear_error(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url, **engine_options())
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key()})
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with (
            pytest.raises(DatabaseError, match=f"has held its lock .*server process {pid}"),
            database_lock(engine, timeout=0.05, on_wait=lambda _message: None),
        ):
            pass
        holder.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_key()})
    with database_lock(engine):
        pass
    engine.dispose()


def test_mariadb_lock_wait_gives_up_with_a_clear_error(mysql_url: str) -> None:
    engine = sa.create_engine(mysql_url, **engine_options())
    with engine.connect() as holder:
        name = mysql_lock_name(holder.execute(sa.text("SELECT DATABASE()")).scalar_one())
        holder.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": name})
        connection_id = holder.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
        with (
            pytest.raises(DatabaseError, match=f"has held its lock .*MySQL connection {connection_id} "),
            database_lock(engine, timeout=0, on_wait=lambda _message: None),
        ):
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
    from sakyum_magic._guards.locking import alembic_context

    with alembic_context():
        assert [s.revision for s in m.upgrade("r2").steps] == ["r1", "r2"]
    m.dispose()


# -- the magic and the plain alembic CLI -------------------------------------------------------------

WAITING_TEXT = "waiting for another migration of"


class Cli:
    """``alembic upgrade head`` in a subprocess, through the env.py ``%migrate init`` wrote."""

    def __init__(self, workdir: Path, url: str) -> None:
        self.err = workdir / "cli.err"
        env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, "DATABASE_URL": url}
        with self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alembic", "upgrade", "head"],
                cwd=workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def stderr(self) -> str:
        return self.err.read_text()

    def finish(self) -> str:
        assert self.process.wait(timeout=180) == 0, self.stderr()
        return self.stderr()


class Gate:
    """Held by the test; revision r1 waits for it (see GATES), so the first migration stays inside."""

    def __init__(self, database: str, url: str, workdir: Path) -> None:
        self.database, self.workdir = database, workdir
        self.connection = None
        if database != "sqlite":
            self.connection = sa.create_engine(url, poolclass=sa.pool.NullPool, **engine_options()).connect()
            take = f"SELECT pg_advisory_lock({GATE_KEY})" if database == "postgres" else None
            self.connection.execute(sa.text(take or f"SELECT GET_LOCK('{GATE_NAME}', 0)"))
            self.connection.commit()

    def open(self) -> None:
        if self.connection is None:
            (self.workdir / "gate").touch()
            return
        if self.connection.closed:
            return
        free = f"SELECT pg_advisory_unlock({GATE_KEY})" if self.database == "postgres" else None
        self.connection.execute(sa.text(free or f"SELECT RELEASE_LOCK('{GATE_NAME}')"))
        self.connection.close()


def holder_named(database: str, url: str, pid: int) -> Callable[[], str | None]:
    """While process ``pid`` holds the migration lock, the words a waiter uses for it; else None."""

    def sqlite() -> str | None:
        tag = read_holder(Path(str(sqlite_path_lock(sa.engine.make_url(url).database or ""))))
        return f"pid {pid} on host" if tag is not None and tag.get("pid") == pid else None

    def server() -> str | None:
        with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
            if database == "postgres":
                names = connection.execute(
                    sa.text(
                        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
                    )
                ).scalars()
                return f"pid {pid} since" if any(f"pid {pid} since" in (n or "") for n in names) else None
            name = mysql_lock_name(connection.execute(sa.text("SELECT DATABASE()")).scalar_one())
            held = connection.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
            return f"MySQL connection {held} " if held is not None else None

    return sqlite if database == "sqlite" else server


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``call`` in a thread; the returned function joins it and gives its result (or raises)."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            outcome.append(exc)

    thread = threading.Thread(target=target)
    thread.start()

    def join() -> Any:
        thread.join(timeout=180)
        assert outcome, "the migration in the thread did not finish"
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    return join


class Shown:
    """What the magic has shown in the cell so far (its waiting notes are printed by the test shell)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys, self.text = capsys, ""

    def read(self) -> str:
        self.text += self.capsys.readouterr().out
        return self.text


def start_second_behind_first(
    first: str, shell: Any, workdir: Path, url: str, database: str, shown: Shown
) -> tuple[Callable[[], Any], Cli, str | None]:
    """Start the first tool, wait until it holds the lock, start the other and wait until it waits.

    Returns the magic's join, the CLI, and the words a waiter uses for the first one.
    """
    upgrade = lambda: shell.run_line_magic("migrate", "upgrade head")  # noqa: E731
    if first == "cli":
        cli = Cli(workdir, url)
        held = holder_named(database, url, cli.process.pid)
        wait_for(lambda: held() is not None, "the CLI to hold the lock")
        holder = held()
        magic = in_thread(upgrade)
        wait_for(lambda: WAITING_TEXT in shown.read(), "the magic to wait for the CLI")
        return magic, cli, holder
    magic = in_thread(upgrade)
    held = holder_named(database, url, os.getpid())
    wait_for(lambda: held() is not None, "the magic to hold the lock")
    holder = held()
    cli = Cli(workdir, url)
    wait_for(lambda: WAITING_TEXT in cli.stderr(), "the CLI to wait for the magic")
    return magic, cli, holder


@pytest.mark.parametrize("database", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize("first", ["cli", "magic"])
def test_magic_and_alembic_cli_upgrade_one_database_at_once(
    request: pytest.FixtureRequest,
    shell: Any,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    first: str,
    database: str,
) -> None:
    url = str(request.getfixturevalue(f"{database}_url"))
    shell.run_line_magic("migrate", f"config --url '{url}'")
    shell.run_line_magic("migrate", "init")
    write_logged_chain(workdir / "alembic", GATES[database])
    gate, cell = Gate(database, url, workdir), Shown(capsys)
    try:
        magic, cli, holder = start_second_behind_first(first, shell, workdir, url, database, cell)
    finally:
        gate.open()  # also when starting failed: nothing is left blocked at the gate
    shown, cli_output = repr(magic()), cli.finish()

    assert applied(url) == {f"r{k}": 1 for k in range(1, REVISIONS + 1)}
    assert version(url) == ("r5",)
    ran_by_cli = cli_output.count("Running upgrade")
    assert ran_by_cli == (REVISIONS if first == "cli" else 0)
    assert shown.startswith("Nothing to do: the database is already at r5.") == (first == "cli")
    waiter_said = cell.read() if first == "cli" else cli_output
    # The cell wraps a long line at word boundaries: read it as one text.
    told = [line for line in " ".join(waiter_said.split()).split(WAITING_TEXT)[1:2]]
    assert told and holder is not None and holder in told[0], told


HOLDER = """
import sys
import sqlalchemy as sa
from sakyum_magic._core.compat import engine_options
from sakyum_magic._guards.locking import database_lock

with database_lock(sa.create_engine(sys.argv[1], **engine_options())):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_waiter_names_the_holder_and_reports_progress(workdir: Path, any_url: str) -> None:
    engine = sa.create_engine(any_url, **engine_options())
    with engine.connect():
        pass
    script = workdir / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen(
        [sys.executable, str(script), any_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline() == "held\n"
    database = "sqlite" if any_url.startswith("sqlite") else "postgres" if "postgres" in any_url else "mysql"
    named = holder_named(database, any_url, holder.pid)()
    messages: list[str] = []
    with (
        pytest.raises(DatabaseError) as caught,
        database_lock(engine, timeout=0.5, on_wait=messages.append, every=0.1),
    ):
        pass
    assert named is not None and named in str(caught.value)
    assert messages[0].startswith(WAITING_TEXT) and named in messages[0]
    assert len([m for m in messages if m.startswith("still waiting")]) >= 2
    holder.stdin.close()
    assert holder.wait(timeout=60) == 0
    messages.clear()
    with database_lock(engine, timeout=30, on_wait=messages.append):
        assert messages == []  # free again at once
    engine.dispose()


# -- env.py repeats the lock's rules -----------------------------------------------------------------


def test_env_py_takes_the_lock_with_the_packages_own_code(workdir: Path) -> None:
    """The lock's rules are one file: what init copies beside env.py is the module the package uses."""
    from sakyum_magic._authoring.template import lock_file
    from sakyum_magic._guards import lockfiles, locking, sakyum_env_lock

    assert lock_file().read_bytes() == Path(sakyum_env_lock.__file__).read_bytes()
    assert locking.advisory_key is sakyum_env_lock.advisory_key
    assert locking.mysql_lock_name is sakyum_env_lock.mysql_lock_name
    assert lockfiles.sqlite_path_lock is sakyum_env_lock.sqlite_path_lock
    assert lockfiles.sqlite_identity_lock is sakyum_env_lock.sqlite_identity_lock
    (workdir / "real.db").write_bytes(b"")
    (workdir / "link.db").symlink_to(workdir / "real.db")
    os.link(workdir / "real.db", workdir / "hard.db")
    (workdir / "dangling.db").symlink_to(workdir / "later.db")
    assert lockfiles.sqlite_identity_lock("link.db") == lockfiles.sqlite_identity_lock("hard.db") is not None
    assert lockfiles.sqlite_path_lock("dangling.db") == lockfiles.sqlite_path_lock("later.db")
    assert lockfiles.sqlite_path_lock(":memory:") is None
    assert lockfiles.sqlite_identity_lock("later.db") is None


# -- a failure caused by another writer -------------------------------------------------------------


def test_a_busy_sqlite_database_is_reported_as_another_writer(workdir: Path, sqlite_url: str) -> None:
    import sqlite3

    from sakyum_magic._guards.locking import busy_error

    writer = sqlite3.connect(workdir / "test.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(sqlite_url, connect_args={"timeout": 0})
    with engine.connect() as connection, pytest.raises(sa.exc.OperationalError) as caught:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER)")
    writer.rollback()
    writer.close()
    error = busy_error(caught.value, engine.url)
    assert error is not None
    assert str(error).startswith(f"another connection is writing to {sqlite_url} (SQLite: SQLITE_BUSY)")
    with engine.connect() as connection, pytest.raises(sa.exc.OperationalError) as other:
        connection.exec_driver_sql("SELECT * FROM no_such_table")
    assert busy_error(other.value, engine.url) is None
    engine.dispose()


def test_a_version_table_changed_by_another_writer_is_reported_as_such() -> None:
    from sakyum_magic._guards.locking import concurrent_change

    url = sa.engine.make_url("postgresql+psycopg://app:s3cret@db/app")
    result = MigrationResult("upgrade", "head", ("r1",), ("r3",))
    error = concurrent_change(url, result, ("r1",))
    assert error is not None
    message = str(error)
    assert message.startswith(
        "another migration changed postgresql+psycopg://app:***@db/app while this upgrade"
    )
    assert "left it at r1, but it is now at r3" in message and "s3cret" not in message
    assert "revision r2" not in message
    assert concurrent_change(url, MigrationResult("upgrade", "head", ("r1",), ("r3",)), ("r3",)) is None
