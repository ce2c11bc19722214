"""Every failure explained the same way: a Python error in a revision's code gets the report an SQL
error gets (the revision and line, the steps applied before it, where the database is, what to do),
its traceback through the user's files only, and a note where the alembic CLI would have left the
database elsewhere; nothing says "Nothing to do" above an error."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import CapturingDisplayPublisher
from IPython.core.error import UsageError

from sakyum_magic import MigrationError, Migrator
from tests.revisions import chain, version, write
from tests.shells import alembic, migrate, one_line_error

KEY_ERROR = "settings = {}\nsettings['missing']"


@contextmanager
def capture_output(shell: Any) -> Iterator[CapturingDisplayPublisher]:
    """What the shell displays meanwhile, kept by IPython's own capturing publisher."""
    original, shell.display_pub = shell.display_pub, CapturingDisplayPublisher()
    try:
        yield shell.display_pub
    finally:
        shell.display_pub = original


def shown(captured: CapturingDisplayPublisher) -> str:
    """Everything displayed above the error, as plain text."""
    return "\n".join(str(output["data"].get("text/plain", "")) for output in captured.outputs)


def test_a_python_error_in_a_revision_is_reported_like_an_sql_error(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 2)
    write(workdir / "alembic", "r3", "r2", KEY_ERROR)
    with capture_output(shell) as captured:
        message = one_line_error(shell, "upgrade head")
    assert message == (
        "upgrade failed in revision r3 (line 17 of r3.py): KeyError: 'missing'; 2 step(s) applied before "
        "it, database now at r2. Fix the revision file and run it again"
    )
    text = shown(captured)
    assert "upgrade head stopped after 2 steps; the database is now at r2" in text
    # The traceback goes through env.py and the revision, not through this package or Alembic.
    assert 'r3.py", line 17, in upgrade' in text and "settings['missing']" in text
    assert 'env.py", line' in text and text.rstrip().endswith("KeyError: 'missing'")
    assert "sakyum_magic" not in text and "site-packages" not in text
    assert version("sqlite:///default.db") == ("r2",)


def test_a_retry_says_nothing_is_left_to_do_only_when_it_is_so(shell: Any, workdir: Path) -> None:
    """A retry of a failing revision applied nothing: it says that, not "Nothing to do"."""
    migrate(shell, "init")
    chain(workdir / "alembic", 1)
    write(workdir / "alembic", "r2", "r1", "op.execute('SELECT * FROM no_such_table')")
    for _attempt in range(2):
        with capture_output(shell) as captured:
            assert "upgrade failed in revision r2 while running" in one_line_error(shell, "upgrade head")
        assert "Nothing to do" not in shown(captured)
    assert "upgrade head stopped before any step was applied; the database is at r1." in shown(captured)
    write(workdir / "alembic", "r2", "r1", "pass")
    migrate(shell, "upgrade head")
    assert "Nothing to do: the database is already at r2." in repr(migrate(shell, "upgrade head"))


def test_an_interrupted_upgrade_says_no_nothing_to_do(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 1)
    migrate(shell, "upgrade head")
    write(workdir / "alembic", "r2", "r1", "raise KeyboardInterrupt")
    with capture_output(shell) as captured:
        assert one_line_error(shell, "upgrade head").startswith("upgrade interrupted: 0 of 1 revision(s)")
    assert "Nothing to do" not in shown(captured)


def test_an_attribute_error_in_a_downgrade_through_the_core(sqlite_url: str, workdir: Path) -> None:
    core = Migrator(url=sqlite_url, directory="mig", progress=False)
    core.init()
    chain(workdir / "mig", 2)
    write(workdir / "mig", "r2", "r1", 'op.create_table("t2", sa.Column("id", sa.Integer))', "op.nope()")
    core.upgrade("head")
    with pytest.raises(MigrationError) as caught:
        core.downgrade("base")
    error = caught.value
    assert isinstance(error.__cause__, AttributeError)  # the cause, by type
    assert str(error).startswith("downgrade failed in revision r2 (line 20 of r2.py): AttributeError: ")
    assert str(error).endswith("nothing applied, database now at r2. Fix the revision file and run it again")
    assert error.result.stopped and error.result.after == ("r2",)
    assert 'r2.py", line 20, in downgrade' in error.user_traceback


def test_tracebacks_on_raise_the_whole_chain(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    write(workdir / "alembic", "r1", None, KEY_ERROR)
    shell.run_line_magic("config", "MigrateMagics.tracebacks = True")
    with capture_output(shell) as captured, pytest.raises(MigrationError) as caught:
        migrate(shell, "upgrade head")
    assert type(caught.value) is MigrationError and isinstance(caught.value.__cause__, KeyError)
    assert "Traceback" not in shown(captured)  # the exception itself carries it
    shell.run_line_magic("config", "MigrateMagics.tracebacks = False")
    with pytest.raises(UsageError):
        migrate(shell, "upgrade head")


def stock_directory(workdir: Path, url: str) -> None:
    """alembic init's own env.py (one transaction for the whole run, where the DDL is transactional)."""
    alembic(workdir, "init", "mig")
    ini = workdir / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url))
    chain(workdir / "mig", 2)
    write(workdir / "mig", "r3", "r2", KEY_ERROR)


def test_the_message_says_where_the_cli_would_roll_back_to(postgres_url: str, workdir: Path) -> None:
    stock_directory(workdir, postgres_url)
    with pytest.raises(subprocess.CalledProcessError):
        alembic(workdir, "upgrade", "head")
    assert version(postgres_url) == ()  # the CLI's one transaction: r1 and r2 rolled back with r3
    core = Migrator(url=postgres_url, directory="mig", progress=False)
    with pytest.raises(MigrationError) as caught:
        core.upgrade("head", allow_lint=True)  # the run itself, not lint's offline pass before it
    assert str(caught.value) == (
        "upgrade failed in revision r3 (line 17 of r3.py): KeyError: 'missing'; 2 step(s) applied before "
        "it, database now at r2 (each revision was committed on its own; the alembic CLI runs them all in "
        "one transaction on this database and would have rolled back to base). Fix the revision file and "
        "run it again"
    )
    assert version(postgres_url) == ("r2",)


def test_a_downgrade_says_where_the_cli_would_have_left_it(postgres_url: str, workdir: Path) -> None:
    """The reported case (optuna's downgrade base on PostgreSQL): per-revision commits stop part way,
    where the CLI's one transaction would have rolled back to where the downgrade began."""
    stock_directory(workdir, postgres_url)
    write(workdir / "mig", "r3", "r2", "pass")
    chain_body = 'op.create_table("t1", sa.Column("id", sa.Integer, primary_key=True))'
    write(workdir / "mig", "r1", None, chain_body, "settings = {}\nsettings['missing']")
    core = Migrator(url=postgres_url, directory="mig", progress=False)
    core.upgrade("head", allow_lint=True)
    with pytest.raises(subprocess.CalledProcessError):
        alembic(workdir, "downgrade", "base")
    assert version(postgres_url) == ("r3",)  # the CLI rolled r3's and r2's downgrades back with r1's
    with pytest.raises(MigrationError) as caught:
        core.downgrade("base")
    assert version(postgres_url) == ("r1",)
    assert str(caught.value).startswith(
        "downgrade failed in revision r1 (line 21 of r1.py): KeyError: 'missing'; 2 step(s) applied before "
        "it, database now at r1 (each revision was committed on its own; the alembic CLI runs them all in "
        "one transaction on this database and would have rolled back to r3)"
    )


def test_an_interrupt_says_where_the_cli_would_have_left_it(postgres_url: str, workdir: Path) -> None:
    stock_directory(workdir, postgres_url)
    write(workdir / "mig", "r3", "r2", "raise KeyboardInterrupt")
    with pytest.raises(MigrationError) as caught:
        Migrator(url=postgres_url, directory="mig", progress=False).upgrade("head", allow_lint=True)
    assert str(caught.value).startswith("upgrade interrupted: 2 of 3 revision(s) applied, database at r2 (")
    assert str(caught.value).endswith(
        "Each revision was committed on its own: the alembic CLI, which runs them all in one transaction "
        "on this database, would have rolled back to base"
    )


def test_an_sql_error_gets_the_same_note(postgres_url: str, workdir: Path) -> None:
    stock_directory(workdir, postgres_url)
    write(workdir / "mig", "r3", "r2", "op.execute('SELECT * FROM no_such_table')")
    with pytest.raises(MigrationError, match=r"would have rolled back to base\)\. Fix the revision"):
        Migrator(url=postgres_url, directory="mig", progress=False).upgrade("head", allow_lint=True)


def test_where_the_cli_leaves_the_same_there_is_no_note(mysql_url: str, workdir: Path) -> None:
    """MariaDB's DDL commits at once: the CLI keeps r1 and r2 too, so there is nothing to add."""
    stock_directory(workdir, mysql_url)
    with pytest.raises(subprocess.CalledProcessError):
        alembic(workdir, "upgrade", "head")
    assert version(mysql_url) == ("r2",)
    alembic(workdir, "downgrade", "base")
    with pytest.raises(MigrationError) as caught:
        Migrator(url=mysql_url, directory="mig", progress=False).upgrade("head", allow_lint=True)
    assert "2 step(s) applied before it, database now at r2. Fix" in str(caught.value)
    assert "alembic CLI" not in str(caught.value)


def test_a_python_error_while_writing_sql_offline(sqlite_url: str, workdir: Path) -> None:
    core = Migrator(url=sqlite_url, directory="mig", progress=False)
    core.init()
    chain(workdir / "mig", 1)
    write(workdir / "mig", "r2", "r1", KEY_ERROR)
    with pytest.raises(MigrationError) as caught:
        core.upgrade("head", sql=True)
    assert str(caught.value) == (
        "upgrade failed while writing its SQL offline, in r2.py (line 17): KeyError: 'missing'; nothing was "
        "run on the database. Fix the revision file and run it again"
    )
    assert isinstance(caught.value.__cause__, KeyError) and 'r2.py", line 17' in caught.value.user_traceback
