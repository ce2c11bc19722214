"""Differences between the library versions sakyum-magic supports, in one place.

Supported: SQLAlchemy 1.4.45 and later, Alembic 1.9.4 and later, IPython 8.12 and later, with
whatever progress-bar support the environment has. The rest of the package calls the
functions here instead of branching on versions, so when a minimum rises the matching function
shrinks to its newer half (SQLAlchemy 2.0: ``engine_options``, ``uuid_types``; Alembic 1.16:
``alembic_option`` and its neighbours, ``has_pyproject``) and this module can go.

Nothing here imports SQLAlchemy, Alembic or pandas at module level: ``%load_ext`` stays cheap.
"""

from __future__ import annotations

import functools
import inspect
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection


def _release(version: str) -> tuple[int, ...]:
    """(1, 4, 45) from '1.4.45', '2.1.0b1' or '1.16.0.dev0': the leading numbers only."""
    numbers = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(n) for n in numbers.group(0).split(".")) if numbers else ()


@functools.cache
def sqlalchemy_version() -> tuple[int, ...]:
    """The installed SQLAlchemy's release, e.g. ``(1, 4, 45)``."""
    import sqlalchemy

    return _release(sqlalchemy.__version__)


@functools.cache
def alembic_version() -> tuple[int, ...]:
    """The installed Alembic's release, e.g. ``(1, 9, 4)``."""
    import alembic

    return _release(alembic.__version__)


# --- SQLAlchemy 1.4 ------------------------------------------------------------------------------


def engine_options() -> dict[str, Any]:
    """Keyword arguments every ``create_engine`` here adds, so that one code path serves every version.

    On SQLAlchemy 1.4 that is ``future=True``: the 2.0-style Engine and Connection (autobegin,
    ``Connection.commit``/``rollback``, no library-level autocommit), which is all 2.0 has.
    """
    return {"future": True} if sqlalchemy_version() < (2,) else {}


def postgres_scheme() -> str:
    """The URL scheme to suggest for PostgreSQL: psycopg 3 on SQLAlchemy 2, psycopg2 on 1.4 (which has
    no psycopg 3 dialect)."""
    return "postgresql+psycopg" if sqlalchemy_version() >= (2,) else "postgresql+psycopg2"


def uuid_types() -> tuple[type, ...]:
    """The SQLAlchemy types that hold a UUID (``Uuid`` appeared in 2.0; 1.4 has only the dialects')."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import UUID

    generic = getattr(sa, "Uuid", None)
    return (UUID,) if generic is None else (generic, UUID)


def column_names(connection: Connection) -> dict[str, list[str]]:
    """The column names of every table in the default schema, by table.

    One reflection query on SQLAlchemy 2 (``get_multi_columns``); one per table on 1.4.
    """
    from sqlalchemy import inspect

    inspector = inspect(connection)
    multi = getattr(inspector, "get_multi_columns", None)
    if multi is not None:
        return {table: [c["name"] for c in found] for (_schema, table), found in multi().items()}
    return {table: [c["name"] for c in inspector.get_columns(table)] for table in inspector.get_table_names()}


# --- Alembic before 1.16 (no pyproject.toml, no typed option getters) -----------------------------


@functools.cache
def has_pyproject() -> bool:
    """Whether Alembic reads ``[tool.alembic]`` from pyproject.toml (Alembic 1.16 and later)."""
    from alembic.config import Config

    return "toml_file" in inspect.signature(Config).parameters


def alembic_option(config: Config, name: str, default: str | None = None) -> str | None:
    """An ``[alembic]`` setting (from pyproject.toml first where Alembic reads it, else alembic.ini)."""
    getter = getattr(config, "get_alembic_option", None)
    if getter is None:
        return config.get_main_option(name, default)
    value = getter(name, default)
    return None if value is None else str(value)


def alembic_flag(config: Config, name: str) -> bool:
    """A true/false ``[alembic]`` setting such as ``sourceless`` or ``recursive_version_locations``."""
    getter = getattr(config, "get_alembic_boolean_option", None)
    if getter is not None:
        return bool(getter(name))
    return config.get_main_option(name) == "true"  # how Alembic before 1.16 reads its flags


def version_locations(config: Config) -> tuple[str, ...]:
    """The configured ``version_locations`` (as listed where Alembic can split them, else the raw text)."""
    return _listed(config, "get_version_locations_list", "version_locations")


def prepend_sys_paths(config: Config) -> tuple[str, ...]:
    """The configured ``prepend_sys_path`` entries (the raw text where Alembic cannot split them)."""
    return _listed(config, "get_prepend_sys_paths_list", "prepend_sys_path")


def _listed(config: Config, getter_name: str, option: str) -> tuple[str, ...]:
    """A list setting through Alembic's own splitter (1.16+), else the raw text as one entry."""
    getter = getattr(config, getter_name, None)
    if getter is not None:
        return tuple(getter() or ())
    raw = config.get_main_option(option)
    return (raw,) if raw else ()


def alter_column_op(table_name: str, column_name: str, **options: Any) -> Any:
    """``ops.AlterColumnOp(table_name, column_name, **options)``, rendered with its new name everywhere.

    Autogenerate renders ``modify_name`` as ``new_column_name=`` from Alembic 1.15.2 on; before that it
    left the name out, so a rename would be written as a no-op. There a subclass is returned, whose
    renderer (registered through Alembic's ``renderers.dispatch_for``) adds it.
    """
    from alembic.operations import ops

    if alembic_version() >= (1, 15, 2) or options.get("modify_name") is None:
        return ops.AlterColumnOp(table_name, column_name, **options)
    return _renaming_alter_column()(table_name, column_name, **options)


@functools.cache
def _renaming_alter_column() -> type:
    from alembic.autogenerate import renderers
    from alembic.operations import ops

    class RenamingAlterColumnOp(ops.AlterColumnOp):
        """An alter_column that renames, for Alembic versions that would not render the new name."""

    stock = renderers.dispatch(ops.AlterColumnOp)

    @renderers.dispatch_for(RenamingAlterColumnOp)
    def _render(context: Any, op: Any) -> str:
        text: str = stock(context, op)
        return f"{text[:-1]},\n{' ' * 11}new_column_name={op.modify_name!r})"

    return RenamingAlterColumnOp


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """Hold back what Alembic prints to stdout while writing files ("Generating ... done").

    Alembic honours ``cmd_opts.quiet`` (which the Config here sets) from 1.10 on; before that it
    writes to ``sys.stdout`` unconditionally, so there stdout is redirected for the duration.
    """
    from alembic.util import messaging

    if "quiet" in inspect.signature(messaging.msg).parameters:
        yield
        return
    with redirect_stdout(io.StringIO()):
        yield


def recursive_version_locations(script: ScriptDirectory) -> bool:
    """Whether the revision files may sit in sub-folders (Alembic 1.10 and later)."""
    return bool(getattr(script, "recursive_version_locations", False))
