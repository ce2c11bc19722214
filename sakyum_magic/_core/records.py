"""The data the core returns: plain dataclasses, rendered into tables by
:mod:`sakyum_magic._display.render`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    """What a migrator is bound to, with the password masked."""

    url: str
    metadata: str
    tables: int | None
    directory: str
    initialized: bool


@dataclass(frozen=True)
class RevisionInfo:
    """One revision file, as the revision map knows it."""

    revision: str
    down_revision: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    message: str
    create_date: str | None
    is_head: bool
    is_branch_point: bool
    is_merge: bool
    path: str
    doc: str


@dataclass(frozen=True)
class HistoryEntry:
    """A revision in a history listing, with whether the database is at it (None when not asked)."""

    info: RevisionInfo
    is_current: bool | None
    applied_at: str | None = None
    """When the revision was last applied upward, from the applied-at log (with indicate_current)."""


@dataclass(frozen=True)
class InitResult:
    """What ``init`` wrote."""

    directory: str
    files: tuple[str, ...]
    ini: str
    ini_written: bool
    note: str | None = None
    refreshed: bool = False
    """``init --refresh``: only env.py and its support files were rewritten."""


@dataclass(frozen=True)
class Operation:
    """One schema operation found by autogenerate or a diff."""

    op: str
    schema: str | None
    table: str | None
    name: str | None
    detail: str
    destructive: bool = False


@dataclass(frozen=True)
class RevisionResult:
    """New revision files, with the operations autogenerate put into them."""

    revisions: tuple[RevisionInfo, ...]
    operations: tuple[Operation, ...] = ()
    autogenerate: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Step:
    """One revision applied (or stamped) by upgrade, downgrade or stamp.

    ``sql`` holds the statements that wrote to the database during the step (reflection queries and
    transaction control left out); ``destructive`` marks, statement by statement, those that lose data
    (filled by ``plan``).
    """

    revision: str
    message: str
    direction: str
    seconds: float
    sql: tuple[str, ...] = ()
    destructive: tuple[bool, ...] = ()
    database: str = ""
    """The database the step ran on: empty for the bound one, else a multidb engine name or a masked URL."""


@dataclass(frozen=True)
class Plan:
    """A dry run: the steps a migration to ``target`` would run, each with its SQL; nothing was changed.

    ``method`` says how the SQL was captured: in a transaction that was rolled back.
    """

    url: str
    command: str
    target: str
    current: tuple[str, ...]
    steps: tuple[Step, ...]
    method: str
    locks: tuple[tuple[str, str], ...] = ()
    """``plan --locks``: for each statement, in order, the locks it took and what it rewrote."""

    @property
    def destructive(self) -> bool:
        """Whether any planned statement loses data."""
        return any(any(step.destructive) for step in self.steps)


@dataclass(frozen=True)
class MigrationResult:
    """What upgrade, downgrade or stamp did: the steps run, and the heads before and after.

    Built once, when the run ends (see :mod:`sakyum_magic._run.state`).
    """

    command: str
    target: str
    before: tuple[str, ...]
    after: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()
    sql: str | None = None
    left_behind: tuple[str, ...] = ()
    """After a failure on a database without transactional DDL: what the failed revision changed."""
    undone: bool = False
    """After a failure: nothing of the failed revision remains (rolled back with its transaction; where
    DDL commits at once, its first statement failed on a lock), so it can run again as it is."""
    log: tuple[str, ...] = ()
    """Alembic's log lines during the run (kept out of the output; shown on error or when asked)."""
    notes: tuple[str, ...] = ()
    """Things to know about the run, such as another database that env.py migrated."""
    stopped: bool = False
    """The run ended early (a failure or an interrupt): ``steps`` is what it applied before that."""

    @property
    def changed(self) -> bool:
        """Whether the database's revision moved."""
        return self.before != self.after or bool(self.steps)


@dataclass(frozen=True)
class CurrentResult:
    """The revision(s) the database is at; no revisions means the database is not versioned."""

    url: str
    revisions: tuple[RevisionInfo, ...]
    unknown: tuple[str, ...] = ()
    databases: tuple[str, ...] = ()
    """Parallel to ``revisions`` when env.py spans several databases: each revision's database."""
    note: str = ""
    """Why there is no revision, when that is worth saying (no database file yet)."""
