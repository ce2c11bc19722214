"""The generated env.py: driven by the magic, by the plain CLI (see test_cli_interop), and by other
tools that pass a connection or engine through ``Config.attributes``, such as pytest-alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from sakyum_magic import Migrator
from tests.models import USERS_AND_POSTS, namespace
from tests.shells import alembic


@pytest.fixture
def migrator(sqlite_url: str) -> Migrator:
    models = namespace(USERS_AND_POSTS)
    m = Migrator(url=sqlite_url, metadata=models["Base"])
    m.init()
    m.revision("users and posts", autogenerate=True, rev_id="first")
    m.revision("empty", rev_id="second")
    return m


def test_documented_recipe_connection_attribute(migrator: Migrator, sqlite_url: str) -> None:
    """Alembic's "sharing a connection" recipe: a Connection under attributes['connection']."""
    engine = sa.create_engine(sqlite_url)
    config = migrator.config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()
    assert [r.revision for r in migrator.current().revisions] == ["second"]


def test_pytest_alembic_drives_the_directory(migrator: Migrator, sqlite_url: str) -> None:
    pytest_alembic = pytest.importorskip("pytest_alembic")
    from pytest_alembic.config import Config
    from pytest_alembic.tests import (
        test_model_definitions_match_ddl,
        test_single_head_revision,
        test_up_down_consistency,
        test_upgrade,
    )

    engine = sa.create_engine(sqlite_url)
    metadata = migrator.target_metadatas()[0]
    config = Config(config_options={"target_metadata": metadata}, alembic_config=migrator.config())
    with pytest_alembic.runner(config=config, engine=engine) as runner:
        test_single_head_revision(runner)
        test_upgrade(runner)
        test_model_definitions_match_ddl(runner)
        test_up_down_consistency(runner)
        runner.migrate_down_to("base")
        assert runner.current == "base"
        runner.migrate_up_to("heads")
        assert runner.current == "second"
    engine.dispose()
    assert "posts" in sa.inspect(sa.create_engine(sqlite_url)).get_table_names()


def test_env_py_is_written_as_the_template(migrator: Migrator, workdir: Path) -> None:
    """init copies the template's files and the package's own support modules, byte for byte."""
    from sakyum_magic._authoring import template

    written = workdir / "alembic"
    for name in ("env.py", "README"):
        assert (written / name).read_bytes() == (template.TEMPLATES / "sakyum" / name).read_bytes()
    assert (written / template.SUPPORT).read_bytes() == template.support_file().read_bytes()
    assert (written / template.LOCK).read_bytes() == template.lock_file().read_bytes()
    assert (written / "script.py.mako").read_bytes() == template.script_mako().read_bytes()
    names = {path.name for path in written.iterdir()} - {"__pycache__"}  # Python's, once env.py ran
    support = {"sakyum_env_support.py", "sakyum_env_lock.py"}
    assert names == {"README", "env.py", "script.py.mako", *support, "versions"}
    assert len((written / "env.py").read_text().splitlines()) <= 120


def test_a_stock_env_py_leaves_the_kernels_logging_alone(workdir: Path, sqlite_url: str) -> None:
    import logging

    alembic(workdir, "init", "plain")
    mine = logging.getLogger("my.notebook")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    alembic_level = logging.getLogger("alembic").level
    migrator = Migrator(url=sqlite_url, directory=workdir / "plain")
    migrator.revision("one")
    migrator.upgrade()
    migrator.upgrade(sql=True)
    assert not mine.disabled
    assert root.handlers == handlers and root.level == level
    assert logging.getLogger("alembic").level == alembic_level


def test_the_package_logs_with_the_support_modules_table_and_rows() -> None:
    """The log the magic keeps is the one env.py keeps: the same table object and row builder."""
    from sakyum_magic._guards import audit, sakyum_env_support
    from sakyum_magic._run.database import LOG_TABLE, OWN_TABLES

    assert audit.table() is sakyum_env_support.log_table()
    assert LOG_TABLE == sakyum_env_support.LOG_TABLE and OWN_TABLES == sakyum_env_support.OWN_TABLES
    row = audit._row("r2", "r1", "r2", "up", 0.5, True)
    assert row["tool"].startswith("sakyum-magic ") and row["applied_at"].endswith("+00:00")
    assert {column.name for column in audit.table().columns} == {"id", *row}
    for name in ("t", *OWN_TABLES):
        assert sakyum_env_support.without_own_tables(name, "table", {}) == (name not in OWN_TABLES)
        assert sakyum_env_support.without_own_tables(name, "column", {})


def describe(column: sa.Column[Any]) -> tuple[Any, ...]:
    return (
        column.name,
        type(column.type),
        getattr(column.type, "length", None),
        column.nullable,
        column.primary_key,
        column.autoincrement,
    )


# -- a directory written by an older release ---------------------------------------------------------

PREVIOUS_ENV_PY = Path(__file__).parent / "data" / "env_py_0_1_0.txt"
"""The env.py sakyum-magic 0.1.0 wrote (one file, no support module beside it), byte for byte."""


def older_directory(workdir: Path, sqlite_url: str) -> Path:
    """A directory as the previous release's ``%migrate init`` left it, with one revision applied."""
    from sakyum_magic._authoring import template

    Migrator(url=sqlite_url).init()
    directory = workdir / "alembic"
    (directory / "env.py").write_bytes(PREVIOUS_ENV_PY.read_bytes())
    for name in template.SUPPORT_FILES:
        (directory / name).unlink()
    return directory


def test_a_directory_of_the_previous_release_is_named_and_refreshed(
    shell: Any, workdir: Path, sqlite_url: str
) -> None:
    from sakyum_magic._authoring import template
    from tests.shells import migrate
    from tests.test_cli import published

    directory = older_directory(workdir, sqlite_url)
    assert template.support_format(directory) is None
    shell.run_line_magic("config", f"MigrateMagics.url = {sqlite_url!r}")
    with published(shell) as shown:
        migrate(shell, "current")
        migrate(shell, "heads")
    notes = [data["text/plain"] for data in shown if "older sakyum-magic" in data["text/plain"]]
    assert len(notes) == 1 and "--refresh" in notes[0]  # once per directory
    found = template.stale_note(directory)
    assert found is not None and "\n" not in found and "%migrate init --refresh" in found  # one line
    refreshed = migrate(shell, "init --refresh")
    assert repr(refreshed).startswith("alembic/: Rewrote env.py and sakyum_env_support.py")
    assert "nearest alembic command: `alembic init alembic` (which refuses" in repr(refreshed)
    assert (directory / "env.py").read_bytes() == (template.TEMPLATES / "sakyum" / "env.py").read_bytes()
    assert (directory / template.SUPPORT).read_bytes() == template.support_file().read_bytes()
    assert (directory / template.LOCK).read_bytes() == template.lock_file().read_bytes()
    assert template.stale_note(directory) is None
    assert (workdir / "alembic.ini").exists() and (directory / "versions").is_dir()


def test_an_older_support_format_is_named(workdir: Path, sqlite_url: str) -> None:
    from sakyum_magic._authoring import template
    from sakyum_magic._guards import sakyum_env_support

    Migrator(url=sqlite_url).init()
    directory = workdir / "alembic"
    assert template.support_format(directory) == sakyum_env_support.FORMAT
    assert template.stale_note(directory) is None
    support = directory / template.SUPPORT
    older = f"{sakyum_env_support.HEADER}{sakyum_env_support.FORMAT - 1}\n"
    support.write_text(older + support.read_text().split("\n", 1)[1])
    note = template.stale_note(directory)
    assert note is not None and f"format {sakyum_env_support.FORMAT - 1}" in note
    Migrator(url=sqlite_url).init(refresh=True)
    assert template.support_format(directory) == sakyum_env_support.FORMAT


def test_refresh_leaves_a_directory_of_another_tool_alone(shell: Any, workdir: Path) -> None:
    from sakyum_magic._authoring import template
    from tests.shells import one_line_error

    alembic(workdir, "init", "alembic")
    env_py = (workdir / "alembic" / "env.py").read_bytes()
    assert template.stale_note(workdir / "alembic") is None
    message = one_line_error(shell, "init --refresh")
    assert "was not written by %migrate init" in message
    assert (workdir / "alembic" / "env.py").read_bytes() == env_py
    assert not (workdir / "alembic" / template.SUPPORT).exists()


def test_the_header_line_names_this_format() -> None:
    from sakyum_magic._authoring import template
    from sakyum_magic._guards import sakyum_env_lock, sakyum_env_support

    first = template.support_file().read_text().splitlines()[0]
    assert first.startswith(f"{sakyum_env_support.HEADER}{sakyum_env_support.FORMAT} ")
    # The two support files are copied together: the lock's names the same format.
    assert sakyum_env_lock.FORMAT == sakyum_env_support.FORMAT
    first = template.lock_file().read_text().splitlines()[0]
    assert first.startswith(f"{sakyum_env_support.HEADER}{sakyum_env_support.FORMAT} ")


FORMAT_3_ENV_PY = Path(__file__).parent / "data" / "env_py_format_3.txt"
FORMAT_3_SUPPORT = Path(__file__).parent / "data" / "sakyum_env_support_format_3.txt"
"""env.py and its one support file (lock, log and SQLite code together) as format 3 wrote them."""


def test_a_format_3_directory_is_named_and_refreshed_with_the_lock_file(
    workdir: Path, sqlite_url: str
) -> None:
    from sakyum_magic._authoring import template

    migrator = Migrator(url=sqlite_url)
    migrator.init()
    migrator.revision("one", rev_id="one")
    directory = workdir / "alembic"
    (directory / "env.py").write_bytes(FORMAT_3_ENV_PY.read_bytes())
    (directory / template.SUPPORT).write_bytes(FORMAT_3_SUPPORT.read_bytes())
    (directory / template.LOCK).unlink()
    assert template.support_format(directory) == 3
    note = template.stale_note(directory)
    assert note is not None and "(format 3;" in note and template.LOCK in note
    migrator.upgrade()  # the format-3 env.py still runs, with its own copy of the lock
    result = migrator.init(refresh=True)
    assert result.files == ("env.py", template.SUPPORT, template.LOCK)
    assert (
        result.note is not None and "was format 3" in result.note and f"added {template.LOCK}" in result.note
    )
    assert (directory / template.LOCK).read_bytes() == template.lock_file().read_bytes()
    assert template.stale_note(directory) is None
    alembic(workdir, "downgrade", "base", url=sqlite_url)  # the CLI loads both files beside env.py
    assert migrator.current().revisions == ()


def test_a_missing_lock_file_is_named(workdir: Path, sqlite_url: str) -> None:
    from sakyum_magic._authoring import template

    Migrator(url=sqlite_url).init()
    directory = workdir / "alembic"
    (directory / template.LOCK).unlink()
    note = template.stale_note(directory)
    assert note is not None and f"{template.LOCK} missing" in note and "--refresh" in note
    Migrator(url=sqlite_url).init(refresh=True)
    assert template.stale_note(directory) is None


def test_the_written_env_py_runs_from_the_cli_and_keeps_its_log(workdir: Path, sqlite_url: str) -> None:
    """From the alembic CLI, env.py loads the support module beside it (not sakyum_magic's)."""
    import subprocess
    import sys

    from sakyum_magic._guards import audit

    m = Migrator(url=sqlite_url)
    m.init()
    m.revision("one", rev_id="r1")
    script = "import sys; sys.modules['sakyum_magic'] = None; from alembic.config import main; main()"
    subprocess.run(
        [sys.executable, "-c", script, "upgrade", "head"], cwd=workdir, check=True, capture_output=True
    )
    assert [entry.revision for entry in m.log()] == ["r1"]
    assert m.log()[0].tool.endswith("via env.py")
    assert audit.table().name in sa.inspect(sa.create_engine(sqlite_url)).get_table_names()


def test_the_template_files_ship_in_the_wheel() -> None:
    """Every file of the template directory is matched by the package data pyproject.toml declares."""
    import fnmatch
    import tomllib

    from sakyum_magic._authoring import template

    root = Path(template.__file__).parents[1]  # the sakyum_magic package
    declared = tomllib.loads((root.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = declared["package-data"]["sakyum_magic"]
    files = [path.relative_to(root).as_posix() for path in (template.TEMPLATES / "sakyum").iterdir()]
    assert files and all(any(fnmatch.fnmatch(name, p) for p in patterns) for name in files), files
