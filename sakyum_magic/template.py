"""The files ``init`` writes: a standard Alembic directory whose env.py needs no hand-editing.

When the magic runs env.py, the connection and the target metadata arrive through
``Config.attributes`` (the connection under Alembic's documented key ``connection``, so other tools
that drive env.py, such as pytest-alembic, work too). From the plain ``alembic`` CLI, env.py takes
the URL from ``$DATABASE_URL`` or alembic.ini, and the metadata from the optional
``sakyum_metadata = module:attribute`` line of alembic.ini.
"""

from __future__ import annotations

import os
from pathlib import Path

from .records import InitResult

ENV_PY = '''\
"""Alembic environment written by sakyum-magic; it needs no editing.

Run from the %migrate magic, the connection and models come through Config.attributes.
Run from the alembic CLI, the URL comes from $DATABASE_URL, else sqlalchemy.url in alembic.ini,
and the models from "sakyum_metadata = package.module:attribute" in alembic.ini (optional:
upgrade, downgrade, current and history work without it; autogenerate needs it).
"""

import importlib
import os
from logging.config import fileConfig

from sqlalchemy import MetaData, engine_from_config, pool
from sqlalchemy.engine import Engine

from alembic import context

config = context.config
connection = config.attributes.get("connection")

# Callers that pass attributes (the magic, pytest-alembic) keep their own logging set-up.
if not config.attributes and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def as_metadata(value):
    """A MetaData from a MetaData, a declarative base or a Flask-SQLAlchemy db."""
    if isinstance(value, MetaData):
        return value
    if isinstance(getattr(value, "metadata", None), MetaData):
        return value.metadata
    return value.Model.metadata


def cli_target_metadata():
    spec = config.get_main_option("sakyum_metadata")
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    value = getattr(importlib.import_module(module_name), attribute or "metadata")
    if isinstance(value, (list, tuple)):
        return [as_metadata(item) for item in value]
    return as_metadata(value)


if "target_metadata" in config.attributes:
    target_metadata = config.attributes["target_metadata"]
else:
    target_metadata = cli_target_metadata()


def configure_options(dialect_name):
    """Defaults users ask for, plus whatever the caller passes in sakyum_options."""
    options = {
        "target_metadata": target_metadata,
        "compare_type": True,
        "compare_server_default": True,
        "render_as_batch": dialect_name == "sqlite",
        "transaction_per_migration": True,
    }
    options.update(config.attributes.get("sakyum_options", {}))
    return options


def database_url():
    return (
        config.attributes.get("sakyum_url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )


def run_migrations_offline():
    """Write the SQL a migration would run, without connecting."""
    url = database_url()
    dialect_name = str(url).split(":", 1)[0].split("+", 1)[0]
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(dialect_name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online(connection):
    context.configure(connection=connection, **configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif isinstance(connection, Engine):  # some tools (pytest-alembic) hand over an engine instead
    with connection.connect() as engine_connection:
        run_migrations_online(engine_connection)
elif connection is not None:
    run_migrations_online(connection)
else:
    section = config.get_section(config.config_ini_section, {})
    section["sqlalchemy.url"] = database_url()
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as cli_connection:
        run_migrations_online(cli_connection)
'''

README = """\
Alembic migrations managed with sakyum-magic.

In a notebook:   %load_ext sakyum_magic   then   %migrate upgrade head
From a shell:    DATABASE_URL=... alembic upgrade head   (alembic.ini names this directory)
"""

ALEMBIC_INI = """\
# Written by sakyum-magic's %migrate init. A standard Alembic configuration.

[alembic]
script_location = {script_location}
prepend_sys_path = .
path_separator = os

# The database URL for the alembic CLI. $DATABASE_URL, when set, takes precedence.
# A URL with a password is written here without it: put the full URL in $DATABASE_URL instead.
sqlalchemy.url = {url}

# Optional, for autogenerate from the CLI: where the models' metadata lives (package.module:attribute).
# sakyum_metadata = myapp.models:db

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


def script_mako() -> str:
    """Alembic's own revision template, so revision files look exactly as ``alembic init`` makes them."""
    import alembic

    return (Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako").read_text()


def alembic_ini(script_location: Path, ini: Path, url_without_password: str) -> str:
    """alembic.ini text. A relative location is written relative to the ini file (``%(here)s``)."""
    location = _escape(str(script_location))
    if not script_location.is_absolute():
        relative = os.path.relpath(script_location.absolute(), ini.absolute().parent)
        location = "%(here)s/" + _escape(Path(relative).as_posix())
    return ALEMBIC_INI.format(script_location=location, url=_escape(url_without_password))


def _escape(value: str) -> str:
    """configparser interpolates ``%``: a literal one is written twice."""
    return value.replace("%", "%%")


def write_directory(target: Path, ini: Path, url_without_password: str) -> InitResult:
    """Write the migration directory and, unless it exists, alembic.ini (what ``init`` does)."""
    # Everything that can fail on bad input (the ini text) is made before the first write.
    ini_text = None if ini.exists() else alembic_ini(target, ini, url_without_password)
    (target / "versions").mkdir(parents=True, exist_ok=True)
    files = {"env.py": ENV_PY, "script.py.mako": script_mako(), "README": README}
    for name, text in files.items():
        (target / name).write_text(text)
    if ini_text is not None:
        ini.write_text(ini_text)
    note = None if ini_text is not None else _elsewhere(ini, target)
    return InitResult(str(target), (*files, "versions/"), str(ini), ini_text is not None, note)


def _elsewhere(ini: Path, target: Path) -> str | None:
    """A warning when an existing alembic.ini names another directory (the CLI would drive that one)."""
    from alembic.config import Config

    named = Config(str(ini)).get_main_option("script_location")
    if named is None or Path(named).absolute().resolve() == target.absolute().resolve():
        return None
    return (
        f"Note: {ini} names {named} as script_location, so the alembic CLI drives that directory, not "
        f"{target}; run the CLI with -c pointing at another ini, or edit script_location."
    )
