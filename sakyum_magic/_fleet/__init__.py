"""Fleets: one revision chain applied to many databases and tenant schemas, in worker processes.

:func:`~.rollout.fleet` is what :meth:`sakyum_magic.Migrator.fleet` calls: targets
(:mod:`.targets`), one task per target run in a worker (:mod:`.work`), the rollout policy over any
``concurrent.futures.Executor`` (:mod:`.runner`, :mod:`.executors`), and the result
(:mod:`.records`). Dask is imported by :mod:`.executors` only, and only when asked for.
"""

from __future__ import annotations

from .records import FleetResult, TargetRow
from .rollout import fleet
from .targets import FleetTarget

__all__ = ["FleetResult", "FleetTarget", "TargetRow", "fleet"]
