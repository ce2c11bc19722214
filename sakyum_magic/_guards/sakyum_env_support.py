# sakyum-magic env.py support, format 4 (`%migrate init --refresh` rewrites this file and env.py)
"""The applied-at log, SQLite's transactional DDL and what env.py asks for, shared by env.py and %migrate.

``%migrate init`` copies this file unchanged beside the env.py it writes (with ``sakyum_env_lock.py``,
the migration lock), and sakyum_magic imports this same file, so the alembic CLI and the magic keep
one log. It needs only the standard library, SQLAlchemy and Alembic: env.py runs where sakyum_magic
is not installed.

- The log: one row per upgrade, downgrade and stamp step in :data:`LOG_TABLE`, in the step's own
  transaction; a failed step gets a row after its rollback.
- SQLite: each revision's DDL and its version update in one transaction (SQLAlchemy's pysqlite recipe).
- The database's own timeouts (``upgrade --lock-timeout``), the models named in alembic.ini, and the
  alembic CLI's engine.
"""

from __future__ import annotations

import functools
import getpass
import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.engine import Connection, Engine

FORMAT = 4
"""This file's format, in its first line; a directory holding an older one is offered a refresh.

4: the lock moved to ``sakyum_env_lock.py`` (same format); 3: one support file."""
HEADER = "# sakyum-magic env.py support, format "

LOG_TABLE = "sakyum_migration_log"
MARKER_TABLE = "sakyum_in_progress"
OWN_TABLES = frozenset({MARKER_TABLE, LOG_TABLE})
"""Tables %migrate may keep in a database: never a model's, left alone by autogenerate."""
ON, OFF = ("true", "yes", "on", "1"), ("false", "no", "off", "0")

# -- SQLite: each revision's DDL inside its transaction (SQLAlchemy's pysqlite recipe) -----------------


def make_sqlite_ddl_transactional(engine: Engine, writer_option: str | None = None) -> None:
    """The driver's transaction handling off, SQLAlchemy's BEGIN instead: a revision's DDL and its
    version update commit together. BEGIN IMMEDIATE for every transaction, or, with
    ``writer_option``, only on connections carrying that execution option."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def driver_leaves_transactions_alone(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()  # a cursor: aiosqlite's adapted connection has no execute()
        cursor.execute("PRAGMA foreign_keys=OFF")  # a batch rebuild would cascade-delete child rows
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":  # autocommit_block(): no BEGIN
            return
        # IMMEDIATE waits out the busy timeout where a deferred BEGIN's first write fails at once.
        immediate = writer_option is None or options.get(writer_option)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# -- the applied-at log ------------------------------------------------------------------------------


@functools.cache
def log_table() -> Table:
    """The log table; one Table object, so its statements compile once."""
    import sqlalchemy as sa

    return sa.Table(
        LOG_TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("applied_at", sa.String(40), nullable=False),
        sa.Column("revision", sa.String(255), nullable=False),
        sa.Column("from_revision", sa.String(255), nullable=False),
        sa.Column("to_revision", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("who", sa.String(255), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
    )


@functools.cache
def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown"


def log_row(
    revision: str, before: str, after: str, direction: str, seconds: float | None, ok: bool, tool: str
) -> dict[str, Any]:
    return {
        "applied_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "revision": revision,
        "from_revision": before,
        "to_revision": after,
        "direction": direction,
        "seconds": seconds,
        "ok": ok,
        "who": who(),
        "tool": tool,
    }


def step_row(step: Any, direction: str, seconds: float | None, tool: str) -> dict[str, Any]:
    """The row of one step Alembic applied (an ``on_version_apply`` hook's ``step``)."""
    before = ", ".join(step.source_revision_ids) or "base"
    after = ", ".join(step.destination_revision_ids) or "base"
    revision = getattr(step, "up_revision_id", None) or ", ".join(step.up_revision_ids) or "base"
    return log_row(revision, before, after, direction, seconds, True, tool)


def switch(value: str | None, default: bool, name: str) -> bool:
    """A true/false setting (``-x NAME=false``, ``sakyum_NAME = false``); CommandError otherwise."""
    if value is None:
        return default
    if value.strip().lower() not in ON + OFF:
        from alembic.util import CommandError

        raise CommandError(
            f"{name} is true or false, not {value!r}: -x {name}=false, or sakyum_{name} = false"
        )
    return value.strip().lower() in ON


# -- the database's own timeouts (upgrade --lock-timeout; -x upgrade_lock_timeout=2s) -----------------

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}


def duration(text: str) -> float:
    """``2s``, ``500ms``, ``15min``, ``1h`` or a number of seconds; ValueError otherwise."""
    value = text.strip().lower()
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    unit = value[len(number) :].strip() or "s"
    if unit not in _UNITS or not number:
        raise ValueError(f"a duration such as 2s, 500ms or 15min, not {text!r}")
    return float(number) * _UNITS[unit]


def timeout_statements(
    dialect: str, mariadb: bool, lock: float | None, statement: float | None, scope: str
) -> list[str]:
    """The statements that set the lock and statement timeouts; ``scope`` is ``LOCAL`` (PostgreSQL:
    until the transaction ends) or ``SESSION``. MySQL and MariaDB set them for the session; SQLite's
    lock timeout is its busy timeout (it has no statement timeout)."""
    found = []
    if dialect == "sqlite" and lock is not None:
        found.append(f"PRAGMA busy_timeout = {max(int(lock * 1000), 1)}")
    if dialect == "postgresql":
        if lock is not None:
            found.append(f"SET {scope} lock_timeout = '{max(int(lock * 1000), 1)}ms'")
        if statement is not None:
            found.append(f"SET {scope} statement_timeout = '{max(int(statement * 1000), 1)}ms'")
    elif dialect == "mysql":
        if lock is not None:
            found.append(f"SET SESSION lock_wait_timeout = {max(round(lock), 1)}")
            found.append(f"SET SESSION innodb_lock_wait_timeout = {max(round(lock), 1)}")
        if statement is not None:
            found.append(
                f"SET SESSION max_statement_time = {statement:g}"
                if mariadb
                else f"SET SESSION max_execution_time = {max(int(statement * 1000), 1)}"
            )
    return found


def set_timeouts(connection: Connection, option: Callable[[str, str], str | None]) -> None:
    """The alembic CLI (``-x upgrade_lock_timeout=2s -x upgrade_statement_timeout=15min``, or
    ``sakyum_upgrade_lock_timeout = 2s`` in alembic.ini; ``option`` reads them): the timeouts set for the
    session before the run, committed so that Alembic begins its own transactions."""
    from alembic.util import CommandError

    lock = option("upgrade_lock_timeout", "sakyum_upgrade_lock_timeout")
    statement = option("upgrade_statement_timeout", "sakyum_upgrade_statement_timeout")
    try:
        limits = [duration(v) if v else None for v in (lock, statement)]
    except ValueError as exc:
        raise CommandError(f"upgrade_lock_timeout / upgrade_statement_timeout: {exc}") from None
    mariadb = bool(getattr(connection.dialect, "is_mariadb", False))
    found = timeout_statements(connection.dialect.name, mariadb, limits[0], limits[1], "SESSION")
    if connection.dialect.name == "sqlite":
        if limits[1] is not None:
            raise CommandError("upgrade_statement_timeout: SQLite has no statement timeout; leave it out")
        cursor = connection.connection.cursor()  # the driver's: SQLAlchemy's BEGIN would wait for the lock
        for text in found:
            cursor.execute(text)
        cursor.close()
        return
    for text in found:
        connection.exec_driver_sql(text)
    if connection.in_transaction():
        connection.commit()


# -- what env.py asks for --------------------------------------------------------------------------


def without_own_tables(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate leaves alone the tables %migrate keeps (its log, its notes of unfinished revisions)."""
    return not (type_ == "table" and name in OWN_TABLES)


def as_metadata(value: Any) -> MetaData:
    """A MetaData from a MetaData, a declarative base or a Flask-SQLAlchemy db."""
    from sqlalchemy import MetaData

    if isinstance(value, MetaData):
        return value
    if isinstance(getattr(value, "metadata", None), MetaData):
        return value.metadata  # type: ignore[no-any-return]
    return value.Model.metadata  # type: ignore[no-any-return]


def metadata_from(spec: str | None) -> MetaData | list[MetaData] | None:
    """The models named by ``sakyum_metadata = package.module:attribute`` (a list of them too); the
    attribute may be a dotted path (``models:db.Model.metadata``)."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    value, reached = importlib.import_module(module_name), module_name
    for name in (attribute or "metadata").split("."):
        if not hasattr(value, name):
            from alembic.util import CommandError

            raise CommandError(
                f"sakyum_metadata = {spec} in alembic.ini: {reached} has no {name!r}; name a MetaData, "
                "a declarative base or a Flask-SQLAlchemy db (module:attribute, or a dotted path such as "
                "models:db.Model.metadata)"
            )
        value = getattr(value, name)
        reached += f"{':' if reached == module_name else '.'}{name}"
    if isinstance(value, list | tuple):
        return [as_metadata(item) for item in value]
    return as_metadata(value)


# -- the alembic CLI's run: its own engine and the log ---------------------------------------------


def cli_engine(section: dict[str, Any], url: str) -> Engine:
    """The CLI's engine (no pool); ``?password=`` becomes the URL's password, so Alembic masks it."""
    from sqlalchemy import engine_from_config, pool
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    password = parsed.query.get("password")
    if parsed.password is None and isinstance(password, str):
        parsed = parsed.set(password=password).difference_update_query(["password"])
    # future=True: the 2.0-style connection (commit()) on SQLAlchemy 1.4 too; 2.x accepts it as is.
    section = {**section, "sqlalchemy.url": parsed}
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool, future=True)
    if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
        make_sqlite_ddl_transactional(engine)
    return engine


class StepLog:
    """The CLI's ``on_version_apply`` hook: a row per step, in the step's transaction; a failed step's
    row after its rollback. Each revision's upgrade() and downgrade() is timed (``watch``)."""

    def __init__(self, engine: Engine, tool: str) -> None:
        self.engine, self.tool, self.created = engine, tool, False
        self.running: tuple[str, str, float] | None = None  # the revision function running now

    def watch(self, script: Any) -> None:
        for revision in script.walk_revisions():
            for name, direction in (("upgrade", "up"), ("downgrade", "down")):
                function = getattr(revision.module, name, None)
                if function is not None:
                    setattr(revision.module, name, self.timed(revision.revision, direction, function))

    def timed(self, revision: str, direction: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # Alembic logs "Running upgrade ..." from the function's name
        def timed_function(*args: Any, **kw: Any) -> Any:
            from alembic import op

            self.running = (revision, direction, time.perf_counter())
            self.create_table(op.get_bind())  # before the DDL: on MySQL/MariaDB DDL commits at once
            return function(*args, **kw)

        return timed_function

    def create_table(self, connection: Connection) -> None:
        if not self.created:
            log_table().create(connection, checkfirst=True)
            self.created = True

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        self.create_table(ctx.connection)  # a stamp runs no revision function
        direction = "stamp" if step.is_stamp else ("up" if step.is_upgrade else "down")
        seconds = round(time.perf_counter() - self.running[2], 4) if self.running else 0.0
        ctx.connection.execute(log_table().insert(), step_row(step, direction, seconds, self.tool))
        self.running = None

    def log_failure(self) -> None:
        if self.running is None:  # no revision was running: the failure is no step's
            return
        from alembic.runtime.migration import MigrationContext

        revision, direction, _ = self.running
        with self.engine.connect() as connection:
            heads = MigrationContext.configure(connection).get_current_heads()
            before = ", ".join(sorted(heads)) or "base"
            log_table().create(connection, checkfirst=True)
            row = log_row(revision, before, before, direction, None, False, self.tool)
            connection.execute(log_table().insert(), row)
            connection.commit()
