"""The rollout policy: which targets start when, over any executor.

Atlas's vocabulary: ``canary`` targets run first, alone, and any failure among them stops the rollout;
then the others, ``parallel`` at a time (the runner keeps at most that many tasks submitted, whatever
the executor's size). A failure is a failed target or a lost worker; once more than ``max_failures``
happened, no new target starts (those running finish); ``None`` means no limit
(``--continue-on-error``). Targets never started are reported ``not started``; a rerun of the same
command continues, since targets already there are skipped.

``on_update`` receives the whole result so far after every start and every finish (the notebook's
live table); it runs in the calling thread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Future, wait
from dataclasses import dataclass, replace

from .._core.binding import mask_text
from .executors import Workers
from .records import FAILED, FAILURES, NOT_STARTED, PENDING, RUNNING, FleetResult, Outcome, TargetRow
from .work import Task, heads_or_error, lost, lost_outcome, open_migrator, run_target

OnUpdate = Callable[[FleetResult], None]


@dataclass(frozen=True)
class Policy:
    """How a rollout proceeds; see the module docstring."""

    canary: int = 0
    parallel: int = 1
    max_failures: int | None = 0


class Rollout:
    """One run of ``tasks`` (one per target, labelled ``labels``) on ``workers`` under ``policy``."""

    def __init__(
        self,
        labels: Sequence[str],
        tasks: Sequence[Task],
        workers: Workers,
        policy: Policy,
        head: tuple[str, str | None],
        on_update: OnUpdate | None = None,
    ) -> None:
        self.tasks, self.workers, self.policy, self.head = tasks, workers, policy, head
        self.rows = [TargetRow(PENDING, target=label) for label in labels]
        self.on_update = on_update
        self.failures = 0
        self.stopped = ""

    def run(self) -> FleetResult:
        """Run the canary targets, then (unless the rollout stopped) the others; the final result."""
        order = list(range(len(self.tasks)))
        canary, rest = order[: self.policy.canary], order[self.policy.canary :]
        if canary:
            self._wave(canary, canary=True)
        if not self.stopped:
            self._wave(rest)
        self.rows = [replace(r, status=NOT_STARTED) if r.status == PENDING else r for r in self.rows]
        return self.result()

    def result(self) -> FleetResult:
        """The rows as they stand."""
        return FleetResult(self.head[0], self.head[1], tuple(self.rows), self.stopped)

    def _wave(self, indices: list[int], canary: bool = False) -> None:
        pending, running = deque(indices), dict[Future[Outcome], tuple[int, float]]()
        limit = min(self.policy.parallel, len(indices)) or 1
        while running or (pending and not self.stopped):
            while pending and not self.stopped and len(running) < limit:
                index = pending.popleft()
                running[self._start(index)] = (index, time.perf_counter())
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, began = running.pop(future)
                self._finish(index, self._collect(future, index, began), canary)

    def _start(self, index: int) -> Future[Outcome]:
        task = self.tasks[index]
        started = self.workers.marker(index)
        future = self.workers.executor.submit(run_target, replace(task, started=started))
        self._set(index, replace(self.rows[index], status=RUNNING))
        return future

    def _collect(self, future: Future[Outcome], index: int, began: float) -> Outcome:
        """The task's outcome; a lost worker or an error the worker did not turn into a row, as a row."""
        error = future.exception()
        if error is None:
            return future.result()
        if isinstance(error, self.workers.lost):
            if isinstance(error, BrokenExecutor):
                self._stop("the worker pool broke (a worker process died); rerun to continue")
            return lost_outcome(self.tasks[index], began)
        at = _at(self.tasks[index])
        line = mask_text(str(error).strip().splitlines()[0] if str(error).strip() else "")
        return Outcome(FAILED, after=at, error=f"{type(error).__name__}: {line}".rstrip(": "))

    def _finish(self, index: int, outcome: Outcome, canary: bool) -> None:
        self._set(index, TargetRow.of(self.rows[index].target, outcome))
        if outcome.status not in FAILURES:
            return
        self.failures += 1
        if canary:
            self._stop(f"canary target {self.rows[index].target} {outcome.status}")
        elif self.policy.max_failures is not None and self.failures > self.policy.max_failures:
            self._stop(f"{self.failures} failure(s), more than --max-failures {self.policy.max_failures}")

    def _stop(self, why: str) -> None:
        self.stopped = self.stopped or why

    def _set(self, index: int, row: TargetRow) -> None:
        self.rows[index] = row
        if self.on_update is not None:
            self.on_update(self.result())


def _at(task: Task) -> tuple[str, ...]:
    """Where a target stands after its task raised: read with a connection of the driver's own."""
    migrator = open_migrator(task)
    try:
        at = heads_or_error(migrator.engine())
    finally:
        migrator.dispose()
    return at if isinstance(at, tuple) else lost(at).after
