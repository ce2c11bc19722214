"""The generated env.py: driven by the magic, by the plain CLI (see test_cli_interop), and by other
tools that pass a connection or engine through ``Config.attributes``, such as pytest-alembic."""

from __future__ import annotations

from pathlib import Path

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
    from sakyum_magic.template import ENV_PY

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
