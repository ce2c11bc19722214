"""Scratch databases: recognisable names, and the ones a killed %migrate test left behind removed by
the next run (a real process killed with SIGKILL, on PostgreSQL and MariaDB)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from sakyum_magic._features.scratch import FOLDER_PREFIX, SCRATCH_PREFIX, remove_stale
from tests.revisions import chain, write

STARTED = "started.txt"
# A revision that says which scratch database it runs on, then waits to be killed.
WAIT = f"""
open({STARTED!r}, "w").write(op.get_bind().engine.url.database)
import time
time.sleep(300)
"""


@pytest.fixture(params=["postgres", "mysql"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def scratch_databases(url: str) -> set[str]:
    """The scratch databases on the server of ``url``."""
    return set(_in_use(url))


def _in_use(url: str) -> dict[str, int]:
    postgres = url.startswith("postgresql")
    query = (
        "SELECT d.datname, (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname) "
        "FROM pg_database d"
        if postgres
        else "SELECT s.schema_name, (SELECT count(*) FROM information_schema.processlist p "
        "WHERE p.db = s.schema_name) FROM information_schema.schemata s"
    )
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(query).all()
    finally:
        engine.dispose()
    return {str(name): int(users) for name, users in rows if str(name).startswith(SCRATCH_PREFIX)}


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def wait_unused(url: str, name: str, timeout: float = 20.0) -> None:
    """Until the server has closed the killed process's connections to ``name``."""
    deadline = time.monotonic() + timeout
    while _in_use(url).get(name, 0) and time.monotonic() < deadline:
        time.sleep(0.1)


@contextmanager
def admin(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def quoted(url: str, name: str) -> str:
    return f'"{name}"' if url.startswith("postgresql") else f"`{name}`"


def killed_run(url: str, workdir: Path) -> tuple[str, int]:
    """Run ``%migrate test``'s upgrade check in a process of its own, kill it (SIGKILL) while r1 runs,
    and give the scratch database it ran on, with the process id."""
    write(workdir / "mig", "r1", None, WAIT)
    run = f"from sakyum_magic import Migrator\nMigrator(url={url!r}, directory='mig').test(['upgrade'])\n"
    process = subprocess.Popen([sys.executable, "-c", run], cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        while not _read(workdir / STARTED) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _read(workdir / STARTED), "the scratch run never began"
    finally:
        process.kill()
        process.wait()
    chain(workdir / "mig", 2)  # r1 as it should be
    return _read(workdir / STARTED), process.pid


def test_a_killed_run_leaves_a_scratch_database_that_the_next_run_removes(url: str, workdir: Path) -> None:
    core = Migrator(url=url, directory="mig", progress=False)
    core.init()
    chain(workdir / "mig", 2)
    left, _pid = killed_run(url, workdir)
    assert left.startswith(SCRATCH_PREFIX) and left in scratch_databases(url)
    wait_unused(url, left)
    while int(time.time()) <= int(left.removeprefix(SCRATCH_PREFIX).split("_")[0]):
        time.sleep(0.1)  # the next run begins in a later second than the killed one's database
    results = core.test(["upgrade"])
    assert results[0].ok, results
    assert left not in scratch_databases(url)


def test_a_scratch_database_in_use_or_newer_than_the_run_is_kept(url: str) -> None:
    started = time.time()
    old_in_use = f"{SCRATCH_PREFIX}{int(started) - 100}_aaaaaaaa"
    old_unused = f"{SCRATCH_PREFIX}{int(started) - 100}_bbbbbbbb"
    newer = f"{SCRATCH_PREFIX}{int(started) + 100}_cccccccc"
    names = [old_in_use, old_unused, newer]
    with admin(url) as connection:
        for name in names:
            connection.exec_driver_sql(f"CREATE DATABASE {quoted(url, name)}")
    try:
        user = sa.create_engine(sa.engine.make_url(url).set(database=old_in_use), poolclass=sa.pool.NullPool)
        with user.connect():
            dropped = remove_stale(Migrator(url=url), started)
        user.dispose()
        assert old_unused in dropped and old_in_use not in dropped and newer not in dropped
        assert scratch_databases(url) & set(names) == {old_in_use, newer}
    finally:
        with admin(url) as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted(url, name)}")


def test_scratch_names_carry_the_prefix_and_their_time() -> None:
    from sakyum_magic._features.scratch import _made_before

    assert _made_before(f"{SCRATCH_PREFIX}100_abcdef12", 101.5)
    assert not _made_before(f"{SCRATCH_PREFIX}101_abcdef12", 101.5)
    assert not _made_before(f"{SCRATCH_PREFIX}abcdef123456", 101.5)  # older releases' names: left alone


@pytest.mark.skipif(sys.platform == "win32", reason="a process id is probed with signal 0 on POSIX only")
def test_a_killed_run_on_sqlite_leaves_a_folder_the_next_run_removes(sqlite_url: str, workdir: Path) -> None:
    core = Migrator(url=sqlite_url, directory="mig", progress=False)
    core.init()
    chain(workdir / "mig", 2)
    left, pid = killed_run(sqlite_url, workdir)
    folder = Path(left).parent
    assert folder.name.startswith(f"{FOLDER_PREFIX}{pid}-") and folder.exists()
    assert core.test(["upgrade"])[0].ok
    assert not folder.exists()
