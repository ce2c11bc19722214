"""The session's settings: traitlets the migrator follows, config that fails changing nothing, the
metadata expression evaluated once per line, and the configuration file that goes with a directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sakyum_magic._frontend.session import MetadataExpression
from tests.conftest import POSTGRES_DRIVER, requires_alembic_pyproject
from tests.models import USERS, USERS_AND_POSTS
from tests.shells import alembic, migrate, one_line_error


def magics_of(shell: Any) -> Any:
    return shell.magics_manager.registry["MigrateMagics"]


def test_the_migrator_follows_each_setting_at_once(shell: Any, workdir: Path) -> None:
    migrator = magics_of(shell).migrator
    shell.run_line_magic("config", "MigrateMagics.url = 'sqlite:///followed.db'")
    shell.run_line_magic("config", "MigrateMagics.directory = 'migrations'")
    shell.run_line_magic("config", "MigrateMagics.ini = 'other.ini'")
    shell.run_line_magic("config", "MigrateMagics.progress = False")
    shell.run_line_magic("config", "MigrateMagics.metadata = 'Base'")
    assert migrator.url == "sqlite:///followed.db"
    assert (migrator.directory, migrator.ini, migrator.progress) == (
        Path("migrations"),
        Path("other.ini"),
        False,
    )
    assert isinstance(migrator.metadata, MetadataExpression) and migrator.metadata_label == "Base"
    shell.run_line_magic("config", "MigrateMagics.metadata = None")
    assert migrator.metadata is None and migrator.metadata_label == ""


def test_settings_are_not_copied_again_on_every_line(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    migrator = magics_of(shell).migrator
    migrator.progress = False  # set on the engine directly, as a Migrator user may
    migrate(shell, "history")
    assert migrator.progress is False and magics_of(shell).progress is True


def test_a_new_password_for_the_same_masked_url_is_followed(shell: Any) -> None:
    migrate(shell, f"config --url {POSTGRES_DRIVER}://app:first@127.0.0.1:1/app")
    migrate(shell, f"config --url {POSTGRES_DRIVER}://app:second@127.0.0.1:1/app")
    assert magics_of(shell).migrator.url == f"{POSTGRES_DRIVER}://app:second@127.0.0.1:1/app"
    assert magics_of(shell).url == f"{POSTGRES_DRIVER}://app:***@127.0.0.1:1/app"


@pytest.mark.parametrize(
    "line",
    [
        "config --url sqlite:///new.db --metadata Nope",
        "config --metadata Base --url 'not a url'",
        "config --dir elsewhere --metadata 1",
        "config --ini . --url sqlite:///new.db",
        "config --url postgresq://app:secret@db/app --metadata Base",
    ],
)
def test_a_config_that_fails_changes_nothing(shell: Any, workdir: Path, line: str) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --url sqlite:///kept.db --dir kept --metadata Base")
    before = {name: getattr(magics_of(shell), name) for name in ("url", "metadata", "directory", "ini")}
    migrator = magics_of(shell).migrator
    fields = (migrator.url, migrator.metadata, migrator.directory, migrator.ini)
    one_line_error(shell, line)
    assert {name: getattr(magics_of(shell), name) for name in before} == before
    assert (migrator.url, migrator.metadata, migrator.directory, migrator.ini) == fields


def test_a_misspelt_dialect_is_named_when_the_url_is_set(shell: Any) -> None:
    error = one_line_error(shell, "config --url postgresq://app:secret@db/app")
    assert "unknown database dialect in 'postgresq://app:***@db/app'" in error and "secret" not in error


COUNTED = """
calls = []
def models():
    calls.append(1)
    return Base
"""


def test_the_metadata_expression_runs_once_per_line(shell: Any) -> None:
    shell.run_cell(USERS)
    shell.run_cell(COUNTED)
    calls = shell.user_ns["calls"]
    shown = migrate(shell, "config --metadata models()")
    assert len(calls) == 1 and shown.loc[0, "tables"] == 1
    migrate(shell, "config")
    assert len(calls) == 2
    migrate(shell, "init")
    migrate(shell, "history")
    assert len(calls) == 2  # a command that needs no models does not evaluate them
    migrate(shell, "revision --autogenerate -m users")
    assert len(calls) == 3
    migrate(shell, "upgrade")
    shell.run_cell(USERS_AND_POSTS)
    shell.run_cell(COUNTED)
    calls = shell.user_ns["calls"]
    assert list(migrate(shell, "diff")["table"]) == ["posts"]  # the re-run cell is picked up
    assert len(calls) == 1


@requires_alembic_pyproject
def test_config_ini_sets_the_file(shell: Any, workdir: Path) -> None:
    alembic(workdir, "init", "--template", "pyproject", "migrations")
    shown = migrate(shell, "config --dir migrations --ini pyproject.toml")
    assert shown.loc[0, "directory"] == "migrations"
    assert magics_of(shell).ini == "pyproject.toml"
    assert magics_of(shell).migrator.ini == Path("pyproject.toml")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("generic", "alembic.ini"),
        pytest.param("pyproject", "pyproject.toml", marks=requires_alembic_pyproject),
    ],
)
def test_config_dir_finds_the_file_that_goes_with_it(
    shell: Any, workdir: Path, template: str, expected: str
) -> None:
    alembic(workdir, "init", "--template", template, "migrations")
    migrate(shell, "config --dir migrations")
    assert Path(magics_of(shell).ini).absolute() == workdir / expected
    assert magics_of(shell).migrator.ini == Path(magics_of(shell).ini)
    migrate(shell, "config --dir elsewhere")  # a new directory: alembic.ini, as `alembic init` has it
    assert magics_of(shell).ini == "alembic.ini"
    alembic(workdir, "-c", "gone.ini", "init", "kept")
    (workdir / "gone.ini").unlink()
    migrate(shell, "config --dir kept")  # an existing one no file names: its own, not yet written
    assert Path(magics_of(shell).ini) == Path("kept/alembic.ini")
    assert magics_of(shell).migrator.ini == Path("kept/alembic.ini")
    assert migrate(shell, "history").empty  # the ini of migrations/ is not read for kept/


@pytest.mark.parametrize("location", ["migrations", "%(here)s/migrations"])
def test_config_ini_takes_the_directory_that_file_names(shell: Any, workdir: Path, location: str) -> None:
    """``config --ini PATH`` alone reads PATH's script_location, as ``alembic -c PATH`` does."""
    (workdir / "project").mkdir()
    alembic(workdir / "project", "init", "migrations")
    ini = workdir / "project" / "alembic.ini"
    text = re.sub(r"^script_location = .*$", f"script_location = {location}", ini.read_text(), flags=re.M)
    ini.write_text(text.replace("driver://user:pass@localhost/dbname", f"sqlite:///{workdir / 'app.db'}"))
    if location == "migrations":  # relative to the working directory, as the CLI resolves it
        (workdir / "project" / "migrations").rename(workdir / "migrations")
    alembic(workdir, "-c", "project/alembic.ini", "revision", "-m", "one", "--rev-id", "0ne")
    shown = migrate(shell, "config --ini project/alembic.ini")
    expected = workdir / "project" / "migrations" if location != "migrations" else Path("migrations")
    assert Path(shown.loc[0, "directory"]) == expected
    assert list(migrate(shell, "history")["revision"]) == ["0ne"]
    migrate(shell, "upgrade head")
    assert list(migrate(shell, "current")["revision"]) == ["0ne"]


@pytest.mark.parametrize(
    ("definition", "error"),
    [
        ("class Boom(Exception):\n    pass\n", "RuntimeError"),
        (
            "import sqlalchemy as sa\nm = sa.MetaData()\nsa.Table('t', m, sa.Column('a', sa.Integer))\n",
            "InvalidRequestError",
        ),
        ("", "AssertionError"),
    ],
)
def test_a_metadata_expression_that_raises_names_the_users_line(
    shell: Any, workdir: Path, definition: str, error: str
) -> None:
    """Whatever the user's code raises, one line: its error and the user's own line, no traceback."""
    raising = {
        "RuntimeError": "    raise RuntimeError('models not ready')",
        "InvalidRequestError": "    sa.Table('t', m, sa.Column('b', sa.Integer))",  # defined twice
        "AssertionError": "    assert False, 'not yet'",
    }[error]
    shell.run_cell(f"{definition}def make_models():\n{raising}\n    return None\n")
    migrate(shell, "init")
    magics_of(shell).metadata = "make_models()"
    message = one_line_error(shell, "diff")
    assert f"failed ({error}:" in message
    assert f"at line {len(definition.splitlines()) + 2}: {raising.strip()}" in message
