"""%migrate through a real InteractiveShell: parsing, binding, rendering, and one-line UsageErrors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sakyum_magic import ResultFrame, ResultText
from tests.conftest import POSTGRES_DRIVER
from tests.models import USERS, USERS_AND_POSTS
from tests.shells import alembic, migrate, one_line_error


def test_load_and_unload(shell: Any) -> None:
    assert "migrate" in shell.magics_manager.magics["line"]
    shell.run_line_magic("unload_ext", "sakyum_magic")
    assert "migrate" not in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "sakyum_magic")
    assert "migrate" in shell.magics_manager.magics["line"]


def test_chapter_workflow_returns_tables(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    binding = migrate(shell, "config --metadata Base")
    assert binding.loc[0, "url"] == "sqlite:///default.db" and binding.loc[0, "tables"] == 1
    assert isinstance(migrate(shell, "init"), ResultText)
    made = migrate(shell, "revision --autogenerate -m 'Added tables'")
    assert isinstance(made, ResultFrame)
    assert list(made["op"]) == ["add_table"]
    revision = made.written[0].revision
    steps = migrate(shell, "upgrade head")
    assert list(steps.columns) == ["revision", "message", "direction", "seconds"]
    assert list(steps["revision"]) == [revision]
    current = migrate(shell, "current")
    assert current.loc[0, "revision"] == revision and bool(current.loc[0, "is_head"])
    history = migrate(shell, "history --verbose")
    assert list(history.columns)[:10] == [
        "revision",
        "down_revision",
        "branch_labels",
        "message",
        "create_date",
        "is_head",
        "is_branch_point",
        "is_merge",
        "is_current",
        "path",
    ]
    down = migrate(shell, "downgrade base")
    assert list(down["direction"]) == ["down"]
    unversioned = migrate(shell, "current")
    assert isinstance(unversioned, pd.DataFrame) and unversioned.empty
    assert (workdir / "default.db").is_file()


def test_results_can_be_assigned(shell: Any) -> None:
    shell.run_cell(USERS)
    migrate(shell, "init")
    shell.run_cell("df = %migrate history")
    assert isinstance(shell.user_ns["df"], pd.DataFrame)


def test_single_metadata_in_namespace_is_found(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell(USERS)
    migrate(shell, "init")
    migrate(shell, "revision --autogenerate -m first")
    assert "Using 'Base'" in capsys.readouterr().out
    assert shell.run_line_magic("config", "MigrateMagics.metadata") == "Base"


def test_no_or_several_metadata_candidates(shell: Any) -> None:
    migrate(shell, "init")
    assert "none found" in one_line_error(shell, "revision --autogenerate -m x")
    shell.run_cell(USERS)
    shell.run_cell("import sqlalchemy as sa\nother = sa.MetaData()")
    message = one_line_error(shell, "revision --autogenerate -m x")
    assert "Base" in message and "other" in message and "--metadata" in message


def test_metadata_expression_is_evaluated_at_every_command(shell: Any) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    migrate(shell, "init")
    migrate(shell, "revision --autogenerate -m users")
    migrate(shell, "upgrade")
    shell.run_cell(USERS_AND_POSTS)
    made = migrate(shell, "revision --autogenerate -m posts")
    assert list(made["table"]) == ["posts"]


def test_list_of_metadata(shell: Any) -> None:
    shell.run_cell(
        "import sqlalchemy as sa\na = sa.MetaData(); b = sa.MetaData()\n"
        "sa.Table('ta', a, sa.Column('id', sa.Integer, primary_key=True))\n"
        "sa.Table('tb', b, sa.Column('id', sa.Integer, primary_key=True))"
    )
    binding = migrate(shell, "config --metadata [a, b]")
    assert binding.loc[0, "tables"] == 2
    migrate(shell, "init")
    made = migrate(shell, "revision --autogenerate -m both")
    assert sorted(made["table"]) == ["ta", "tb"]


def test_traitlets_configure_the_binding(shell: Any, workdir: Path) -> None:
    shell.run_line_magic("config", f"MigrateMagics.url = 'sqlite:///{workdir}/other.db'")
    shell.run_line_magic("config", "MigrateMagics.directory = 'migrations'")
    binding = migrate(shell, "config")
    assert binding.loc[0, "url"] == f"sqlite:///{workdir}/other.db"
    assert binding.loc[0, "directory"] == "migrations"


def test_help_runs_nothing(shell: Any, workdir: Path) -> None:
    text = migrate(shell, "upgrade -h")
    assert isinstance(text, ResultText) and "usage: %migrate upgrade" in text
    assert "init" in migrate(shell, "-h")
    assert not (workdir / "default.db").exists()
    doc = shell.magics_manager.magics["line"]["migrate"].__doc__
    assert "history" in doc and "downgrade" in doc


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", "which command"),
        ("frobnicate", "invalid choice"),
        ("upgrade --bogus", "unrecognized arguments"),
        ("history -n 1", "%migrate history: unrecognized arguments: -n 1 (see %migrate history -h)"),
        ("downgrade", "required"),
        ("history 'unbalanced", "quotes"),
        ("history", "run %migrate init"),
        ("config --url 'not a url'", "cannot parse"),
        ("config --metadata Nope", "NameError"),
    ],
)
def test_bad_input_is_a_one_line_one_line_error(shell: Any, line: str, expected: str) -> None:
    assert expected in one_line_error(shell, line)


def test_revision_errors(shell: Any) -> None:
    migrate(shell, "init")
    migrate(shell, "revision -m a --rev-id abc1")
    migrate(shell, "revision -m b --rev-id abc2")
    assert "zzz" in one_line_error(shell, "upgrade zzz")
    assert "abc" in one_line_error(shell, "upgrade abc")
    migrate(shell, "revision -m c --rev-id abc3 --head abc1 --splice")
    assert "merge heads" in one_line_error(shell, "upgrade head")


def test_unreachable_server_shows_the_url_masked(shell: Any) -> None:
    migrate(shell, f"config --url {POSTGRES_DRIVER}://app:hunter2@127.0.0.1:1/app")
    migrate(shell, "init")
    migrate(shell, "revision -m one")
    message = one_line_error(shell, "upgrade")
    assert f"cannot connect to {POSTGRES_DRIVER}://app:***@127.0.0.1:1/app" in message
    assert "hunter2" not in message


def test_failed_config_changes_nothing(shell: Any) -> None:
    migrate(shell, "config --url sqlite:///kept.db")
    one_line_error(shell, "config --url 'bad url'")
    assert migrate(shell, "config").loc[0, "url"] == "sqlite:///kept.db"


def test_nothing_is_printed(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Not even a progress bar where the output is no terminal (see test_progress.py for where)."""
    migrate(shell, "init")
    for i in range(12):
        migrate(shell, f"revision -m step{i} --rev-id r{i:02d}")
    migrate(shell, "upgrade +2")
    migrate(shell, "current")
    migrate(shell, "history")
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    migrate(shell, "upgrade head")
    migrate(shell, "downgrade base")
    assert capsys.readouterr() == ("", "")


def test_config_listing_never_shows_the_password(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    migrate(shell, f"config --url {POSTGRES_DRIVER}://app:hunter2@127.0.0.1:1/app")
    shell.run_line_magic("config", "MigrateMagics")
    listing = capsys.readouterr().out
    assert "app:***@127.0.0.1:1/app" in listing and "hunter2" not in listing
    assert (
        shell.run_line_magic("config", "MigrateMagics.url") == f"{POSTGRES_DRIVER}://app:***@127.0.0.1:1/app"
    )
    magics = shell.magics_manager.registry["MigrateMagics"]
    migrate(shell, "config")
    assert magics.migrator.url == f"{POSTGRES_DRIVER}://app:hunter2@127.0.0.1:1/app"


def test_a_broken_metadata_binding_can_be_shown_and_cleared(shell: Any) -> None:
    shell.run_cell("import sqlalchemy as sa\nmd = sa.MetaData()")
    migrate(shell, "config --metadata md")
    shell.run_cell("del md")
    shown = migrate(shell, "config")
    assert shown.loc[0, "metadata"] == "md (fails to evaluate)"
    cleared = migrate(shell, "config --metadata ''")
    assert cleared.loc[0, "metadata"] == "(none)"


def test_autogenerate_with_a_stock_env_py_says_what_to_do(shell: Any, workdir: Path) -> None:
    alembic(workdir, "init", "plain")
    shell.run_cell(USERS)
    migrate(shell, "config --dir plain --metadata Base")
    assert "set target_metadata in env.py" in one_line_error(shell, "revision --autogenerate -m x")


def test_lines_are_taken_literally(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    shell.run_cell("price = 9")
    shell.run_cell('%migrate revision -m \'cost is $price, total {40+2} {open("ran", "w")}\' --rev-id c1')
    assert migrate(shell, "show c1").loc[0, "message"] == 'cost is $price, total {40+2} {open("ran", "w")}'
    assert not (workdir / "ran").exists()


def _seconds_to_parse(shell: Any, length: int) -> float:
    """Best of five: a line with a ``length``-character message, through the shell (``-h``: nothing runs)."""
    line = f"revision -h -m '{'word $x {y} ' * (length // 12)}'"
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        shell.run_cell(f"%migrate {line}")
        migrate(shell, line)
        best = min(best, time.perf_counter() - started)
    return best


def test_a_long_line_parses_in_linear_time(shell: Any) -> None:
    short, long = _seconds_to_parse(shell, 20_000), _seconds_to_parse(shell, 200_000)
    assert long < 5 and long / short < 40, (short, long)  # ten times the text; quadratic would be 100 times
