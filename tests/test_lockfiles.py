"""SQLite lock files: keyed by the file's identity, so symlinks and hard links serialise; holder tags;
progress messages and the default warning while waiting."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import DatabaseError, Migrator
from sakyum_magic._guards.lockfiles import read_holder, sqlite_lock_files
from sakyum_magic._guards.locking import database_lock
from tests.test_locking import GATES, Worker, assert_once_then_nothing, write_logged_chain


def links(workdir: Path) -> dict[str, Path]:
    """One SQLite database file and two other names for it."""
    real = workdir / "real.db"
    sa.create_engine(f"sqlite:///{real}").connect().close()
    (workdir / "symlink.db").symlink_to(real)
    os.link(real, workdir / "hardlink.db")
    return {"real": real, "symlink": workdir / "symlink.db", "hardlink": workdir / "hardlink.db"}


def no_wait(_message: str) -> None:
    pass


@pytest.mark.parametrize("other", ["symlink", "hardlink"])
def test_another_name_for_the_file_waits_for_the_holder(workdir: Path, other: str) -> None:
    paths = links(workdir)
    holder = sa.create_engine(f"sqlite:///{paths['real']}")
    waiter = sa.create_engine(f"sqlite:///{paths[other]}")
    with (
        database_lock(holder),
        pytest.raises(DatabaseError, match=f"has held its lock .*pid {os.getpid()} on host"),
        database_lock(waiter, timeout=0.05, on_wait=no_wait),
    ):
        pass
    with database_lock(waiter):  # free once released, through any name
        pass
    assert [p for p in sqlite_lock_files(holder.url) + sqlite_lock_files(waiter.url) if p.exists()] == []


def test_a_database_not_created_yet_is_locked_by_its_resolved_path(workdir: Path) -> None:
    (workdir / "dangling.db").symlink_to(workdir / "later.db")
    holder = sa.create_engine(f"sqlite:///{workdir / 'later.db'}")
    waiter = sa.create_engine(f"sqlite:///{workdir / 'dangling.db'}")
    assert sqlite_lock_files(holder.url) == sqlite_lock_files(waiter.url) == [workdir / "later.db.lock"]
    with (
        database_lock(holder),
        pytest.raises(DatabaseError, match="has held its lock"),
        database_lock(waiter, timeout=0.05, on_wait=no_wait),
    ):
        pass


def test_a_run_through_a_link_waits_for_a_database_created_meanwhile(workdir: Path) -> None:
    """The holder started before the file existed (locked by path only); the file appears while it
    holds the lock; a waiter through a symlink then waits on the path lock, and on the identity."""
    target = workdir / "new.db"
    (workdir / "alias.db").symlink_to(target)
    holder = sa.create_engine(f"sqlite:///{target}")
    waiter = sa.create_engine(f"sqlite:///{workdir / 'alias.db'}")
    with database_lock(holder):
        holder.connect().close()  # the migration creates the file
        assert len(sqlite_lock_files(waiter.url)) == 2
        with pytest.raises(DatabaseError), database_lock(waiter, timeout=0.05, on_wait=no_wait):
            pass


def test_the_holder_writes_who_it_is_into_the_lock_files(workdir: Path, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    engine.connect().close()
    with database_lock(engine):
        tags = [read_holder(path) for path in sqlite_lock_files(engine.url)]
    assert len(tags) == 2
    for tag in tags:
        assert tag is not None
        assert (tag["pid"], tag["host"], tag["tool"]) == (os.getpid(), socket.gethostname(), "sakyum-magic")


def test_waiting_is_a_warning_of_the_package_logger_by_default(
    workdir: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = sa.create_engine(sqlite_url)
    with (
        caplog.at_level(logging.WARNING, logger="sakyum_magic"),
        database_lock(engine),
        pytest.raises(DatabaseError),
        database_lock(engine, timeout=0.3, every=0.1),
    ):
        pass
    said = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert said[0][:2] == ("sakyum_magic", logging.WARNING)
    assert said[0][2].startswith(f"waiting for another migration of {sqlite_url}: pid {os.getpid()} on host")
    assert any(message.startswith("still waiting (") for _, _, message in said[1:])


@pytest.mark.parametrize("other", ["symlink", "hardlink"])
def test_two_processes_through_two_names_apply_each_revision_once(workdir: Path, other: str) -> None:
    paths = links(workdir)
    urls = [f"sqlite:///{paths['real']}", f"sqlite:///{paths[other]}"]
    migrator = Migrator(url=urls[0])
    migrator.init()
    write_logged_chain(migrator.directory, GATES["sqlite"])
    with database_lock(sa.create_engine(urls[0])):  # both start while the test holds the lock
        workers = [Worker(workdir, url) for url in urls]
        (workdir / "gate").touch()
    results = sorted((w.result() for w in workers), key=lambda r: len(r["steps"]), reverse=True)
    assert_once_then_nothing(results[0], results[1], urls[0])
