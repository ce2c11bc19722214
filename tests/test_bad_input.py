"""Bad input found by real use ends in one line saying what is wrong and what to do, never a traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sakyum_magic import ConfigurationError, DatabaseError, Migrator, RevisionError, SakyumError
from tests.shells import migrate, one_line_error


@pytest.fixture
def project(workdir: Path) -> Migrator:
    """Two empty revisions, applied, on default.db."""
    migrator = Migrator()
    migrator.init()
    migrator.revision("a", rev_id="r1")
    migrator.revision("b", rev_id="r2")
    migrator.upgrade()
    return migrator


def first_file(migrator: Migrator, revision: str) -> Path:
    return next((migrator.directory / "versions").glob(f"{revision}_*.py"))


def set_down_revision(migrator: Migrator, revision: str, down: str) -> None:
    """Point a revision's down_revision elsewhere (the line as Alembic's template wrote it, any version)."""
    path = first_file(migrator, revision)
    text = re.sub(r"^down_revision\b.*$", f"down_revision = {down!r}", path.read_text(), count=1, flags=re.M)
    path.write_text(text)


def fails(call: Callable[[], Any], kind: type[SakyumError], *phrases: str) -> str:
    with pytest.raises(kind) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for phrase in phrases:
        assert phrase in message
    return message


def test_a_versions_file_with_a_syntax_error(project: Migrator) -> None:
    (project.directory / "versions" / "r3.py").write_text("def broken(:\n")
    for command in (project.upgrade, project.current, project.heads, project.history):
        fails(command, RevisionError, "r3.py", "line 1")


def test_an_empty_revision_file(project: Migrator) -> None:
    (project.directory / "versions" / "r3.py").write_text("")
    for command in (project.upgrade, project.heads):
        fails(command, RevisionError, "r3.py", "'revision' variable")


def test_a_dangling_down_revision(project: Migrator) -> None:
    set_down_revision(project, "r1", "nope")
    for command in (project.history, project.upgrade, project.current):
        fails(command, RevisionError, "'nope'", "no file defines")


def test_a_cycle_names_the_revisions_in_it(project: Migrator) -> None:
    set_down_revision(project, "r1", "r2")
    for command in (project.heads, project.history):
        fails(command, RevisionError, "r1, r2 form a cycle")


def test_a_duplicate_revision_id(project: Migrator) -> None:
    (project.directory / "versions" / "copy.py").write_text(first_file(project, "r2").read_text())
    fails(project.upgrade, RevisionError, "r2 is used by more than one file")


def test_a_file_that_is_not_a_database(workdir: Path) -> None:
    (workdir / "notes.db").write_text("these are notes, not a database\n" * 50)
    migrator = Migrator(url="sqlite:///notes.db")
    migrator.init()
    for command in (migrator.upgrade, migrator.current):
        fails(command, DatabaseError, "notes.db is not a SQLite database")


def test_an_unreachable_async_server(workdir: Path) -> None:
    migrator = Migrator(url="postgresql+asyncpg://app:secret@127.0.0.1:1/x")
    migrator.init()
    message = fails(migrator.upgrade, DatabaseError, "cannot connect to", "***")
    assert "secret" not in message


def test_a_directory_outside_the_working_directory_works_end_to_end(workdir: Path) -> None:
    (workdir / "inner").mkdir()
    migrator = Migrator(directory="../outside", ini="alembic.ini")
    try:
        import os

        os.chdir(workdir / "inner")
        migrator.init()
        made = migrator.revision("outside", rev_id="o1").revisions[0]
        assert Path(made.path).resolve().parent == (workdir / "outside" / "versions").resolve()
        assert [step.revision for step in migrator.upgrade().steps] == ["o1"]
    finally:
        shutil.rmtree(workdir / "outside", ignore_errors=True)


def test_a_directory_that_cannot_be_written(project: Migrator) -> None:
    versions = project.directory / "versions"
    if subprocess.run(["chattr", "+i", str(versions)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and an ext4-like file system)")
    try:
        fails(lambda: project.revision("c"), ConfigurationError, "cannot write", "versions")
        fails(lambda: project.merge("heads", "m"), ConfigurationError, "cannot write")
    finally:
        subprocess.run(["chattr", "-i", str(versions)], check=True)
    assert sorted(p.name for p in versions.glob("*.py")) == sorted(
        p.name for p in versions.glob("r[12]_*.py")
    )


def test_through_the_magic_each_is_one_line(shell: Any, project: Migrator) -> None:
    set_down_revision(project, "r1", "nope")
    migrate(shell, "config --url sqlite:///default.db")
    for line in ("history", "upgrade head", "current", "heads"):
        assert "no file defines" in one_line_error(shell, line)


@pytest.mark.parametrize(
    "where",
    ["../../../../../../../../proc/nope", "/proc/nope", "plain_file/sub"],
    ids=["climbing into /proc", "inside /proc", "under a file"],
)
def test_init_where_no_directory_can_be_made(shell: Any, workdir: Path, where: str) -> None:
    """A place the system cannot create a directory in is one line naming it, no traceback."""
    (workdir / "plain_file").write_text("not a folder")
    message = one_line_error(shell, f"init {where}")
    assert "cannot write" in message and "choose a directory" in message
    assert not (workdir / "alembic.ini").exists()


def _stock_env(workdir: Path, first_lines: str) -> Migrator:
    """A directory from ``alembic init`` whose env.py starts with ``first_lines``."""
    from alembic import command
    from alembic.config import Config

    command.init(Config("alembic.ini"), "migrations")
    env = workdir / "migrations" / "env.py"
    env.write_text(first_lines + "\n" + env.read_text())
    return Migrator(url=f"sqlite:///{workdir / 'app.db'}", directory="migrations")


def test_an_env_py_that_cannot_import_says_what_it_misses(workdir: Path) -> None:
    migrator = _stock_env(workdir, "import no_such_module_here")
    message = fails(migrator.upgrade, ConfigurationError, "cannot run here", "imports no_such_module_here")
    assert "Flask" not in message and "app_context" not in message


def test_an_env_py_error_is_cut_at_a_word_not_mid_word(workdir: Path) -> None:
    long = "word " * 70 + "visit https://example.com/help/for/this/error"
    migrator = _stock_env(workdir, f"raise RuntimeError({long!r})")
    message = fails(migrator.upgrade, ConfigurationError, "cannot run here", "word word…)")
    assert "visit h" not in message and "Flask" not in message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("upgrade --lock-timeout 1s --retries -1", "--retries -1"),
        ("upgrade --lock-timeout 1s --retries 1 --retry-delay -2", "--retry-delay -2"),
    ],
)
def test_a_negative_retry_count_or_delay(shell: Any, project: Migrator, line: str, words: str) -> None:
    migrate(shell, "config --url sqlite:///default.db")
    migrate(shell, "downgrade base")
    message = one_line_error(shell, line)
    assert words in message and "0 or more" in message, message
    assert migrate(shell, "current").empty  # nothing ran


def test_a_negative_large(shell: Any, project: Migrator) -> None:
    migrate(shell, "config --url sqlite:///default.db")
    for line in ("lint --large -5", "check --lint --large -5"):
        message = one_line_error(shell, line)
        assert "--large -5" in message and "1 or more" in message, message


def test_an_offline_downgrade_without_its_start(shell: Any, project: Migrator) -> None:
    migrate(shell, "config --url sqlite:///default.db")
    message = one_line_error(shell, "downgrade base --sql")
    assert "FROM:base" in message and "%migrate downgrade head:base --sql" in message, message
    assert "DELETE FROM alembic_version" in str(migrate(shell, "downgrade r2:base --sql"))  # as it says
