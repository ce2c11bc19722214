"""A revision's bookkeeping carried with its version update: fewer round trips per revision.

Each revision of a run writes, in its own transaction, its version update (Alembic's), its row of the
applied-at log (:mod:`sakyum_magic._guards.audit`), on PostgreSQL the deferral of its commit's flush
(:mod:`sakyum_magic._run.commits`), and on MySQL/MariaDB the deletion of the note written before its
DDL (:mod:`sakyum_magic._run.partial`). Sent one by one, each is a round trip of its own. Alembic
writes the version table with literal values and no parameters, so the :class:`Carrier` can send the
rest in the same round trip, in the same transaction and in the same order:

- PostgreSQL with psycopg 3: the simple query protocol runs several statements of one message, so the
  log row, the deferral and then ``COMMIT`` are appended to the version update. psycopg 3 keeps the
  first statement's result current (its row count, which Alembic checks) and sends no COMMIT of its
  own once the server says the transaction is over, so the revision's transaction costs no round
  trip for its end. ``COMMIT`` goes only where nothing else may follow in the revision's transaction:
  a step with one version write (no merge), no ``on_version_apply`` hook but the run's own, and the
  transaction Alembic commits after the step (not one env.py began, nor a stamp's or dry run's).
- MariaDB 10.1 and later with PyMySQL: an anonymous compound statement (``BEGIN NOT ATOMIC ... END``,
  one statement) runs the version update, the note's deletion and the log row, and returns the version
  update's own row count, put back as the cursor's row count for Alembic to check. The ``COMMIT``
  stays a statement of its own: PyMySQL sends one whatever the server's state.

Elsewhere (psycopg2, asyncpg, MySQL, other MySQL drivers) the hooks write each statement as before.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .commits import DEFER_CALL, DEFER_FLUSH
from .pipeline import CHECK_LABEL

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

    from .._guards.audit import Logger
    from .commits import FlushAtTheEnd
    from .partial import SchemaWatch
    from .pipeline import Batch

COMPOUND_ROWS = "sakyum_version_rows"
"""The compound statement's variable holding the version update's row count."""
_RETURNING = re.compile(r"\bRETURNING\b", re.I)


class Carrier:
    """A ``before_cursor_execute`` listener (``retval=True``) on the run's connection.

    :param log: the applied-at log's hook, or None when the log is off.
    :param deferred: the run's flush deferral (zero or one hook).
    :param watch: the run's schema watch, whose note of the revision is deleted with its version update.
    :param commits: the run commits each revision on its own (not a stamp, not a dry run).
    """

    def __init__(
        self,
        log: Logger | None,
        deferred: list[FlushAtTheEnd],
        watch: SchemaWatch | None = None,
        commits: bool = False,
    ) -> None:
        self.log, self.deferred, self.watch, self.commits = log, deferred, watch, commits
        self.hooks: list[Callable[..., None]] = []
        """The run's own ``on_version_apply`` hooks (any other may write after the version update)."""
        self.connection: Connection | None = None
        self.compound = False  # MariaDB: the version update's row count comes back as a row
        self._step: Any = None
        self._version: re.Pattern[str] | None = None
        self._check: str | None = None  # what checks the step's version update before its COMMIT
        self._compound_sent: Any = None  # the execution context of the compound statement sent last
        self.batch: Batch | None = None  # psycopg 3: the revision's DDL goes with its version update
        self.committing: Any = None
        """The step whose version update carried its COMMIT, until the next step begins (an interrupt
        while its reply was awaited may leave it committed, its hooks not run)."""

    def attach(self, connection: Connection) -> None:
        """Carry on ``connection`` if its driver allows it (psycopg 3, or PyMySQL on MariaDB 10.1+)."""
        from sqlalchemy import event

        if self.connection is not None:
            return
        if _psycopg3(connection) and (self.log is not None or self.deferred or self.commits):
            self.connection = connection
        elif _mariadb_compound(connection) and (self.log is not None or self._watching()):
            self.connection, self.compound = connection, True
            event.listen(connection, "after_cursor_execute", self._version_rows)
        if self.connection is not None:
            event.listen(connection, "before_cursor_execute", self._carry, retval=True)
        if self.connection is not None and not self.compound and self.commits and _pipelines(connection):
            from .pipeline import Batch

            self.batch = Batch(connection)
            self.batch.attach()

    def detach(self) -> None:
        from sqlalchemy import event

        if self.connection is not None:
            event.remove(self.connection, "before_cursor_execute", self._carry)
            if self.batch is not None:
                self.batch.detach()
                self.batch = None
            if self.compound:
                event.remove(self.connection, "after_cursor_execute", self._version_rows)
            self.connection, self.compound = None, False

    def _watching(self) -> bool:
        return self.watch is not None and self.watch.active

    def forget(self) -> None:
        """A step begins: nothing is carried until its version write is next."""
        self._step = self._version = self.committing = None
        if self.batch is not None:
            self.batch.keeping = True

    def started(self, step: Any, context: Any) -> None:
        """A step of the bound database ran its revision's function (``context``: Alembic's
        MigrationContext): its version write, which comes next, will carry its bookkeeping."""
        if self.connection is not None:
            self._step = step
            name = re.escape(context.version_table)
            writes = r"\s*(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(?:\w+\.)?[\"`]?"
            self._version = re.compile(rf"{writes}{name}\b", re.I)
            ends = not self.compound and self.commits and self._ends_with_version(step, context)
            pipelined = self.batch is not None
            self._check = _version_check(self.connection, step, context, pipelined) if ends else None

    def _ends_with_version(self, step: Any, context: Any) -> bool:
        """Whether the step's one version write is the last statement of the transaction Alembic
        commits after it: an UPDATE from one revision to one other (a merge writes several rows), no
        hook but the run's own after it, and Alembic's own transaction per revision (not one begun
        outside it)."""
        one_write = len(getattr(step, "from_revisions", ())) == 1 == len(getattr(step, "to_revisions", ()))
        ours = all(any(hook is own for own in self.hooks) for hook in context.on_version_apply_callbacks)
        per_revision = bool(context.opts.get("transaction_per_migration"))
        own_transaction = getattr(context, "_transaction", None) is not None
        external = getattr(context, "_in_external_transaction", True)
        return one_write and ours and per_revision and own_transaction and not external

    def _carry(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        step, version = self._step, self._version
        if step is None or version is None or executemany or parameters or not version.match(statement):
            return statement, parameters
        if self.compound and _RETURNING.search(statement):  # its rows are the statement's result
            return statement, parameters
        self._step = None  # once per step: a merge's further version writes go alone
        commits = self._check is not None and statement.lstrip()[:6].upper() == "UPDATE"  # its one UPDATE
        if commits:
            self.committing = step
        if self.batch is not None:  # sent after the statement, in its pipeline
            self.batch.after = self._pipelined(conn, step, commits)
            self.batch.unmatched = unmatched(step) if commits else ""
            return statement, parameters
        carried = self._bookkeeping(conn, step) + ([str(self._check), "COMMIT"] if commits else [])
        if not carried:
            return statement, parameters
        if parameters is None:  # the driver then reads no placeholders, and %% stays as written
            carried = [text.replace("%%", "%") for text in carried]
        if self.compound:
            self._compound_sent = context
            return _compound(statement, carried), parameters
        return "; ".join([statement.rstrip().rstrip(";"), *carried]), parameters

    def _bookkeeping(self, conn: Any, step: Any) -> list[str]:
        """The statements the step's hooks would send after its version write, which they now skip."""
        from .._guards.markers import CLEAR

        carried = [CLEAR] if self.watch is not None and self.watch.carry() else []
        if self.log is not None and (row := self.log.carry(step)) is not None:
            carried.append(_literal_insert(conn, row))
        carried += [DEFER_FLUSH for hook in self.deferred if hook.carry()]
        return carried

    def _pipelined(self, conn: Any, step: Any, commits: bool) -> list[str]:
        """The same for a pipeline, where each statement is a message the driver and the server handle
        on its own: one statement (the log row in a data-modifying WITH, which runs whatever the query
        reads; the deferral as ``set_config(..., true)``, which is ``SET LOCAL``; the version check in
        its select list), then the COMMIT. The driver reads no placeholders in them."""
        row = self.log.carry(step) if self.log is not None else None
        items = [DEFER_CALL for hook in self.deferred if hook.carry()]
        items += [str(self._check)] if commits else []
        head = f"WITH sakyum_log AS ({_literal_insert(conn, row)}) " if row is not None else ""
        one = [f"{head}SELECT {', '.join(items) or '1'}".replace("%%", "%")] if head or items else []
        return one + (["COMMIT"] if commits else [])

    def _version_rows(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, *_: Any
    ) -> None:
        """After a compound statement: its one row is the version update's row count, which becomes
        the cursor's (Alembic checks it); the statement's own results are read to their end."""
        if context is None or context is not self._compound_sent:
            return
        self._compound_sent = None
        row = cursor.fetchone()
        while cursor.nextset():
            pass
        cursor.rowcount = int(row[0])


def _version_check(connection: Connection, step: Any, context: Any, pipelined: bool) -> str:
    """What checks, before the COMMIT that ends the step's transaction, that its version UPDATE (from
    one revision to one other) did its work: that the version table now names the step's target and
    not its origin (Alembic checks the row count only once the reply is back, when the COMMIT has run).

    In a pipeline (pipeline.py), a select-list item that divides by zero when the UPDATE matched no
    row, whose error the pipeline replaces with :func:`unmatched`'s words (a ``DO`` block would cost
    the server a PL/pgSQL compilation per revision); in one message of several statements, a ``DO``
    block that raises those words itself."""
    origin, target = _literal(connection, step.from_revisions[0]), _literal(connection, step.to_revisions[0])
    preparer = connection.dialect.identifier_preparer
    table = preparer.quote(context.version_table)
    if context.version_table_schema:
        table = f"{preparer.quote_schema(context.version_table_schema)}.{table}"
    if pipelined:
        count = f"(SELECT count(*) FROM {table} WHERE version_num = {{}})::int"
        return f"1 / {count.format(target)} / (1 - {count.format(origin)}) AS {CHECK_LABEL}"
    return (
        f"DO $sakyum$BEGIN IF EXISTS (SELECT 1 FROM {table} WHERE version_num = {origin}) "
        f"OR NOT EXISTS (SELECT 1 FROM {table} WHERE version_num = {target}) THEN RAISE EXCEPTION USING "
        f"MESSAGE = 'the version update from ' || {origin} || ' to ' || {target} || ' matched no row; "
        f"the revision was rolled back'; END IF; END$sakyum$"
    )


def unmatched(step: Any) -> str:
    """The error of a version update that matched no row (its revision then rolled back)."""
    return (
        f"the version update from {step.from_revisions[0]} to {step.to_revisions[0]} matched no row; "
        "the revision was rolled back"
    )


def _literal(connection: Any, value: str) -> str:
    """``value`` as an SQL string literal (escaped by SQLAlchemy's dialect, as the log row's values)."""
    import sqlalchemy as sa

    return str(_renderer(connection.dialect, sa.String())(value))


def _compound(statement: str, carried: list[str]) -> str:
    """One MariaDB statement: the version write, its row count kept, the carried statements, the count."""
    body = [
        f"DECLARE {COMPOUND_ROWS} INT",
        statement.strip().rstrip(";"),
        f"SET {COMPOUND_ROWS} = ROW_COUNT()",
        *carried,
        f"SELECT {COMPOUND_ROWS}",
    ]
    return "BEGIN NOT ATOMIC " + "; ".join(body) + "; END"


def _psycopg3(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


def _pipelines(connection: Connection) -> bool:
    """psycopg 3's pipeline mode works with this libpq (14 and later)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


def _mariadb_compound(connection: Connection) -> bool:
    """MariaDB 10.1.1 and later runs anonymous compound statements (in its default syntax, not under
    ``sql_mode=ORACLE``); PyMySQL reads the row they return (it asks for multiple results) and keeps
    the row count as a plain attribute."""
    dialect = connection.dialect
    mariadb = dialect.name == "mysql" and bool(getattr(dialect, "is_mariadb", False))
    version = tuple(part for part in dialect.server_version_info or () if isinstance(part, int))
    # sql_mode as SQLAlchemy read it on the first connection: under ORACLE a compound statement has
    # another syntax, so the statements go one by one there (and where the mode is unknown).
    mode = getattr(dialect, "_sql_mode", None)
    plain_syntax = isinstance(mode, str) and "ORACLE" not in mode.upper()
    return mariadb and dialect.driver == "pymysql" and version >= (10, 1, 1) and plain_syntax


def _literal_insert(conn: Any, row: dict[str, Any]) -> str:
    """The log row as one INSERT with its values written in (escaped by SQLAlchemy's dialect): each
    value through its column type's literal renderer, the statement's text made once per dialect."""
    head, renderers = _insert_template(conn.dialect, tuple(row))
    values = ", ".join("NULL" if row[k] is None else render(row[k]) for k, render in renderers)
    return f"{head} ({values})"


_COMPILERS: dict[int, tuple[Any, Any, dict[tuple[str, ...], str]]] = {}
"""Per dialect object: the dialect, a compiler of its own (for ``render_literal_value``), and the
log INSERT's head by column names."""


def _kept(dialect: Any) -> tuple[Any, Any, dict[tuple[str, ...], str]]:
    kept = _COMPILERS.get(id(dialect))
    if kept is None or kept[0] is not dialect:
        kept = (dialect, dialect.statement_compiler(dialect, None), {})
        _COMPILERS[id(dialect)] = kept
    return kept


def _insert_template(dialect: Any, names: tuple[str, ...]) -> tuple[str, Any]:
    """``INSERT INTO log (columns) VALUES`` for ``names``, and a renderer of each column's values: the
    dialect's compiler's own ``render_literal_value`` (its quoting and escaping, as ``literal_binds``
    gives)."""
    from .._guards.audit import table

    heads = _kept(dialect)[2]
    log = table()
    if names not in heads:
        preparer = dialect.identifier_preparer
        columns = ", ".join(preparer.quote(name) for name in names)
        heads[names] = f"INSERT INTO {preparer.format_table(log)} ({columns}) VALUES"
    return heads[names], tuple((name, _renderer(dialect, log.c[name].type)) for name in names)


def _renderer(dialect: Any, type_: Any) -> Any:
    """A renderer of ``type_``'s values as SQL literals for ``dialect`` (as ``literal_binds`` gives)."""
    render = _kept(dialect)[1].render_literal_value
    return lambda value: render(value, type_)
