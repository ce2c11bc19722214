"""Writing a revision file: ``alembic.command.revision``'s steps, with env.py run like every other run.

Alembic's ``command.revision`` builds its own ``EnvironmentContext`` and reloads the revision map;
here the same steps (``RevisionContext``, public in ``alembic.autogenerate``) run on the map already
loaded and through :func:`~sakyum_magic._run.environment.run_environment`, so autogenerate compares
against the magic's connection and Alembic's "Detected ..." log lines stay out of the notebook,
whatever env.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError, RevisionError
from .._guards import locking
from .._run.database import connect
from .._run.environment import RunControl, kept_logging
from .._run.envrun import Target, run_env
from .._run.steps import Steps

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import Engine


def write_revision(
    target: Target,
    script: ScriptDirectory,
    config: Config,
    arguments: dict[str, Any],
    directives: Callable[..., None] | None,
    connect_db: bool,
    before_compare: Callable[[Any], None] | None = None,
) -> list[Script]:
    """Write the revision file(s) ``alembic revision`` would write for ``arguments``.

    :param arguments: ``command.revision``'s keyword arguments (message, autogenerate, sql, head, ...).
    :param directives: a ``process_revision_directives`` hook.
    :param connect_db: hand env.py a connection (autogenerate, or ``--sql`` with revision_environment).
    :param before_compare: called with env.py's MigrationContext before autogenerate compares.
    """
    from alembic.autogenerate import RevisionContext
    from alembic.util import CommandError

    context = RevisionContext(config, script, arguments, process_revision_directives=directives)
    autogenerate, sql = arguments["autogenerate"], arguments["sql"]
    environment = autogenerate or _revision_environment(config)
    if autogenerate and sql:
        raise CommandError("Using --sql with --autogenerate does not make any sense")
    if sql and not environment:
        raise CommandError(
            "Using --sql with the revision command when revision_environment is not configured "
            "does not make any sense"
        )
    if environment:
        run = context.run_autogenerate if autogenerate else context.run_no_autogenerate

        def retrieve(rev: Any, migration: Any) -> list[Any]:
            if autogenerate:
                _require_comparable(script, rev, migration)
                if before_compare is not None:
                    before_compare(migration)
            run(rev, migration)
            return []

        steps = Steps(retrieve, {"template_args": context.template_args, "revision_context": context})
        _run(target, script, config, steps, connect_db and not sql, as_sql=sql)
    return [s for s in context.generate_scripts() if s is not None]


def _require_comparable(script: ScriptDirectory, rev: Any, migration: Any) -> None:
    """What ``RevisionContext.run_autogenerate`` checks, as errors that say what to do."""
    if migration.opts.get("target_metadata") is None:
        raise ConfigurationError(
            "this env.py does not take the models from the magic (its target_metadata is None): set "
            "target_metadata in env.py, or start a directory with %migrate init, whose env.py does"
        )
    if set(script.get_revisions(rev)) != set(script.get_revisions("heads")):
        raise RevisionError(
            "the database is not up to date, so autogenerate would compare against an old schema: "
            "run %migrate upgrade head first, then autogenerate"
        )


def _revision_environment(config: Config) -> bool:
    from alembic.util import asbool

    from .._core.compat import alembic_option

    return bool(asbool(alembic_option(config, "revision_environment")))


def _run(
    target: Target, script: ScriptDirectory, config: Config, steps: Steps, connect_db: bool, **options: Any
) -> None:
    config.attributes["target_metadata"] = target.metadata
    config.attributes["sakyum_url"] = target.url
    with locking.alembic_context(), kept_logging():
        if not connect_db:
            run_env(script, config, steps, RunControl(None, target.url), **options)
            return
        with connect(target.engine) as connection:
            config.attributes["connection"] = connection
            run_env(script, config, steps, RunControl(connection, target.url, fence=target.fence), **options)


def no_changes_note(engine: Engine) -> str:
    """What an autogenerate that found nothing says (and a hint when tables exist unversioned)."""
    from sqlalchemy import inspect

    from .._run.database import VERSION_TABLE, current_heads

    note = "No changes detected: the database already matches the models, so no file was written."
    if current_heads(engine):
        return note
    with connect(engine) as connection:
        tables = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
    if tables:
        note += (
            " The database has tables but no revision: if they came from create_all(), "
            "run %migrate stamp head after your first revision to mark it up to date."
        )
    return note
