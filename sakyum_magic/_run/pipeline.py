"""A revision's DDL sent with the statement that follows it: one round trip per revision (psycopg 3).

Alembic sends each statement of a revision and waits for its reply, though nothing reads the reply
of a DDL statement (``CREATE TABLE``, ``ALTER TABLE``...: SQLAlchemy looks for rows and finds none).
On the run's connection, inside a revision's transaction, :class:`Batch` keeps such statements back
(SQLAlchemy's ``do_execute`` event, which may execute a statement itself) and sends them, in order,
in front of the next statement that goes to the server, in one pipeline (psycopg 3's pipeline mode:
one message, one reply). That next statement is normally the version update, which carries the
revision's bookkeeping and COMMIT (:mod:`sakyum_magic._run.carry`); the transaction's BEGIN goes
in the same pipeline. A revision of DDL then costs one round trip, against plain Alembic's one per
statement plus the version update.

What it keeps: the order of statements (any statement on the connection sends what is kept first,
the driver's own cursors included, and so does a COMMIT or a savepoint); the transaction (what is
kept is sent before it commits, and dropped when it rolls back, which undoes it anyway: PostgreSQL's
DDL is transactional); the error (a kept statement that fails is named as the failing statement).
What it changes: a kept statement that fails raises from the statement after it, inside the same
revision. It acts only where DDL runs inside a transaction: not on an autocommit connection
(``autocommit_block``), not inside a savepoint (whose block must see its statement fail), not in a
dry run (whose locks are read after each statement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

CHECK_LABEL = "sakyum_version_check"
"""The name of the one column of the version check a pipeline may carry (carry.py): a failing check
is told by it."""
_BY_DRIVER: dict[int, Batch] = {}
"""The batch of each psycopg connection in a run, by ``id()`` (checked against the connection)."""
_FLUSHING: dict[type, type] = {}
"""Per cursor class, its subclass that sends what is kept first."""


class Batch:
    """What the run's connection keeps back, and what goes after the next statement sent.

    :param connection: the run's connection (psycopg 3, pipeline mode supported).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.driver: Any = connection.connection.dbapi_connection
        self.kept: list[tuple[str, Any]] = []
        self.after: list[str] = []
        """Statements to send right after the next one (its bookkeeping), in its pipeline."""
        self.unmatched = ""
        """The error to give when the version check among them fails (carry.py)."""
        self.keeping = False
        self.owes_autocommit = False  # a pipeline began its own transaction; the driver's BEGIN is off
        self.failed: tuple[BaseException, str] | None = None
        """The driver's error from the last pipeline, and the kept statement that failed in it."""
        self._factory: Any = None

    def attach(self) -> None:
        from sqlalchemy import event

        dialect = self.connection.dialect
        if not event.contains(dialect, "do_execute", _keep):  # once per dialect: they look up the batch
            event.listen(dialect, "do_execute", _keep)
            event.listen(dialect, "handle_error", _name_failing)
        for name, handler in self._handlers().items():
            event.listen(self.connection, name, handler)
        self._factory = self.driver.cursor_factory
        self.driver.cursor_factory = _flushing(self._factory)
        _BY_DRIVER[id(self.driver)] = self

    def detach(self) -> None:
        from sqlalchemy import event

        for name, handler in self._handlers().items():
            event.remove(self.connection, name, handler)
        self.driver.cursor_factory = self._factory
        _BY_DRIVER.pop(id(self.driver), None)
        if self.owes_autocommit and self.driver.pgconn.transaction_status == _idle():
            self.driver.autocommit = False  # a pipeline that began its own transaction was cut short
        self.kept.clear()
        self.after.clear()
        self.keeping, self.failed = False, None

    def _handlers(self) -> dict[str, Any]:
        return {
            "commit": self._send_kept,
            "savepoint": self._send_kept,
            "prepare_twophase": self._send_kept,
            "rollback": self._drop_kept,
        }

    def keeps(self, context: Any) -> bool:
        """Whether the statement of ``context`` (SQLAlchemy's execution context) is kept back: DDL,
        inside a revision, on a connection in a transaction, outside a savepoint (whose block must
        see its statements fail, to roll back to it)."""
        return (
            self.keeping
            and context.isddl
            and not context.executemany
            and not self.driver.autocommit
            and not context.root_connection.in_nested_transaction()
        )

    def _send_kept(self, *_: Any) -> None:
        """Before a COMMIT or a savepoint: send what is kept (a failure raised as SQLAlchemy's error,
        naming the statement)."""
        import psycopg
        from sqlalchemy.exc import DBAPIError

        if not self.kept:
            return
        statements = "; ".join(statement for statement, _ in self.kept)
        try:
            with self.driver.cursor() as cursor:
                self.send(cursor, None, None, {})
        except psycopg.Error as exc:
            failed, self.failed = self.failed, None
            failing = failed[1] if failed is not None and failed[0] is exc else statements
            raise DBAPIError.instance(failing, None, exc, psycopg.Error) from exc

    def _drop_kept(self, *_: Any) -> None:
        self.kept.clear()
        self.after.clear()

    def send(self, cursor: Any, query: Any, params: Any, options: dict[str, Any]) -> None:
        """Send what is kept, then ``query`` on ``cursor`` (none: only what is kept), then what goes
        after it, in one pipeline; the transaction's BEGIN with them when the pipeline commits it."""
        kept, after, unmatched = self.kept, self.after, self.unmatched
        self.kept, self.after, self.unmatched = [], [], ""
        driver = self.driver
        begin = _begin(driver) if after and after[-1] == "COMMIT" else None
        if begin:
            driver.autocommit = True  # the driver would send BEGIN in a round trip of its own
        sent: list[tuple[Any, str]] = []
        followed: list[tuple[Any, str]] = []
        try:
            with driver.pipeline():
                if begin:
                    driver.execute(begin, prepare=False)
                for statement, parameters in kept:
                    sent.append((driver.cursor().execute(statement, parameters), statement))
                if query is not None:
                    type(cursor).plain_execute(cursor, query, params, **options)
                for statement in after:
                    followed.append((driver.execute(statement, prepare=False), statement))
        except BaseException as exc:
            failing = next((text for kept_cursor, text in sent if kept_cursor.pgresult is None), None)
            self.failed = (exc, failing) if failing is not None else None
            if begin:
                _end_failed(driver)
            if (
                failing is None
                and unmatched
                and _check_failed(cursor if query is not None else None, followed)
            ):
                raise _unmatched_error(unmatched) from exc
            raise
        finally:
            if begin:
                self.owes_autocommit = driver.pgconn.transaction_status != _idle()
                if not self.owes_autocommit:
                    driver.autocommit = False


def _check_failed(cursor: Any, followed: list[tuple[Any, str]]) -> bool:
    """Whether the statement that failed was the version check (carry.py), the statement before it
    having run."""
    if cursor is not None and cursor.pgresult is None:
        return False
    failed = next((text for after_cursor, text in followed if after_cursor.pgresult is None), "")
    return CHECK_LABEL in failed


def _unmatched_error(message: str) -> BaseException:
    """The driver's error for a raised exception (SQLSTATE P0001), with ``message``."""
    from psycopg import errors

    return errors.lookup("P0001")(message)


def _name_failing(context: Any) -> None:
    """SQLAlchemy's ``handle_error``: an error of a kept statement names that statement."""
    cursor = getattr(context.execution_context, "cursor", None)  # the driver's cursor
    batch = _BY_DRIVER.get(id(getattr(cursor, "connection", None)))
    found = batch.failed if batch is not None else None
    if batch is None or found is None or found[0] is not context.original_exception:
        return
    batch.failed = None
    if context.sqlalchemy_exception is not None:
        context.sqlalchemy_exception.statement = found[1]
        context.sqlalchemy_exception.params = None


def _end_failed(driver: Any) -> None:
    """After a failed pipeline that began its own transaction: end it and give the driver back its
    own BEGIN (SQLAlchemy's rollback then has nothing left to do)."""
    import psycopg

    try:
        if driver.pgconn.transaction_status != _idle():
            driver.rollback()
    except psycopg.Error:  # the connection is gone: the pool discards it
        return
    if driver.pgconn.transaction_status == _idle():
        driver.autocommit = False


def _keep(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """SQLAlchemy's ``do_execute``: True (executed, as far as SQLAlchemy knows) for a kept statement."""
    batch = _BY_DRIVER.get(id(cursor.connection))
    if batch is None or batch.driver is not cursor.connection or not batch.keeps(context):
        return False
    batch.kept.append((statement, parameters))
    return True


def _begin(driver: Any) -> str | None:
    """The BEGIN the driver would send before the next statement (its isolation level and access
    mode written in, as psycopg writes them), or None when it would send none."""
    if driver.autocommit or driver.pgconn.transaction_status != _idle():
        return None
    parts = ["BEGIN"]
    if driver.isolation_level is not None:
        parts.append("ISOLATION LEVEL " + driver.isolation_level.name.replace("_", " "))
    if driver.read_only is not None:
        parts.append("READ ONLY" if driver.read_only else "READ WRITE")
    if driver.deferrable is not None:
        parts.append("DEFERRABLE" if driver.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def _idle() -> Any:
    from psycopg.pq import TransactionStatus

    return TransactionStatus.IDLE


def _flushing(base: type) -> type:
    """``base``'s subclass whose every statement first sends what its connection's batch keeps."""
    made = _FLUSHING.get(base)
    if made is None:
        made = type(f"Flushing{base.__name__}", (base,), _overrides(base))
        _FLUSHING[base] = made
    return made


def _overrides(base: type) -> dict[str, Any]:
    def batch_of(cursor: Any) -> Batch | None:
        batch = _BY_DRIVER.get(id(cursor.connection))
        return batch if batch is not None and batch.driver is cursor.connection else None

    def execute(self: Any, query: Any, params: Any = None, **options: Any) -> Any:
        batch = batch_of(self)
        if batch is None or not (batch.kept or batch.after):
            return base.execute(self, query, params, **options)  # type: ignore[attr-defined]
        batch.send(self, query, params, options)
        return self

    def sending_first(name: str) -> Any:
        method = getattr(base, name)

        def sends_kept_first(self: Any, *args: Any, **kwargs: Any) -> Any:
            batch = batch_of(self)
            if batch is not None and batch.kept:
                batch._send_kept()
            return method(self, *args, **kwargs)

        return sends_kept_first

    sending = {name: sending_first(name) for name in ("executemany", "copy", "stream")}
    return {"execute": execute, "plain_execute": base.execute, **sending}  # type: ignore[attr-defined]
