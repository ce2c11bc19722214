"""The package's own tables (the applied-at log, the notes of unfinished revisions) go only where invited.

Invited: a database whose directory ``%migrate init`` wrote, or one where the user turned the log on
(``audit=True``, ``%config MigrateMagics.audit = True``). A directory made by another tool (the real
``alembic init``, Flask-Migrate's ``flask db init``) gets nothing of ours by default, whatever the
command and however it ends; nor does a failed or read-only command leave a file or a table behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from IPython.core.error import UsageError

from sakyum_magic import MigrationError, Migrator, SakyumError
from sakyum_magic._run.database import LOG_TABLE, OWN_TABLES
from tests.directories import Made, Templates, tables
from tests.directories import build as build_directory
from tests.shells import migrate, one_line_error

MARKS = {"postgres": pytest.mark.postgres, "mysql": pytest.mark.mysql}
FOREIGN = [
    pytest.param((kind, db), id=f"{kind}-{db}", marks=[MARKS[db]] if db in MARKS else [])
    for db in ("sqlite", "postgres", "mysql")
    for kind in ("generic", "flask")
]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("kinds"))
    made.prefetch(["generic", "flask"])
    yield made
    made.close()


@pytest.fixture
def url(case: tuple[str, str], workdir: Path, request: pytest.FixtureRequest) -> str:
    database = case[1]
    if database == "sqlite":
        return f"sqlite:///{workdir / 'test.db'}"
    return str(request.getfixturevalue(f"{database}_url"))


@pytest.fixture
def build(
    case: tuple[str, str], url: str, templates: Templates, workdir: Path
) -> Iterator[Callable[..., Made]]:
    """The case's directory, as the real tool made it, in the working directory (Flask: app pushed)."""
    with ExitStack() as stack:

        def build_(failing: bool = False) -> Made:
            return build_directory(stack, templates, case[0], workdir, url, failing=failing)

        yield build_


def all_tables(url: str) -> set[str]:
    return tables(url, every=True)


@pytest.mark.parametrize("case", FOREIGN)
def test_a_foreign_directory_gets_no_table_of_ours(build: Callable[..., Made]) -> None:
    made = build()
    migrator = made.migrator()
    migrator.upgrade("head")
    assert "alembic_version" in all_tables(made.url)
    migrator.downgrade("base")
    migrator.stamp("head")
    migrator.stamp("base")
    migrator.upgrade("head")
    migrator.current()
    migrator.history(indicate_current=True)
    assert migrator.log() == []
    assert not all_tables(made.url) & OWN_TABLES
    migrator.dispose()


@pytest.mark.parametrize("case", FOREIGN)
def test_a_failed_run_on_a_foreign_directory_leaves_no_table_of_ours(build: Callable[..., Made]) -> None:
    """On MariaDB the DDL of the failing revision commits at once: still no note table of ours."""
    made = build(failing=True)
    migrator = made.migrator()
    with pytest.raises(MigrationError):
        migrator.upgrade("head")
    assert not all_tables(made.url) & OWN_TABLES
    migrator.dispose()


@pytest.mark.parametrize("case", FOREIGN)
def test_the_log_is_kept_on_a_foreign_directory_when_asked(build: Callable[..., Made]) -> None:
    made = build()
    migrator = made.migrator(audit=True)
    migrator.upgrade("head")
    assert [entry.revision for entry in migrator.log()] == list(reversed(made.ids))
    assert LOG_TABLE in all_tables(made.url)
    migrator.dispose()


@pytest.mark.parametrize("case", [FOREIGN[0]])
def test_the_setting_turns_the_log_on_for_a_foreign_directory(
    shell: Any, build: Callable[..., Made], url: str
) -> None:
    made = build()
    shell.run_line_magic("config", f"MigrateMagics.url = {url!r}")
    shell.run_line_magic("config", f"MigrateMagics.directory = {str(made.directory)!r}")
    migrate(shell, "upgrade +1")
    assert LOG_TABLE not in all_tables(url)  # by default: none
    shell.run_line_magic("config", "MigrateMagics.audit = True")
    migrate(shell, "upgrade +1")
    assert [entry.revision for entry in made.migrator().log()] == [made.ids[1]]
    shell.run_line_magic("config", "MigrateMagics.audit = False")
    migrate(shell, "upgrade head")
    assert len(made.migrator().log()) == 1


def test_own_directory_keeps_the_log_by_default_and_drops_it_when_told(sqlite_url: str) -> None:
    own = Migrator(url=sqlite_url)
    own.init()
    own.revision("one", rev_id="r1")
    own.revision("two", rev_id="r2")
    own.upgrade("r1")
    assert [entry.revision for entry in own.log()] == ["r1"]
    Migrator(url=sqlite_url, audit=False).upgrade("r2")
    assert [entry.revision for entry in own.log()] == ["r1"]


@pytest.mark.parametrize("case", [FOREIGN[0]])
@pytest.mark.parametrize("audit", [None, True])
def test_a_failed_command_on_a_missing_sqlite_file_leaves_no_file(
    build: Callable[..., Made], url: str, audit: bool | None
) -> None:
    made = build()
    path = Path(sa.engine.make_url(url).database or "")
    migrator = made.migrator(audit=audit)
    for command in (
        lambda: migrator.upgrade("nosuchrev"),
        lambda: migrator.downgrade("-1"),
        lambda: migrator.stamp("nosuchrev"),
    ):
        with migrator.no_new_database_on_error(), pytest.raises(SakyumError):
            command()
        assert not path.exists()


@pytest.mark.parametrize("case", [FOREIGN[0]])
def test_the_magic_leaves_no_file_after_a_failed_or_read_only_command(
    shell: Any, build: Callable[..., Made], url: str
) -> None:
    made = build()
    path = Path(sa.engine.make_url(url).database or "")
    shell.run_line_magic("config", f"MigrateMagics.url = {url!r}")
    shell.run_line_magic("config", f"MigrateMagics.directory = {str(made.directory)!r}")
    shell.run_line_magic("config", "MigrateMagics.audit = True")
    for line in ("current", "history -i", "log", "heads", "show head", "plan head"):
        with suppress(UsageError):
            migrate(shell, line)
        assert not path.exists(), line
    for line in ("upgrade nosuchrev", "downgrade -1", "stamp nosuchrev"):
        one_line_error(shell, line)
        assert not path.exists(), line


@pytest.mark.parametrize("case", FOREIGN[:2] + FOREIGN[4:])
def test_read_only_commands_create_no_table(build: Callable[..., Made]) -> None:
    made = build()
    made.upgrade_with_the_tool(made.ids[0])
    before = all_tables(made.url)
    migrator = made.migrator(audit=True)
    migrator.current()
    migrator.history(indicate_current=True)
    migrator.log()
    migrator.heads()
    migrator.upgrade("head", sql=True)
    with pytest.raises(SakyumError):
        migrator.check()
    assert all_tables(made.url) == before
    migrator.dispose()
