"""One way to run any env.py: what the magic needs is imposed on ``context.configure()``.

An env.py decides for itself how it connects and what it passes to ``context.configure(...)``: the
one ``%migrate init`` writes takes the magic's connection from ``Config.attributes``; a stock
``alembic init`` env.py opens its own engine from ``sqlalchemy.url``; Flask-Migrate's sets that URL
from the app; a multidb env.py configures once per database. :func:`run_environment` gives Alembic's
``EnvironmentContext`` with ``configure()`` and ``run_migrations()`` seen by a :class:`RunControl`,
which, whatever env.py passed:

- uses the magic's connection for the bound database: a connection env.py opened to the same
  database is swapped for it, so the lock, the one-transaction-per-revision recipe and a dry run's
  rolled-back transaction hold for every env.py;
- adds its ``on_version_apply`` hooks (the step table, the SQL each step ran);
- keeps Alembic's log lines out of the notebook, captured for the result;
- notes a database other than the bound one (a multidb directory, an env.py with its own URL), and
  for a dry run refuses it before any migration runs.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, redirect_stderr
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from .._core.binding import mask_url
from .._core.errors import ConfigurationError, DatabaseError
from .state import RunState

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import URL, Connection

Hook = Callable[..., None]
ALEMBIC_LOGGER = "alembic"


@dataclass
class RunControl:
    """What the magic imposes on each ``configure()`` call of one env.py run.

    :param connection: the magic's connection to the bound database (None when not connected).
    :param url: the bound URL.
    :param options: ``configure()`` options forced on the bound connection.
    :param hooks: ``on_version_apply`` hooks added to every configure.
    :param dry_run: refuse, before anything runs, a connection to another database.
    :param state: the run's :class:`~sakyum_magic._run.state.RunState`, shared with its hooks.
    """

    connection: Connection | None
    url: URL
    options: dict[str, Any] = field(default_factory=dict)
    hooks: list[Hook] = field(default_factory=list)
    dry_run: bool = False
    watch: Callable[[Connection], None] | None = None
    state: RunState = field(default_factory=RunState)
    """The run so far: this control sets its ``database``, adds to its ``log`` and its ``others``."""
    configured: int = 0
    """How many times env.py called configure() so far."""
    one_transaction: bool = False
    """Run all of run_migrations() on the bound connection in one transaction, begun here if need be."""
    fence: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    """A scratch run's check of env.py's options (redirected or refused when they reach a real database)."""
    asked: dict[str, Any] = field(default_factory=dict)
    """The transaction options env.py itself passed (what the ``alembic`` CLI would run with)."""

    def configure(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options to hand Alembic instead of env.py's own."""
        self.configured += 1
        connection = options.get("connection")
        if connection is None or not hasattr(connection, "engine"):
            return options  # offline (--sql), or an Engine that Alembic itself will refuse
        asked = ("transaction_per_migration", "transactional_ddl")
        self.asked = {key: options[key] for key in asked if key in options}
        adopted = False
        if self.connection is not None and connection is not self.connection:
            if not same_database(connection.engine.url, self.url):
                self._other(connection)
            elif connection.dialect.is_async:  # env.py's own event loop: its connection stays
                adopted = self._adopt(connection)
            else:
                connection = options["connection"] = self.connection
        if connection is self.connection or adopted:
            options.update(self.options if not adopted else _without_ddl_option(self.options))
        assert connection is not None
        if self.fence is not None:
            options = self.fence(options, connection)
        options["on_version_apply"] = [*_as_list(options.get("on_version_apply")), *self.hooks]
        options["include_name"] = _without_own_tables(options.get("include_name"))
        if self.watch is not None:
            self.watch(connection)
        return options

    def _adopt(self, connection: Connection) -> bool:
        """Use env.py's own connection to the bound database (an async template's, which belongs to
        its event loop); a dry run makes it harmless first, or refuses where it cannot."""
        if self.dry_run:
            if connection.dialect.name == "sqlite":
                raise ConfigurationError(
                    "plan cannot dry-run this env.py: it opens its own async SQLite connection, on which "
                    "DDL commits at once; nothing was run. Read the SQL with %migrate upgrade REV --sql"
                )
            from sqlalchemy import event

            connection.begin()  # external to Alembic, so never committed; closing rolls it back
            event.listen(connection, "commit", refuse_commit)
        return True

    def _other(self, connection: Connection) -> None:
        where = mask_url(connection.engine.url)
        if self.dry_run:
            raise ConfigurationError(
                f"plan cannot dry-run this env.py: it migrates {where}, not the bound database "
                f"{mask_url(self.url)}, and a dry run can only be rolled back on the bound one; nothing "
                "was run. Bind that database (%migrate config --url URL), or read the SQL with "
                "%migrate upgrade REV --sql"
            )
        if where not in self.state.others:
            self.state.others.append(where)

    def transaction(self, connection: Any) -> AbstractContextManager[Any]:
        """The transaction a one-transaction run needs when env.py began none (a multidb env.py)."""
        bound = self.connection
        if self.one_transaction and bound is not None and connection is bound and not bound.in_transaction():
            return bound.begin()
        return nullcontext()

    def started(self, engine_name: str | None, connection: Connection | None) -> None:
        """A run_migrations() call begins: remember which database its steps belong to."""
        url = getattr(getattr(connection, "engine", None), "url", None)  # None offline (--sql)
        if engine_name:
            self.state.database = engine_name
        elif url is not None and connection is not self.connection and not same_database(url, self.url):
            self.state.database = mask_url(url)
        else:
            self.state.database = ""


def run_environment(config: Config, script: ScriptDirectory, control: RunControl, **kw: Any) -> Any:
    """Alembic's EnvironmentContext, whose ``configure()`` and ``run_migrations()`` go through ``control``.

    ``alembic.context`` forwards each call to the installed EnvironmentContext object, so instance
    attributes take the calls (a subclass would not be installed as the proxy's target).
    """
    from alembic.runtime.environment import EnvironmentContext

    environment = EnvironmentContext(config, script, **kw)
    configure, run_migrations = environment.configure, environment.run_migrations

    def configure_through_control(*args: Any, **options: Any) -> None:
        if args:  # configure(connection, ...) positionally
            options["connection"] = args[0]
        with captured_alembic_log(control.state.log):  # "Context impl ..." is logged in here
            configure(**control.configure(options))

    def run_migrations_through_control(**run_args: Any) -> None:
        connection = environment.get_context().connection
        control.started(run_args.get("engine_name"), connection)
        with control.transaction(connection), captured_alembic_log(control.state.log):
            run_migrations(**run_args)

    environment.configure = configure_through_control  # type: ignore[method-assign]
    environment.run_migrations = run_migrations_through_control  # type: ignore[method-assign]
    return environment


def same_database(one: URL, other: URL) -> bool:
    """Whether two URLs name the same database (drivers aside; SQLite files by their real path)."""
    from pathlib import Path

    if one.get_backend_name() != other.get_backend_name():
        return False
    if one.get_backend_name() == "sqlite":
        paths = [u.database or "" for u in (one, other)]
        if any(p in {"", ":memory:"} or p.startswith("file:") for p in paths):
            return paths[0] == paths[1]
        return bool(Path(paths[0]).absolute().resolve() == Path(paths[1]).absolute().resolve())
    return (one.host, one.port, one.database, one.username) == (
        other.host,
        other.port,
        other.database,
        other.username,
    )


def _without_ddl_option(options: dict[str, Any]) -> dict[str, Any]:
    # transactional_ddl is forced only where the magic's own engine makes SQLite DDL transactional.
    return {key: value for key, value in options.items() if key != "transactional_ddl"}


def refuse_commit(connection: Any) -> NoReturn:
    """A ``commit`` event listener for a dry run: any COMMIT stops it."""
    raise commit_refused()


def commit_refused() -> DatabaseError:
    """The error for a COMMIT during a dry run (a revision's ``autocommit_block``)."""
    return DatabaseError(
        "plan stopped: a revision commits on its own (autocommit_block), which a dry run cannot undo; "
        "nothing was changed. Read its SQL with %migrate upgrade REV --sql instead"
    )


def _without_own_tables(include_name: Callable[..., bool] | None) -> Callable[..., bool]:
    """env.py's ``include_name`` hook, never including the tables this package keeps (autogenerate)."""
    from .database import OWN_TABLES

    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "table" and name in OWN_TABLES:
            return False
        return include_name(name, type_, parent_names) if include_name is not None else True

    return include


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)-5.5s [%(name)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def captured_alembic_log(lines: list[str]) -> Iterator[None]:
    """Alembic's log records go to ``lines`` only, whatever logging env.py or alembic.ini set up.

    Alembic's own loggers (``alembic.runtime.migration`` and the like) may have been disabled or
    given handlers by an earlier ``fileConfig``: for the duration they pass everything up to
    ``alembic``, which keeps it.
    """
    loggers = [logging.getLogger(ALEMBIC_LOGGER)] + [
        found
        for name, found in logging.Logger.manager.loggerDict.items()
        if name.startswith(ALEMBIC_LOGGER + ".") and isinstance(found, logging.Logger)
    ]
    saved = [(found, found.level, list(found.handlers), found.propagate, found.disabled) for found in loggers]
    for found in loggers[1:]:
        found.handlers[:] = []
        _set_level(found, logging.NOTSET)
        found.propagate, found.disabled = True, False
    top = loggers[0]
    top.handlers[:] = [_Lines(lines)]
    top.setLevel(logging.INFO)
    top.propagate, top.disabled = False, False
    try:
        yield
    finally:
        for found, level, handlers, propagate, disabled in saved:
            found.handlers[:] = handlers
            _set_level(found, level)
            found.propagate, found.disabled = propagate, disabled


class _LineStream(io.TextIOBase):
    """A text stream that appends each complete line written to it to ``lines``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self._partial = lines, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *complete, self._partial = (self._partial + text).split("\n")
        self.lines.extend(line for line in complete if line.strip())
        return len(text)

    def flush(self) -> None:
        if self._partial.strip():
            self.lines.append(self._partial)
        self._partial = ""


@contextmanager
def captured_stderr(lines: list[str]) -> Iterator[None]:
    """Text written to stderr while env.py runs (its logging output, warnings) goes to ``lines``."""
    stream = _LineStream(lines)
    try:
        with redirect_stderr(stream):
            yield
    finally:
        stream.flush()


@contextmanager
def kept_logging() -> Iterator[None]:
    """Put the process's logging back as it was after env.py ran.

    An env.py written by ``alembic init`` calls ``logging.config.fileConfig``, which would reconfigure
    the whole kernel's logging: new handlers on the root logger, INFO lines from Alembic on every later
    command, and every logger that existed before disabled.
    """
    import logging

    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {name: _logger_state(found) for name, found in _loggers().items()}
    try:
        yield
    finally:
        _set_level(root, saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, found in _loggers().items():
            level, disabled, handlers, propagate = saved.get(name, (logging.NOTSET, False, [], True))
            _set_level(found, level)
            found.disabled, found.propagate = disabled, propagate
            found.handlers[:] = handlers


def _set_level(found: Any, level: int) -> None:
    """``setLevel`` only where the level changed: each call clears the cache of every logger."""
    if found.level != level:
        found.setLevel(level)


def _loggers() -> dict[str, Any]:
    import logging

    return {n: lg for n, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}


def _logger_state(found: Any) -> tuple[int, bool, list[Any], bool]:
    return found.level, found.disabled, list(found.handlers), found.propagate
