"""Where a fleet's tasks run: any ``concurrent.futures.Executor``, chosen once per rollout.

Processes, never threads: Alembic's ``op`` and ``context`` are module-level proxies, so two migrations
in two threads of one process would share them (see ``execution``'s process lock). The default is a
local process pool (spawned workers: the notebook's threads and connections stay out of them).
``"dask"`` or a ``distributed.Client`` runs the same tasks through ``Client.get_executor()``: on a
``LocalCluster`` in the notebook, or on any cluster a Client reaches (dask-jobqueue, dask-kubernetes).
``distributed`` is imported here only, and only for Dask.

A worker process that dies shows as :data:`Workers.lost` errors: ``BrokenProcessPool`` (the pool then
takes no more tasks) or Dask's ``KilledWorker``. Dask re-runs a dead worker's task elsewhere without
a sign, so Dask tasks carry a started-marker (a ``distributed.Event`` per task, named by a random run
id and the target's position, never by its URL): a re-run finds it set and reports the target lost.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .._core.errors import ConfigurationError

EXECUTORS = ("process", "dask")
"""The names ``--executor`` takes."""


@dataclass
class Workers:
    """An executor with what the rollout needs to know about it."""

    executor: Executor
    parallel: int
    lost: tuple[type[BaseException], ...] = (BrokenExecutor,)
    marker: Callable[[int], Callable[[], bool] | None] = lambda index: None
    """The started-marker for the task at a position, or None where a dead worker's task is not re-run."""
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Shut down what this rollout started (a pool, a LocalCluster); a passed-in executor stays."""
        for close in self.closers:
            close()


def workers(executor: Any, parallel: int | None) -> Workers:
    """The Workers for ``executor``: None or "process" (a local process pool), "dask" (the notebook's
    Dask client, else a LocalCluster for this rollout), a ``distributed.Client``, or any Executor."""
    if parallel is not None and parallel < 1:
        raise ConfigurationError(f"--parallel {parallel}: give at least 1")
    if executor is None or executor == "process":
        return _process_pool(parallel or os.cpu_count() or 1)
    if executor == "dask":
        return _dask(_default_client(), parallel)
    if _is_dask_client(executor):
        return _dask(executor, parallel)
    if isinstance(executor, Executor):
        return Workers(executor, parallel or getattr(executor, "_max_workers", None) or 1)
    raise ConfigurationError(
        f"executor {executor!r}: use process, dask, a distributed.Client or a concurrent.futures.Executor"
    )


def _process_pool(parallel: int) -> Workers:
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn"))
    return Workers(pool, parallel, closers=[lambda: pool.shutdown(wait=True, cancel_futures=True)])


def _is_dask_client(value: Any) -> bool:
    return type(value).__module__.startswith("distributed") and hasattr(value, "get_executor")


def _default_client() -> Any:
    """The notebook's current Dask client; without one, None (a LocalCluster is made for the rollout)."""
    distributed = _import_distributed()
    try:
        return distributed.default_client()
    except ValueError:
        return None


def _dask(client: Any, parallel: int | None) -> Workers:
    distributed = _import_distributed()
    closers: list[Callable[[], None]] = []
    if client is None:
        cluster = distributed.LocalCluster(
            n_workers=parallel or os.cpu_count() or 1, threads_per_worker=1, processes=True
        )
        client = distributed.Client(cluster)
        closers += [client.close, cluster.close]
    run = f"sakyum-fleet-{uuid.uuid4().hex[:12]}"
    names: list[str] = []

    def marker(index: int) -> Callable[[], bool]:
        names.append(f"{run}-{index}")
        return DaskStarted(names[-1])

    def forget_markers() -> None:
        for name in names:
            distributed.Event(name, client=client).clear()

    closers.insert(0, forget_markers)
    threads = sum(client.nthreads().values()) or 1
    lost = (BrokenExecutor, distributed.KilledWorker)
    return Workers(client.get_executor(pure=False), parallel or threads, lost, marker, closers)


class DaskStarted:
    """A Dask task's started-marker: a named ``distributed.Event``, set on the task's first start."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self) -> bool:
        distributed: Any = _import_distributed()
        event = distributed.Event(self.name)
        if event.is_set():
            return False
        event.set()
        return True


def _import_distributed() -> Any:
    try:
        import distributed
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "--executor dask needs Dask: pip install 'sakyum-magic[fleet]' (dask[distributed])"
        ) from exc
    return distributed
