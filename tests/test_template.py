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
    from sakyum_magic._authoring.template import ENV_PY

    assert (workdir / "alembic" / "env.py").read_text() == ENV_PY
    compile(ENV_PY, "env.py", "exec")


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


def env_py_log_rules() -> dict[str, Any]:
    """The log table, its rows and the own-tables filter of the generated env.py, run on their own."""
    import ast
    import getpass
    from datetime import datetime, timezone

    from sakyum_magic._authoring.template import ENV_PY

    wanted = {"log_table", "log_row", "who", "without_own_tables"}
    constants = {"LOG_TABLE", "OWN_TABLES"}
    nodes: list[ast.stmt] = [
        node
        for node in ast.parse(ENV_PY).body
        if (isinstance(node, ast.FunctionDef) and node.name in wanted)
        or (isinstance(node, ast.Assign) and {getattr(t, "id", "") for t in node.targets} & constants)
    ]
    assert len(nodes) == len(wanted) + len(constants)
    names = ("Boolean", "Column", "Float", "Integer", "MetaData", "String", "Table")
    found: dict[str, Any] = {name: getattr(sa, name) for name in names}
    found |= {"getpass": getpass, "datetime": datetime, "timezone": timezone, "alembic_version": "X"}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "env.py", "exec"), found)
    return found


def test_env_py_keeps_the_same_log_as_the_core() -> None:
    from sakyum_magic._guards import audit
    from sakyum_magic._run.database import LOG_TABLE, OWN_TABLES

    env = env_py_log_rules()
    assert env["LOG_TABLE"] == LOG_TABLE and set(env["OWN_TABLES"]) == OWN_TABLES
    mine, core = env["log_table"](), audit.table()
    assert mine.name == core.name
    assert [describe(column) for column in mine.columns] == [describe(column) for column in core.columns]
    row = env["log_row"]("r2", "r1", "r2", "up", 0.5, True)
    expected = audit._row("r2", "r1", "r2", "up", 0.5, True)
    assert row.keys() == expected.keys()
    assert {key: row[key] for key in row if key not in {"applied_at", "tool"}} == {
        key: expected[key] for key in expected if key not in {"applied_at", "tool"}
    }
    assert len(row["applied_at"]) == len(expected["applied_at"]) and row["applied_at"].endswith("+00:00")
    assert row["tool"] == "alembic X via env.py"
    for name in ("t", *OWN_TABLES):
        assert env["without_own_tables"](name, "table", {}) == (name not in OWN_TABLES)
        assert env["without_own_tables"](name, "column", {})


def describe(column: sa.Column[Any]) -> tuple[Any, ...]:
    return (
        column.name,
        type(column.type),
        getattr(column.type, "length", None),
        column.nullable,
        column.primary_key,
        column.autoincrement,
    )
