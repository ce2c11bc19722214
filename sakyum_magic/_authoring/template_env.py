"""The env.py text ``%migrate init`` writes (kept apart from the rest of
:mod:`sakyum_magic._authoring.template`).

Run from the magic, it takes the connection and the models from ``Config.attributes``; run from the
plain ``alembic`` CLI, it reads the URL, takes the same migration lock as the magic and keeps the same
applied-at log (that part in :mod:`sakyum_magic._authoring.template_audit`).
"""

from .template_audit import STEP_LOG
from .template_sqlite import SQLITE_DDL

_SETUP = '''\
"""Alembic environment written by sakyum-magic; it needs no editing.

Run from the %migrate magic, the connection and models come through Config.attributes.
Run from the alembic CLI, the URL comes from $DATABASE_URL, else sqlalchemy.url in alembic.ini,
and the models from "sakyum_metadata = package.module:attribute" in alembic.ini (optional:
upgrade, downgrade, current and history work without it; autogenerate needs it). The CLI takes
the same lock as %migrate, so the two never migrate one database at once; a CLI run waits up to
600 s for another migration to finish (alembic -x lock_timeout=SECONDS ... changes that).
Each upgrade, downgrade and stamp step the CLI runs adds a row to the sakyum_migration_log table, as
%migrate does (alembic -x audit=false ..., or "sakyum_audit = false" in alembic.ini, turns it off).
"""

import contextlib
import functools
import getpass
import hashlib
import importlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from datetime import datetime, timezone
from logging.config import fileConfig

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, engine_from_config, pool
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from alembic import __version__ as alembic_version
from alembic import context
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

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
    value, reached = importlib.import_module(module_name), module_name
    for name in (attribute or "metadata").split("."):  # a dotted path: models:db.Model.metadata
        if not hasattr(value, name):
            raise CommandError(
                f"sakyum_metadata = {spec} in alembic.ini: {reached} has no {name!r}; name a MetaData, "
                "a declarative base or a Flask-SQLAlchemy db (module:attribute, or a dotted path such as "
                "models:db.Model.metadata)"
            )
        value = getattr(value, name)
        reached += f"{':' if reached == module_name else '.'}{name}"
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
        "include_name": without_own_tables,
    }
    options.update(config.attributes.get("sakyum_options", {}))
    return options


OWN_TABLES = ("sakyum_in_progress", "sakyum_migration_log")


def without_own_tables(name, type_, parent_names):
    """Autogenerate leaves alone the tables %migrate keeps (its log, its notes of unfinished revisions)."""
    return not (type_ == "table" and name in OWN_TABLES)


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


def run_migrations_online(connection, step_log=None, transactional_ddl=False):
    options = configure_options(connection.dialect.name)
    if transactional_ddl:
        options["transactional_ddl"] = True
    if step_log is not None:
        hooks = options.get("on_version_apply") or []
        options["on_version_apply"] = [*(hooks if isinstance(hooks, (list, tuple)) else [hooks]), step_log]
    context.configure(connection=connection, **options)
    with context.begin_transaction():
        context.run_migrations()


# -- The lock %migrate takes too (same key, name and files as sakyum_magic/locking.py); Alembic has
# none of its own. Only a CLI run takes it here: the magic holds it already when it runs this file.

LOCK_NAME = "sakyum_magic.migrate"
PG_HOLDER = """\\
SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start, a.state_change
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = :high AND l.objid::bigint = :low
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""
MYSQL_HOLDER = "SELECT ID, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = IS_USED_LOCK(:name)"
log = logging.getLogger("alembic.env")


def advisory_key():
    """The pg_advisory_lock key: the lock name's SHA-256, first 8 bytes, as a signed 64-bit number."""
    return int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)


def mysql_lock_name(database):
    """GET_LOCK names are server-wide, so the database's name goes into it (64 characters at most)."""
    return f"{LOCK_NAME}:{database}"[:64]


def sqlite_path_lock(database):
    """The lock file beside the SQLite database's real path; None for an in-memory database."""
    if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    return os.path.realpath(database.removeprefix("file:").split("?", 1)[0]) + ".lock"


def sqlite_identity_lock(database):
    """The lock file named by the file's device and inode (shared by its links), once it exists."""
    path = sqlite_path_lock(database)
    try:
        found = os.stat(path.removesuffix(".lock")) if path else None
    except (OSError, ValueError):
        return None
    if found is None:
        return None
    return os.path.join(tempfile.gettempdir(), f"sakyum-magic-{found.st_dev}-{found.st_ino}.lock")


def holder_tag():
    return {"pid": os.getpid(), "host": socket.gethostname(), "tool": "alembic CLI", "since": time.time()}


def wait_until(attempt, holder, what):
    """attempt(seconds) until it takes the lock; meanwhile say whom we wait for, every 10 s."""
    limit = float(context.get_x_argument(as_dictionary=True).get("lock_timeout", 600))
    deadline = time.monotonic() + limit
    if attempt(0):
        return
    while True:
        log.warning("waiting for another migration of %s: %s", what, holder())
        if attempt(max(min(10.0, deadline - time.monotonic()), 0)):
            return
        if time.monotonic() >= deadline:
            raise CommandError(
                f"another migration of {what} has held its lock for over {limit:g} s ({holder()}): "
                "wait for it to finish, then run the command again"
            )


@contextlib.contextmanager
def postgres_lock(engine, what):
    key = advisory_key()
    unsigned = key & 0xFFFFFFFFFFFFFFFF

    def attempt(seconds):
        try:
            with lock_connection.begin():
                if seconds <= 0:
                    query = text("SELECT pg_try_advisory_lock(:k)")
                    return lock_connection.execute(query, {"k": key}).scalar()
                lock_connection.execute(text(f"SET LOCAL lock_timeout = '{max(int(seconds * 1000), 1)}ms'"))
                lock_connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                return True
        except DBAPIError as exc:
            if (getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)) != "55P03":
                raise
            return False

    def holder():
        with lock_connection.begin():
            halves = {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}
            row = lock_connection.execute(text(PG_HOLDER), halves).first()
        if row is None:
            return "a session that has just released it"
        return f"PostgreSQL server process {row[0]} ({row[1]}) from {row[2]}, connected at {row[3]:%H:%M:%S}"

    with engine.connect() as lock_connection:
        wait_until(attempt, holder, what)
        tag = holder_tag()
        since = time.strftime("%H:%M:%S", time.localtime(tag["since"]))
        name = f"{tag['tool']} pid {tag['pid']} since {since} on {tag['host']}"[:63]
        with lock_connection.begin():  # a waiter reads who we are from pg_stat_activity
            lock_connection.execute(text("SELECT set_config('application_name', :v, false)"), {"v": name})
        try:
            yield
        finally:
            with lock_connection.begin():
                lock_connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


@contextlib.contextmanager
def mysql_lock(engine, what):
    def attempt(seconds):
        got = lock_connection.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": name, "t": seconds}).scalar()
        lock_connection.commit()
        return got == 1

    def holder():
        row = lock_connection.execute(text(MYSQL_HOLDER), {"name": name}).first()
        lock_connection.commit()
        if row is None:
            return "a connection this user cannot see, or one that has just released it"
        return f"MySQL connection {row[0]} from {row[1]}, idle for {row[2]} s"

    with engine.connect() as lock_connection:
        name = mysql_lock_name(lock_connection.execute(text("SELECT DATABASE()")).scalar() or "")
        lock_connection.commit()
        wait_until(attempt, holder, what)
        try:
            yield
        finally:
            lock_connection.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
            lock_connection.commit()


def lock_file(descriptor, unlock=False):
    """flock (msvcrt on Windows) the file without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_UNLCK if unlock else msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_UN if unlock else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def take_file(path):
    """The descriptor of the lock file, locked, with our tag written in; None while another holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if lock_file(descriptor):
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:  # removed by the holder that just released it
            same = False
        if same:
            os.ftruncate(descriptor, 0)
            os.lseek(descriptor, 1, os.SEEK_SET)  # byte 0 is the one Windows locks
            os.write(descriptor, json.dumps(holder_tag()).encode())
            return descriptor
        lock_file(descriptor, unlock=True)
    os.close(descriptor)
    return None


def file_holder(path):
    try:
        with open(path, "rb") as handle:
            handle.seek(1)
            tag = json.loads(handle.read().decode())
        since = time.strftime("%H:%M:%S", time.localtime(float(tag["since"])))
        return f"pid {tag['pid']} on host {tag['host']} ({tag['tool']}), since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that left no details"


@contextlib.contextmanager
def file_lock(path, what):
    held = []

    def attempt(seconds):
        deadline = time.monotonic() + seconds
        while True:
            descriptor = take_file(path)
            if descriptor is not None:
                held.append(descriptor)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))

    wait_until(attempt, lambda: file_holder(path), what)
    try:
        yield
    finally:
        if sys.platform != "win32":  # removed while still held: a waiter then retries on a new file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        lock_file(held[0], unlock=True)
        os.close(held[0])


@contextlib.contextmanager
def sqlite_lock(engine, what):
    database = engine.url.database or ""
    path = sqlite_path_lock(database)
    if path is None:
        yield
        return
    with file_lock(path, what):
        identity = sqlite_identity_lock(database)  # named now: the file may have been created meanwhile
        with file_lock(identity, what) if identity else contextlib.nullcontext():
            yield


def migration_lock(engine):
    """The database's migration lock, as %migrate takes it (none for other databases)."""
    what = f"{engine.url.get_backend_name()} database {engine.url.database!r}"
    lock = {"postgresql": postgres_lock, "mysql": mysql_lock, "mariadb": mysql_lock, "sqlite": sqlite_lock}
    found = lock.get(engine.dialect.name)
    return found(engine, what) if found else contextlib.nullcontext()


'''

_RUN = """\
if context.is_offline_mode():
    run_migrations_offline()
elif isinstance(connection, Engine):  # some tools (pytest-alembic) hand over an engine instead
    with connection.connect() as engine_connection:
        run_migrations_online(engine_connection)
elif connection is not None:
    run_migrations_online(connection)
else:
    section = config.get_section(config.config_ini_section, {})
    url = make_url(database_url())
    if url.password is None and isinstance(url.query.get("password"), str):
        # ?password= as the URL's own password: the driver gets it the same way, and Alembic's
        # output (current --verbose) then shows it masked.
        url = url.set(password=url.query["password"]).difference_update_query(["password"])
    section["sqlalchemy.url"] = url
    # future=True: the 2.0-style connection (commit()) on SQLAlchemy 1.4 too; 2.x accepts it as is.
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool, future=True)
    transactional_ddl = transactional_sqlite(engine)
    with migration_lock(engine):
        step_log = None
        try:
            with engine.connect() as cli_connection:
                if audit_wanted():
                    step_log = StepLog(cli_connection)
                    step_log.watch(context.script)
                run_migrations_online(cli_connection, step_log, transactional_ddl)
        except DBAPIError:
            if step_log is not None:
                step_log.log_failure(engine)
            raise
"""

ENV_PY = _SETUP + STEP_LOG + SQLITE_DDL + _RUN
