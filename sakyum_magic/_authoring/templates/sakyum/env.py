"""Alembic environment written by sakyum-magic; it needs no editing.

Run from the %migrate magic, the connection and models come through Config.attributes. Run from the
alembic CLI, the URL comes from $DATABASE_URL, else sqlalchemy.url in alembic.ini, and the models from
"sakyum_metadata = package.module:attribute" in alembic.ini (optional: only autogenerate needs them).
The CLI takes the same lock as %migrate (sakyum_env_lock.py; alembic -x lock_timeout=SECONDS, default
600) and logs each step in sakyum_migration_log as %migrate does (sakyum_env_support.py; alembic -x
audit=false, or "sakyum_audit = false" in alembic.ini, turns that off). Both files sit beside this one.
"""

from __future__ import annotations

import importlib.util
import os
from logging.config import fileConfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import __version__ as alembic_version
from alembic import context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    import sakyum_env_lock as lock
    import sakyum_env_support as support
else:  # this directory's own copies, whatever else the process has loaded

    def _own(name):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        spec.loader.exec_module(module := importlib.util.module_from_spec(spec))
        return module

    lock, support = _own("sakyum_env_lock"), _own("sakyum_env_support")

config = context.config
connection = config.attributes.get("connection")
TOOL = f"alembic {alembic_version} via env.py"

# Callers that pass attributes (the magic, pytest-alembic) keep their own logging set-up.
if not config.attributes and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if "target_metadata" in config.attributes:
    target_metadata = config.attributes["target_metadata"]
else:
    target_metadata = support.metadata_from(config.get_main_option("sakyum_metadata"))


def configure_options(dialect_name: str) -> dict[str, Any]:
    """Defaults users ask for, plus whatever the caller passes in sakyum_options."""
    options = {
        "target_metadata": target_metadata,
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": dialect_name == "sqlite",
        "transaction_per_migration": True,
        "include_name": support.without_own_tables,
    }
    options.update(config.attributes.get("sakyum_options", {}))
    return options


def x_option(name: str, ini_name: str) -> str | None:
    """``alembic -x NAME=VALUE``, else the ini's ``INI_NAME = VALUE``."""
    return context.get_x_argument(as_dictionary=True).get(name) or config.get_main_option(ini_name)


def database_url() -> str:
    url = config.attributes.get("sakyum_url") or os.environ.get("DATABASE_URL")
    return str(url or config.get_main_option("sqlalchemy.url") or "")


def run_migrations_offline() -> None:
    """Write the SQL a migration would run, without connecting."""
    url = database_url()
    dialect_name = url.split(":", 1)[0].split("+", 1)[0]
    options = configure_options(dialect_name)
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(connection: Connection, **extra: Any) -> None:
    context.configure(connection=connection, **{**configure_options(connection.dialect.name), **extra})
    with context.begin_transaction():
        context.run_migrations()


def run_from_cli() -> None:
    """The alembic CLI: an engine of our own, the migration lock, and the applied-at log."""
    audit = support.switch(x_option("audit", "sakyum_audit"), True, "audit")
    timeout = lock.seconds(x_option("lock_timeout", "sakyum_lock_timeout"), lock.LOCK_TIMEOUT)
    engine = support.cli_engine(config.get_section(config.config_ini_section, {}), database_url())
    # pysqlite: cli_engine() gave it the transactional-DDL recipe, so Alembic may rely on it.
    extra: dict[str, Any] = {"transactional_ddl": True} if engine.dialect.driver == "pysqlite" else {}
    step_log = support.StepLog(engine, TOOL) if audit else None
    if step_log is not None:
        step_log.watch(context.script)
        extra["on_version_apply"] = [step_log]
    with lock.cli_lock(engine, timeout, "alembic CLI"):
        try:
            with engine.connect() as cli_connection:
                support.set_timeouts(cli_connection, x_option)
                run_migrations_online(cli_connection, **extra)
        except DBAPIError:
            if step_log is not None:
                step_log.log_failure()
            raise


if context.is_offline_mode():
    run_migrations_offline()
elif isinstance(connection, Engine):  # some tools (pytest-alembic) hand over an engine instead
    with connection.connect() as engine_connection:
        run_migrations_online(engine_connection)
elif connection is not None:
    run_migrations_online(connection)
else:
    run_from_cli()
