"""Running a migration against the database: the lock, the session handed to env.py, the steps.

env.py receives everything through ``Config.attributes``: ``connection`` (Alembic's documented
recipe key), ``target_metadata``, ``sakyum_url`` for offline SQL, and ``sakyum_options``, extra
keyword arguments for ``context.configure`` (hooks such as ``on_version_apply``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from . import locking, runner
from .binding import as_target, parse_url
from .database import WRITER_OPTION, check_dialect, connect, current_heads, is_transactional_sqlite
from .errors import RevisionError
from .partial import SchemaWatch
from .records import MigrationResult

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from .commands import Migrator

PROGRESS_THRESHOLD = 10

Run = Callable[["ScriptDirectory", "Config", bool], Any]
"""A migration to run: given the loaded revision map, the Config and whether to write SQL (offline)."""


def migration(direction: str, revision: str, tag: str | None = None) -> Run:
    """The Run for an upgrade or downgrade to ``revision``, on the revision map already loaded."""
    from .scripts import run_migration

    return lambda script, config, sql: run_migration(script, config, direction, revision, sql=sql, tag=tag)


def apply(
    migrator: Migrator,
    name: str,
    target: str,
    run: Run,
    script: ScriptDirectory,
    classify: Callable[[Any, str], bool] | None = None,
    dry_run: bool = False,
) -> MigrationResult:
    """Run ``run`` on one connection, recording each step and the SQL it wrote.

    ``classify`` marks the statements that lose data; ``dry_run`` rolls everything back (plan).
    """
    url = parse_url(migrator.url)
    before = current_heads(migrator.engine())
    if name != "stamp":
        require_known(before, script, migrator)
    if name == "upgrade" and target == "head" and len(heads := script.get_heads()) > 1:
        raise runner.multiple_heads(tuple(heads))
    result = MigrationResult(name, target, before, before)
    if name == "upgrade" and at_target(target, before, script):
        return result
    pending = pending_revisions(name, target, before, script)
    recorder = runner.StepRecorder(
        "stamp" if name == "stamp" else name,
        len(pending) or None,
        migrator.progress and len(pending) >= PROGRESS_THRESHOLD,
        classify,
    )
    config = migrator.config()
    watch = SchemaWatch(migrator.engine())
    # A stamp only writes the version table: one transaction, so a failure also undoes --purge.
    whole = {"transaction_per_migration": False} if name == "stamp" else {}
    session = open_session(migrator, config, on_version_apply=[recorder, watch], **whole)
    with recorder, session, rolled_back_if(dry_run, config):
        recorder.watch(config.attributes["connection"].execution_options(**{WRITER_OPTION: True}))
        try:
            with runner.alembic_errors(url):
                run(script, config, False)
        except db_errors() as exc:
            result.steps, result.after = recorder.steps, current_heads(migrator.engine())
            result.left_behind = watch.left_behind(migrator.engine())
            raise runner.failed_step(exc, result, pending, url) from exc
    result.steps, result.after = recorder.steps, current_heads(migrator.engine())
    return result


def at_target(target: str, before: tuple[str, ...], script: ScriptDirectory) -> bool:
    """Whether an upgrade to ``target`` has nothing to do (checked against the cached map)."""
    if not before:
        return False
    heads = tuple(sorted(script.get_heads()))
    if target in {"head", "heads"}:
        return before == heads
    return target in before


def pending_revisions(name: str, target: str, before: tuple[str, ...], script: ScriptDirectory) -> list[str]:
    """The revisions a run is expected to apply, in order (for the progress bar and errors)."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    upper, lower = (target, before or "base") if name == "upgrade" else (before or "base", target)
    if name == "stamp":
        return []
    try:
        revisions = [s.revision for s in script.iterate_revisions(upper, lower)]
    except (AlembicRevisionError, CommandError):
        return []
    except AssertionError as exc:  # Alembic's own argument checks; the run reports them
        if not runner.raised_by_alembic(exc):
            raise
        return []
    return revisions[::-1] if name == "upgrade" else revisions


def offline(migrator: Migrator, name: str, target: str, run: Run, script: ScriptDirectory) -> MigrationResult:
    check_dialect(parse_url(migrator.url))  # offline SQL needs the dialect, not the driver
    buffer = io.StringIO()
    config = migrator.config(output_buffer=buffer, stdout=io.StringIO())
    config.attributes["sakyum_url"] = parse_url(migrator.url)
    config.attributes["target_metadata"] = None
    with locking.alembic_context(), kept_logging(), runner.alembic_errors(parse_url(migrator.url)):
        run(script, config, True)
    return MigrationResult(name, target, (), (), sql=buffer.getvalue())


def open_session(
    migrator: Migrator,
    config: Config,
    *,
    need_metadata: bool = False,
    connect_db: bool = True,
    **options: Any,
) -> Session:
    target = as_target(migrator.target_metadatas()) if need_metadata else None
    return Session(migrator, config, target, connect_db, options)


class Session:
    """Context manager handing a connection, the models and env.py hooks to ``Config.attributes``."""

    def __init__(
        self,
        migrator: Migrator,
        config: Config,
        target: Any,
        connect_db: bool,
        options: dict[str, Any],
    ) -> None:
        self.migrator, self.config, self.target = migrator, config, target
        self.connect_db, self.options = connect_db, options
        self._connection: Any = None
        self._context = locking.alembic_context()
        self._logging = kept_logging()

    def __enter__(self) -> Session:
        attributes = self.config.attributes
        attributes["target_metadata"] = self.target
        attributes["sakyum_url"] = parse_url(self.migrator.url)
        engine = self.migrator.engine()
        options = dict(self.options)
        if is_transactional_sqlite(engine):
            options["transactional_ddl"] = True
        attributes["sakyum_options"] = options
        if self.connect_db:
            self._connection = connect(engine)
            attributes["connection"] = self._connection.__enter__()
        # env.py drives Alembic's module-level context: one thread at a time in this process.
        self._context.__enter__()
        self._logging.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._connection is not None:
                self._connection.__exit__(*exc)
        finally:
            self._logging.__exit__(*exc)
            self._context.__exit__(*exc)


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
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, found in _loggers().items():
            level, disabled, handlers, propagate = saved.get(name, (logging.NOTSET, False, [], True))
            found.setLevel(level)
            found.disabled, found.propagate = disabled, propagate
            found.handlers[:] = handlers


def _loggers() -> dict[str, Any]:
    import logging

    return {n: lg for n, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}


def _logger_state(found: Any) -> tuple[int, bool, list[Any], bool]:
    return found.level, found.disabled, list(found.handlers), found.propagate


def require_known(heads: tuple[str, ...], script: ScriptDirectory, migrator: Migrator) -> None:
    """The database's revisions must have files here; otherwise say how to get out of it."""
    missing = [rev for rev in heads if not _defined(script, rev)]
    if missing:
        raise RevisionError(
            f"the database is at {', '.join(missing)}, which no file in {migrator.directory} defines "
            "(deleted, or from other code?): restore the file, or reset the version table with "
            "%migrate stamp REV --purge (REV = base, head, or the revision the schema really matches)"
        )


def _defined(script: ScriptDirectory, rev: str) -> bool:
    from alembic.script.revision import RevisionError as AlembicRevisionError

    try:
        return script.revision_map.get_revision(rev) is not None
    except AlembicRevisionError:
        return False


def rolled_back_if(dry_run: bool, config: Config) -> AbstractContextManager[Any]:
    """For plan: a transaction begun before Alembic configures the connection, rolled back after."""
    if not dry_run:
        return nullcontext()
    from .plan import UNREACHABLE_URL, rolled_back

    # An env.py that opens its own connection (as `alembic init` writes it) would commit for real:
    # give it a URL it cannot open, so it fails instead (plan reports why).
    config.set_main_option("sqlalchemy.url", UNREACHABLE_URL)
    return rolled_back(config.attributes["connection"])


def db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)
