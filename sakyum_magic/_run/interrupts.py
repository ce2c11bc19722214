"""Stopping a run at a revision boundary when the user interrupts it (Ctrl-C, Jupyter's stop button),
and leaving nothing running on the server when the run's client goes away.

A synchronous run gets ``KeyboardInterrupt`` in its own thread, wherever it is: the revision's
transaction rolls back on the way out. A run on async drivers executes on the worker thread of
:mod:`sakyum_magic._run.aio`, which ``KeyboardInterrupt`` never reaches: the waiting thread asks it to
stop instead (:func:`request_stop`), and the worker, at its next revision boundary (an
``on_version_apply`` call, made inside the revision's transaction), raises :class:`RunStopped`, so
that revision rolls back too and nothing keeps running in the background.

On MySQL and MariaDB one more thing can keep running: when the interrupt lands while PyMySQL waits
for a statement's result, the driver closes its socket, but the server runs the statement on to its
end (a lock wait, a long UPDATE or ALTER), holding the revision's locks and uncommitted rows
meanwhile, so the next command would wait behind it. :func:`server_thread` notes that thread when
the run connects, and :meth:`ServerThread.end_if_orphaned` ends it after an interrupt.

A process killed outright (``kill -9``, a kernel restarted by force) can do nothing itself. PostgreSQL
rolls back an idle session whose client has gone, but a statement in progress runs on, locks held,
until it ends (or forever, if it waits for a lock): :func:`check_client` asks the server to check for
the client during statements and to stop the statement when it is gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .stopping import RunStopped as RunStopped
from .stopping import check as check
from .stopping import clear as clear
from .stopping import request_stop as request_stop

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

MYSQL_UNKNOWN_THREAD = 1094
CLIENT_CHECK = "SET client_connection_check_interval = '1s'"
"""PostgreSQL 14+: check once a second during a statement that the client is still connected."""


@dataclass(frozen=True)
class ServerThread:
    """The MySQL/MariaDB server thread behind a run's connection, and the driver's connection to it."""

    id: int
    driver: Any

    def end_if_orphaned(self, engine: Engine, spare: Connection | None = None) -> None:
        """After an interrupt: if the driver dropped the connection in the middle of a statement,
        KILL the server thread (its transaction rolls back) and wait until it is gone.

        :param spare: an idle connection of the same server to do it on (the one holding the
            migration lock), so that a user limited to a few connections needs none more.
        """
        from contextlib import nullcontext

        from .database import connect

        if getattr(self.driver, "open", True):
            return  # the interrupt landed between statements: the connection is whole, nothing runs on
        with nullcontext(spare) if spare is not None else connect(engine) as other:
            self._kill(other)

    def _kill(self, other: Connection) -> None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            other.execute(text(f"KILL {self.id:d}"))
        except DBAPIError as exc:
            if getattr(exc.orig, "args", (None,))[0] != MYSQL_UNKNOWN_THREAD:  # not already gone
                raise
        alive = text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id")
        try:
            while other.execute(alive, {"id": self.id}).scalar():
                other.rollback()  # a fresh snapshot for the next look
                time.sleep(0.02)
        except KeyboardInterrupt:
            pass  # interrupted again: stop waiting for the server to finish its rollback
        other.rollback()


def server_thread(connection: Connection) -> ServerThread | None:
    """The server thread serving ``connection`` on MySQL/MariaDB (from the driver's handshake: no
    query, so Alembic still configures the connection's transactions itself); None elsewhere."""
    if connection.dialect.name not in {"mysql", "mariadb"}:
        return None
    driver = connection.connection.dbapi_connection
    thread_id = getattr(driver, "thread_id", None)
    return ServerThread(int(thread_id()), driver) if callable(thread_id) else None


def check_client(connection: Connection) -> None:
    """On PostgreSQL 14+, make the server stop a statement of ``connection`` once its client has gone.

    Committed at once, so that Alembic still finds no transaction and begins the run's own. Once per
    pooled connection: a session setting, it stays.
    """
    from sqlalchemy.exc import DBAPIError

    if connection.dialect.name != "postgresql" or (connection.dialect.server_version_info or (0,)) < (14,):
        return
    kept = connection.connection.info  # the pooled connection's own: the setting lasts as long
    if kept.get(CLIENT_CHECK):
        return
    try:
        connection.exec_driver_sql(CLIENT_CHECK)
    except DBAPIError:  # a server platform without the check (it needs Linux, macOS or a BSD)
        connection.rollback()
        return
    connection.commit()
    kept[CLIENT_CHECK] = True
