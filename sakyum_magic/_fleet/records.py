"""What a fleet run returns: one :class:`TargetRow` per target, and the :class:`FleetResult` around them.

A row's ``status`` is one of :data:`STATUSES`. ``current`` fills ``drift`` instead (at head, behind N,
ahead, other branch, no version table, unknown revision); ``plan`` fills ``plan`` with the target's
:class:`~sakyum_magic.records.Plan`; ``lint`` fills ``lint`` (one line) and ``findings`` (the target's
:class:`~sakyum_magic.LintResult`, linted with its own table sizes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

PENDING, RUNNING = "pending", "running"
DONE, SKIPPED, FAILED, LOST, NOT_STARTED = "done", "skipped", "failed", "lost", "not started"
STATUSES = (PENDING, RUNNING, DONE, SKIPPED, FAILED, LOST, NOT_STARTED)
"""pending and running only while the rollout runs; a finished run's rows are the other five."""

FAILURES = frozenset({FAILED, LOST})

COLUMNS = ["target", "status", "before", "after", "steps", "seconds", "lock_wait", "error"]
"""The columns of a fleet table (``current`` has ``drift`` after ``status``, ``lint`` has ``lint``)."""


@dataclass(frozen=True)
class Outcome:
    """What a worker reports for one target (no URL in it: the driver knows which target it ran)."""

    status: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    steps: int = 0
    seconds: float = 0.0
    lock_wait: float = 0.0
    error: str = ""
    drift: str = ""
    plan: Any = None
    lint: str = ""
    findings: Any = None


@dataclass(frozen=True)
class TargetRow(Outcome):
    """One target of the fleet: its masked label, and what happened to it (or has yet to)."""

    target: str = field(kw_only=True)

    @classmethod
    def of(cls, target: str, outcome: Outcome) -> TargetRow:
        return cls(**{f.name: getattr(outcome, f.name) for f in fields(outcome)}, target=target)


@dataclass(frozen=True)
class FleetResult:
    """A fleet command's rows, in the order the targets were given."""

    command: str
    revision: str | None
    rows: tuple[TargetRow, ...]
    stopped: str = ""
    """Why the rollout stopped starting targets (a failed canary, --max-failures), or ""."""
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> Counter[str]:
        """How many rows have each status."""
        return Counter(row.status for row in self.rows)

    @property
    def failed(self) -> tuple[TargetRow, ...]:
        """The rows that failed or whose worker was lost."""
        return tuple(row for row in self.rows if row.status in FAILURES)

    def summary(self) -> str:
        """One line: how many targets are done, skipped, failed, lost, not started (and still running)."""
        counts = self.counts()
        if self.command == "current":
            drift = Counter(row.drift.split(" (")[0] for row in self.rows if row.status != FAILED)
            parts = [f"{n} {word}" for word, n in sorted(drift.items(), key=lambda kv: -kv[1])]
            parts += [f"{counts[FAILED]} failed"] if counts[FAILED] else []
            return f"{len(self.rows)} targets: " + ", ".join(parts)
        if self.command == "lint":
            return self._lint_summary(counts)
        skipped = "skipped (already there)"
        words = [(DONE, DONE), (SKIPPED, skipped), (FAILED, FAILED), (LOST, LOST), (NOT_STARTED, NOT_STARTED)]
        parts = [f"{counts[status]} {word}" for status, word in words if counts[status] or status != LOST]
        active = counts[PENDING] + counts[RUNNING]
        head = f"{self.command} {self.revision or ''}".rstrip()
        tail = f"; {active} to go" if active else ""
        stopped = f"; stopped: {self.stopped}" if self.stopped else ""
        return f"{head} on {len(self.rows)} targets: " + ", ".join(parts) + tail + stopped

    def _lint_summary(self, counts: Counter[str]) -> str:
        linted = [row.findings for row in self.rows if row.findings is not None]
        erring = sum(1 for found in linted if found.errors)
        noted = sum(1 for found in linted if found.findings and not found.errors)
        clean = len(linted) - erring - noted
        parts = [f"{erring} with errors", f"{noted} with findings only", f"{clean} clean"]
        parts += [f"{counts[status]} {status}" for status in (FAILED, LOST, NOT_STARTED) if counts[status]]
        return f"lint on {len(self.rows)} targets: " + ", ".join(parts)
