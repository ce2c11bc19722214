"""The database that is on disk now: a SQLite file deleted, replaced or never made between two commands.

A notebook session keeps its migrator (and the magic its shell) for hours; users start over with
``!rm default.db``. Each command must act on the file as it is at that moment: never on a pooled handle
to a deleted or replaced file, and never creating a file by only reading.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from IPython.core.error import UsageError

from sakyum_magic import MigrationError, Migrator, RevisionError, SakyumError
from tests.revisions import chain, counts, version, write
from tests.shells import migrate, one_line_error

READ_ONLY: dict[str, Callable[[Migrator], Any]] = {
    "current": lambda m: m.current(),
    "history -i": lambda m: m.history(indicate_current=True),
    "heads": lambda m: m.heads(),
    "branches": lambda m: m.branches(),
    "show current": lambda m: m.show("current"),
    "diff": lambda m: m.diff(),
    "check": lambda m: m.check(),
    "plan": lambda m: m.plan("head"),
}
"""The commands that only read: none of them may create a database file."""

NO_DATABASE_NEEDED = {"heads", "branches"}

FAILING: dict[str, Callable[[Migrator], Any]] = {
    "failing revision": lambda m: m.upgrade("head"),
    "unknown upgrade target": lambda m: m.upgrade("zzz"),
    "unknown downgrade target": lambda m: m.downgrade("zzz"),
    "unknown stamp target": lambda m: m.stamp("zzz"),
}


def models() -> sa.MetaData:
    """The tables the two revisions of :func:`tests.revisions.chain` create."""
    metadata = sa.MetaData()
    for name in ("t1", "t2"):
        sa.Table(
            name, metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(20))
        )
    return metadata


@pytest.fixture
def database(workdir: Path) -> Path:
    return workdir / "test.db"


@pytest.fixture
def url(database: Path) -> str:
    return f"sqlite:///{database}"


@pytest.fixture
def migrator(workdir: Path, url: str, database: Path) -> Migrator:
    """A migrator on a directory of two revisions, r1 and r2; no database file yet."""
    migrator = Migrator(url=url, metadata=models(), progress=False)
    migrator.init()
    chain(Path("alembic"), 2)
    assert not database.exists()
    return migrator


def files(workdir: Path) -> set[str]:
    """The working directory's own files (the database, its journal and lock files), the migration
    directory left out."""
    return {p.name for p in workdir.iterdir()} - {"alembic", "alembic.ini"}


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message, message
    return message


def says_no_file(message: str) -> None:
    assert "no database file" in message, message
    assert "upgrade" in message, message


# -- the same Migrator, the file deleted between two commands ----------------------------------


def test_upgrade_after_the_file_was_deleted_creates_it_and_applies_every_revision(
    migrator: Migrator, database: Path, url: str
) -> None:
    assert [s.revision for s in migrator.upgrade("head").steps] == ["r1", "r2"]
    database.unlink()

    again = migrator.upgrade("head")

    assert [s.revision for s in again.steps] == ["r1", "r2"]
    assert database.is_file()
    assert version(url) == ("r2",)
    assert counts(url) == {"t1": 10, "t2": 20}


def test_current_after_the_file_was_deleted_says_there_is_no_file(migrator: Migrator, database: Path) -> None:
    migrator.upgrade("head")
    database.unlink()

    result = migrator.current()

    assert result.revisions == ()
    says_no_file(result.note)
    assert not database.exists()


@pytest.mark.parametrize("when", ["never made", "deleted"])
@pytest.mark.parametrize("command", list(READ_ONLY))
def test_read_only_commands_never_create_a_database_file(
    command: str, when: str, migrator: Migrator, database: Path, workdir: Path
) -> None:
    if when == "deleted":
        migrator.upgrade("head")  # the pool now holds a connection to the file
        database.unlink()
    before = files(workdir)

    try:
        answer = READ_ONLY[command](migrator)
    except SakyumError as exc:
        message: str | None = one_line(exc)
    else:
        message = getattr(answer, "note", None) or None  # current answers with a note

    assert files(workdir) == before, f"{command} created {files(workdir) - before}"
    if command in NO_DATABASE_NEEDED:
        assert message is None, message
    elif message is not None:
        says_no_file(message)
    if command == "current":
        assert message is not None, "current answered without a database file"


# -- the file replaced by another database ------------------------------------------------------


def test_a_file_replaced_by_an_older_copy_is_noticed(
    migrator: Migrator, database: Path, url: str, workdir: Path
) -> None:
    migrator.upgrade("r1")
    shutil.copyfile(database, workdir / "at_r1.db")
    migrator.upgrade("head")
    os.replace(workdir / "at_r1.db", database)

    assert [r.revision for r in migrator.current().revisions] == ["r1"]
    assert [s.revision for s in migrator.upgrade("head").steps] == ["r2"]
    assert version(url) == ("r2",)
    assert counts(url) == {"t1": 10, "t2": 20}


def test_a_file_replaced_by_an_unversioned_database_is_noticed(
    migrator: Migrator, database: Path, url: str, workdir: Path
) -> None:
    migrator.upgrade("head")
    other = sqlite3.connect(workdir / "other.db")
    other.execute("CREATE TABLE kept (id INTEGER PRIMARY KEY)")
    other.commit()
    other.close()
    os.replace(workdir / "other.db", database)

    assert migrator.current().revisions == ()
    assert [s.revision for s in migrator.upgrade("head").steps] == ["r1", "r2"]
    assert counts(url) == {"kept": 0, "t1": 10, "t2": 20}


# -- a failed command leaves no new file -----------------------------------------------------------


@pytest.mark.parametrize("command", list(FAILING))
def test_a_failed_command_leaves_no_new_file(
    command: str, migrator: Migrator, database: Path, workdir: Path
) -> None:
    write(Path("alembic"), "r1", None, 'op.execute("SELECT * FROM no_such_table")')
    before = files(workdir)

    with pytest.raises(SakyumError) as caught:
        FAILING[command](migrator)

    one_line(caught.value)
    assert isinstance(caught.value, MigrationError if command == "failing revision" else RevisionError)
    assert files(workdir) == before, f"{command} left {files(workdir) - before}"


# -- the same IPython shell ---------------------------------------------------------------------------

READ_ONLY_LINES = ["current", "history -i", "heads", "branches", "show current", "diff", "check", "plan"]


@pytest.fixture
def bound_shell(shell: Any, url: str, database: Path) -> Any:
    shell.user_ns["meta"] = models()
    migrate(shell, f"config --url {url} --metadata meta")
    migrate(shell, "init")
    chain(Path("alembic"), 2)
    assert not database.exists()
    return shell


def test_magic_after_rm_upgrade_creates_the_file_again(bound_shell: Any, database: Path, url: str) -> None:
    assert list(migrate(bound_shell, "upgrade head")["revision"]) == ["r1", "r2"]
    database.unlink()  # !rm test.db

    again = migrate(bound_shell, "upgrade head")

    assert list(again["revision"]) == ["r1", "r2"]
    assert version(url) == ("r2",)
    assert counts(url) == {"t1": 10, "t2": 20}


def test_magic_after_rm_read_only_lines_create_no_file(
    bound_shell: Any, database: Path, workdir: Path
) -> None:
    migrate(bound_shell, "upgrade head")
    database.unlink()
    before = files(workdir)

    says_no_file(repr(migrate(bound_shell, "current")))
    for line in READ_ONLY_LINES:
        try:
            migrate(bound_shell, line)
        except UsageError as exc:
            assert type(exc) is UsageError and "\n" not in str(exc), (line, exc)
        assert files(workdir) == before, f"%migrate {line} created {files(workdir) - before}"


def test_magic_notices_a_replaced_file(bound_shell: Any, database: Path, workdir: Path) -> None:
    migrate(bound_shell, "upgrade r1")
    shutil.copyfile(database, workdir / "at_r1.db")
    migrate(bound_shell, "upgrade head")
    os.replace(workdir / "at_r1.db", database)

    assert list(migrate(bound_shell, "current")["revision"]) == ["r1"]
    assert list(migrate(bound_shell, "upgrade head")["revision"]) == ["r2"]


@pytest.mark.parametrize("line", ["upgrade head", "upgrade zzz", "downgrade zzz", "stamp zzz"])
def test_magic_failed_line_leaves_no_new_file(bound_shell: Any, line: str, workdir: Path) -> None:
    write(Path("alembic"), "r1", None, 'op.execute("SELECT * FROM no_such_table")')
    before = files(workdir)

    one_line_error(bound_shell, line)

    assert files(workdir) == before, f"%migrate {line} left {files(workdir) - before}"
