"""How a multi-revision run commits on PostgreSQL: each revision on its own, the disk waited for once.

A run commits once per revision, so that a failure leaves the database at the last good revision
(plain Alembic runs the whole upgrade in one transaction). On PostgreSQL every commit waits for its
write-ahead log to reach the disk, so a thousand revisions would wait a thousand times.
:class:`FlushAtTheEnd` makes every revision's commit but the last one's skip that wait
(``SET LOCAL synchronous_commit = off``, which concerns that transaction only).

What it keeps: each revision is still all or nothing and commits before the next begins; other
sessions see each commit at once; the last commit waits for the disk and so makes every earlier one
durable with it (the log is written in order). What it changes: if the *server* crashes during a
run, or within the WAL writer's delay (``wal_writer_delay``, 200 ms by default, at most three times
that) after a run that stopped early, the last revisions committed may be lost, always whole
revisions from the end, leaving the database at an earlier revision. A run that stops early (a
failure, an interrupt) makes its earlier commits durable before it returns
(:meth:`FlushAtTheEnd.flush`). The client process dying (a kill) loses nothing that was committed.
"""

from __future__ import annotations

from typing import Any

DEFER_FLUSH = "SET LOCAL synchronous_commit = off"
DEFER_CALL = "set_config('synchronous_commit', 'off', true)"
"""The same as a function call (``true``: for the transaction only), for a select list."""


class FlushAtTheEnd:
    """An ``on_version_apply`` hook: revisions ``1 .. total-1`` commit without waiting for the disk.

    It acts on the run's own connection only (env.py may migrate other databases too) and counts
    the revisions applied there; from the ``total``-th on, commits wait as usual.
    """

    def __init__(self, connection: Any, total: int) -> None:
        self.connection, self.total, self.seen = connection, total, 0
        self._carried = False

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if ctx.connection is not self.connection:
            return
        self.seen += 1
        carried, self._carried = self._carried, False
        if self.seen < self.total and not carried:
            ctx.connection.exec_driver_sql(DEFER_FLUSH)

    def carry(self) -> bool:
        """Whether the step now running (on the run's connection) defers its flush; if so the
        deferral goes with its version update (see carry.py) and the hook sends none."""
        self._carried = self.seen + 1 < self.total
        return self._carried

    def flush(self, engine: Any) -> None:
        """After a run that stopped before its last revision: wait until the commits it deferred are
        on disk. A transaction that takes a transaction id commits with a record of its own, and a
        synchronous commit waits for the log up to that record, every earlier commit included."""
        if not 0 < self.seen < self.total:
            return
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT txid_current()")
            connection.commit()


def deferred_flush(connection: Any, name: str, total: int, dry_run: bool) -> list[FlushAtTheEnd]:
    """The hook for a run, as a list of zero or one: PostgreSQL upgrades and downgrades of more than
    one revision (a stamp is one transaction, a dry run commits nothing)."""
    wanted = connection.dialect.name == "postgresql" and name != "stamp" and not dry_run and total > 1
    return [FlushAtTheEnd(connection, total)] if wanted else []
