"""The one place a migration runs: upgrade, downgrade, stamp, and plan's dry run of the first two.

Every run goes through env.py inside :func:`~sakyum_magic._run.environment.run_environment`, so what
the magic needs holds for any env.py (see :mod:`sakyum_magic._run.environment`). env.py receives through
``Config.attributes``: ``connection`` (Alembic's documented recipe key), ``target_metadata`` and
``sakyum_url`` (for offline SQL). This module drives a run: the lock, env.py, and what an error
means; the parts it drives (the hooks, the connection, a dry run's rolled-back transaction) are an
:class:`~sakyum_magic._run.online.OnlineRun`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._core import translation
from .._core.records import MigrationResult
from .._guards import locking, markers
from . import interrupts
from .database import check_dialect, current_heads
from .environment import RunControl, kept_logging
from .envrun import Target, own_env, run_env
from .online import OnlineRun
from .online import Strategy as Strategy
from .state import RunState
from .steps import Steps, at_target, pending_revisions, require_known, step_planner

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection


def migrate(
    target: Target,
    script: ScriptDirectory,
    name: str,
    revision: str | Sequence[str],
    *,
    sql: bool = False,
    tag: str | None = None,
    purge: bool = False,
    strategy: Strategy | None = None,
) -> MigrationResult:
    """Run ``name`` (upgrade, downgrade or stamp) to ``revision``; offline SQL with ``sql``."""
    steps = step_planner(script, name, revision, sql, purge)
    label = revision if isinstance(revision, str) else " ".join(revision)
    if sql:
        return _offline(target, script, name, label, steps, tag)
    # The revision is read only under the lock: a run that waited then finds nothing left to do.
    with locking.migration_lock(target.engine, target.lock_timeout, target.on_wait, not target.private):
        return _apply(target, script, name, label, steps, tag, strategy or Strategy())


def _offline(
    target: Target, script: ScriptDirectory, name: str, label: str, steps: Steps, tag: str | None
) -> MigrationResult:
    check_dialect(target.url)  # offline SQL needs the dialect, not the driver
    buffer = io.StringIO()
    config = target.config(output_buffer=buffer, stdout=io.StringIO())
    config.attributes["sakyum_url"] = target.url
    config.attributes["target_metadata"] = None
    control = RunControl(None, target.url, state=RunState(name, label))
    try:
        with (
            locking.alembic_context(),
            kept_logging(),
            translation.alembic_errors(target.url),
            translation.offline_batch(name),
        ):
            run_env(script, config, steps, control, as_sql=True, tag=tag)
    except translation.code_errors() as exc:
        places = [script.dir, *(script.version_locations or ())]
        if not translation.user_frames(exc, places):
            raise  # not the revision's error: this package's or a library's, shown as it is
        raise translation.failed_offline(exc, name, places, target.url) from exc
    return control.state.result((), sql=buffer.getvalue())


def _apply(
    target: Target,
    script: ScriptDirectory,
    name: str,
    label: str,
    steps: Steps,
    tag: str | None,
    strategy: Strategy,
) -> MigrationResult:
    """Run env.py on one connection of the bound database, recording each step and its SQL."""
    before = current_heads(target.engine)
    state = RunState(name, label, before)
    if _nothing_to_do(target, script, name, label, before):
        return state.result(before)
    run = OnlineRun(target, state, strategy, len(pending_revisions(name, label, before, script)))
    run.check_unfinished()
    run.ready_log()
    interrupts.clear()
    with run.recorder, run.connected() as connection, run.rolled_back_if_dry(connection):
        control = run.control(connection)
        try:
            with translation.alembic_errors(target.url):
                run_env(script, run.config, run.planning(steps), control, tag=tag)
        except db_errors() as exc:
            raise _database_failure(exc, run, control, connection) from exc
        except translation.code_errors() as exc:
            places = [script.dir, *(script.version_locations or ())]
            if not translation.user_frames(exc, places):
                raise  # not the revision's error: this package's or a library's, shown as it is
            result = run.stop()
            cli = run.cli_before(control, connection, result)
            raise translation.failed_step(exc, result, run.failing(), target.url, places, cli) from exc
        except (KeyboardInterrupt, interrupts.RunStopped) as exc:
            raise _interrupted(run, control, connection) from exc
    result = run.finish()
    _tidy_notes(run, target, name)
    return result


def _database_failure(
    exc: BaseException, run: OnlineRun, control: RunControl, connection: Connection
) -> Exception:
    """The error for a run a database error stopped, once its result is built."""
    target, result = run.target, run.stop(exc)
    # Another writer (which took no lock) is to blame, not the revision that was running.
    other = locking.busy_error(exc, target.url) or _refused(exc, target, result)
    if other is None and not any(step.database for step in result.steps):  # one database
        other = locking.concurrent_change(target.url, result, run.state.heads or result.before)
    cli = run.cli_before(control, connection, result)
    return other or translation.failed_step(exc, result, run.failing(), target.url, (), cli)


def _interrupted(run: OnlineRun, control: RunControl, connection: Connection) -> Exception:
    """The error for a run the user stopped, once its result is built."""
    engine = run.target.engine
    if run.server_thread is not None:
        run.server_thread.end_if_orphaned(engine, locking.held_connection(engine))
    result = run.finish(stopped=True)
    cli = run.cli_before(control, connection, result)
    return translation.interrupted(result, run.total, run.failing(), cli)


def _nothing_to_do(
    target: Target, script: ScriptDirectory, name: str, label: str, before: tuple[str, ...]
) -> bool:
    """Whether an upgrade is at its target already; refuses a database at an unknown revision, and
    ``upgrade head`` with several heads."""
    if name != "stamp":
        require_known(before, script, target.directory)
    if name == "upgrade" and label == "head" and len(heads := script.get_heads()) > 1:
        raise translation.multiple_heads(tuple(heads))
    return name == "upgrade" and own_env(target.directory) and at_target(label, before, script)


def _tidy_notes(run: OnlineRun, target: Target, name: str) -> None:
    """After a finished run: the notes of unfinished revisions are dropped, or their rows cleared."""
    if run.watch.created:
        markers.drop(target.engine)
    elif run.watch.table_ready:
        markers.tidy(target.engine, clear=name == "stamp")


def _refused(exc: BaseException, target: Target, result: MigrationResult) -> Exception | None:
    """A role that may not do what the run asked (read-only): its one line, naming it, or None."""
    from .._core.refusals import privilege_error

    at = ", ".join(result.after) or "base"
    applied = f"{len(result.steps)} step(s) applied, database at {at}"
    return privilege_error(exc, target.url, result.command, applied)


def db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)
