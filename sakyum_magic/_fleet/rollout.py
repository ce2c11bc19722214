"""A fleet command from start to end: targets parsed, tasks made, the rollout run, the workers closed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core.errors import ConfigurationError
from .executors import workers
from .records import FleetResult
from .runner import OnUpdate, Policy, Rollout
from .targets import fleet_targets, query_rows
from .work import ACTIONS, Task

NEEDS_REVISION = frozenset({"downgrade", "stamp"})


def fleet(
    source: Any,
    command: str,
    revision: str | None,
    open_target: Callable[..., Any],
    *,
    default_url: Any = None,
    query_engine: Callable[[], Any] | None = None,
    executor: Any = None,
    canary: int = 0,
    parallel: int | None = None,
    max_failures: int | None = None,
    continue_on_error: bool = False,
    on_update: OnUpdate | None = None,
) -> FleetResult:
    """Run ``command`` on every target of ``source`` (see :meth:`~sakyum_magic.Migrator.fleet`).

    :param open_target: ``open_target(url, schema=...)`` binds a migrator to one target, in a worker.
    :param default_url: the URL of targets that name only a schema.
    :param query_engine: the engine a query given as ``source`` runs on.
    """
    check_command(command, revision, canary, max_failures)
    if isinstance(source, str):
        if query_engine is None:
            raise ConfigurationError("targets given as a query need a bound database to run it on")
        source = query_rows(query_engine(), source)
    targets = fleet_targets(source, default_url)
    tasks = [Task(t.url, t.schema, command, revision, open_target) for t in targets]
    pool = workers(executor, parallel)
    limit = None if continue_on_error and max_failures is None else (max_failures or 0)
    policy = Policy(canary, pool.parallel, limit)
    try:
        rollout = Rollout([t.label for t in targets], tasks, pool, policy, (command, revision), on_update)
        return rollout.run()
    finally:
        pool.close()


def check_command(command: str, revision: str | None, canary: int, max_failures: int | None) -> None:
    """ConfigurationError for an unknown fleet command, a missing revision, or a negative count."""
    if command not in ACTIONS:
        raise ConfigurationError(f"fleet {command}: the fleet commands are {', '.join(ACTIONS)}")
    if command in NEEDS_REVISION and not revision:
        raise ConfigurationError(f"fleet {command} needs a revision: %migrate fleet TARGETS {command} REV")
    if canary < 0 or (max_failures is not None and max_failures < 0):
        raise ConfigurationError("--canary and --max-failures take a count: 0 or more")
