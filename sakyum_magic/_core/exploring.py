"""The Migrator's commands that compare, preview and check (``diff``, ``check``, ``plan``, ``lint``,
``test``, ``schema``, ``squash``, ``fleet``): what Alembic lacks, or has only as a command line."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from .._run.aio import on_engine_loop
from .._run.database import (
    create_engine,
    current_heads,
    require_database_file,
)
from . import translation
from .binding import as_target, parse_url
from .configuration import require_initialized
from .errors import ConfigurationError, PendingChangesError, RevisionError
from .records import (
    Operation,
    Plan,
)

if TYPE_CHECKING:
    from .._features.checks import CheckResult, Scratch
    from .._fleet import FleetResult
    from .._lint import LintResult
    from .._lint.locks import LockTracer
    from .._lint.sqlite_locks import SqliteLockTracer
    from .._schema.er import SchemaDiagram
    from .._schema.squash import Squash
    from .migrator import Migrator
from .reading import ReadCommands


class ExploreCommands(ReadCommands):
    """The comparing, previewing and checking commands of :class:`~sakyum_magic.Migrator`."""

    # -- comparing the models with the database ------------------------------------------

    @on_engine_loop
    def diff(
        self, tables: Sequence[str] = (), schema: str | None = None, include_schemas: bool = False
    ) -> list[Operation]:
        """Compare the bound models with the live database and list the differences; write nothing.

        :param tables: only these tables (``name`` or ``schema.name``); an unknown one is an error.
        :param schema: only this schema.
        :param include_schemas: every schema, not only the default one.
        """
        from .._features.diff import compare_database

        target = as_target(self.target_metadatas())
        if not self._missing_file():
            engine = self.engine()
            rows = compare_database(engine, target, schema, include_schemas, tables, self.reflections)
            return self._with_baseline(rows, whole=not (tables or schema or include_schemas))
        # No database file yet: compare with an empty database rather than create the file.
        empty = create_engine(parse_url("sqlite://"))
        try:
            return compare_database(empty, target, schema, include_schemas, tables)
        finally:
            empty.dispose()

    @on_engine_loop
    def plan(self, revision: str = "head", locks: bool = False) -> Plan:
        """Dry run: the steps and SQL an upgrade (or downgrade) to ``revision`` would run; nothing changes.

        :param revision: the target: head (default), -1, base, an id.
        :param locks: the locks each statement takes and the tables it rewrites, observed (PostgreSQL:
            pg_locks and relfilenode; SQLite: the database's write lock and rebuilt tables' rootpage).
        """
        from .._features.plan import plan

        script = self.script_directory()
        require_database_file(self.url)
        if not locks:
            return plan(self.target(), script, revision, current_heads(self.engine()))
        tracer = _lock_tracer(self.engine().dialect.name)
        try:
            found = plan(self.target(), script, revision, current_heads(self.engine()), tracer)
        finally:
            tracer.close()
        return replace(found, locks=tuple(tracer.observed))

    @on_engine_loop
    def lint(
        self, rev_range: str | None = None, show_all: bool = False, since: str | None = None, large: int = 0
    ) -> LintResult:
        """What the revisions would cost the live database: locks, rewrites and scans, by table size.

        Each revision's SQL is linted on its own (squawk on PostgreSQL; sqlglot on MySQL/MariaDB;
        batch rebuilds on SQLite), with the tables' live row counts; an operation on a table created
        earlier in the same revision is exempt; ``# lint: allow RULE`` in a revision file shows that
        rule's findings as allowed.

        :param rev_range: FROM:TO, or TO (default: the revisions not yet applied, up to head).
        :param show_all: every revision, from base.
        :param since: the revisions after this one.
        :param large: rows from which a finding that grows with the table is an error (default
            1000000; a hundredth of it makes a warning).
        """
        from .._lint import lint
        from .._lint.kept import digest
        from .._lint.rules import LARGE

        if large < 0:
            raise ConfigurationError(
                f"--large {large}: give the rows from which a finding is an error: 1 or more"
            )
        script = self.script_directory()
        exists = not self._missing_file()
        current = current_heads(self.engine()) if exists else ()
        span = replace(_lint_span(rev_range, show_all, since, current), exists=exists)
        with translation.alembic_errors(self.parsed_url()):
            context = (self.masked_url(), self.schema, self.x_arguments, digest(self.ini))
            return lint(self.target(), script, span, large or LARGE, self.lints, context)

    @on_engine_loop
    def check(self, single_head: bool = False, lint: bool = False, large: int = 0) -> list[Operation]:
        """Fail if the models have changes that no revision covers yet, like ``alembic check``.

        :param single_head: fail first when the directory has more than one head.
        :param lint: first lint the revisions not yet applied and fail on an error (LintError), for CI;
            while some are not applied, the models are not compared (upgrade, then check again).
        :param large: with ``lint``, rows from which a finding that grows with the table is an error.
        """
        if lint:
            from .._lint import refuse_errors

            linted = self.lint(large=large)
            refuse_errors(linted, "check --lint")
            if linted.revisions:
                return []
        script = self.script_directory()
        if single_head:
            from .._schema.heads import require_single_head

            with translation.alembic_errors(self.parsed_url()):
                require_single_head(script)
        heads = tuple(sorted(script.get_heads()))
        require_database_file(self.url)
        if current_heads(self.engine()) != heads:
            raise RevisionError(
                "the database is not up to date, so check cannot compare it: run %migrate upgrade head first"
            )
        operations = self.diff()
        if operations:
            raise PendingChangesError(
                f"{len(operations)} operation(s) pending: the models differ from the database; "
                "run %migrate revision --autogenerate -m MESSAGE",
                operations,
            )
        return operations

    @on_engine_loop
    def schema_diagram(
        self,
        models: bool = False,
        at: str | None = None,
        diff: bool = False,
        table_pattern: str | None = None,
        schema: str | None = None,
    ) -> SchemaDiagram:
        """Draw an ER diagram of the database, the models, a revision, or the models' difference.

        Shown as Mermaid where the front end draws it (JupyterLab 4.1+, Notebook 7.1+), else as an
        SVG drawn here, and as a listing in a terminal; nothing is fetched.

        :param models: draw the bound models instead of the database.
        :param at: draw the schema the revision AT builds, on a scratch database.
        :param diff: mark what the models add, remove and change against the database (or ``--at``).
        :param table_pattern: only tables whose name matches this pattern (``--tables 'user*'``).
        :param schema: only this schema.
        """
        from .._schema.er_sources import schema_picture

        return schema_picture(cast("Migrator", self), models, at, diff, table_pattern, schema)

    # -- checking the revisions on a scratch database ----------------------------------------

    def test(self, checks: Sequence[str] = ()) -> list[CheckResult]:
        """Run pytest-alembic's built-in checks on scratch databases; the bound database is not used.

        single_head_revision; upgrade (base to head); model_definitions_match_ddl (after that upgrade,
        autogenerate finds nothing; when models are bound or env.py has its own); up_down_consistency
        (each revision upgraded, downgraded and upgraded again). A scratch database is a temporary
        SQLite file, or a database created on the bound server and dropped afterwards.

        :param checks: only these checks (default all).
        """
        from .._features.checks import run_checks

        return run_checks(cast("Migrator", self), cast("Scratch", self.bound_elsewhere), checks)

    @on_engine_loop
    def squash(self, start: str, end: str, message: str | None = None, sql: bool = False) -> Squash:
        """Replace the revisions START..END (a straight line) with one, proved equal on scratch databases.

        The new revision keeps END's id and START's down_revision; the old files move to
        ``squashed/START-END/`` beside versions/. Refused: a range with merges or branches, data
        operations in it (named), a bound database whose revision lies inside it.

        :param start: the oldest revision of the range.
        :param end: the newest revision of the range (its id is kept).
        :param message: the new revision's message.
        :param sql: show the new file without writing it.
        """
        from .._schema.squash import squash

        require_initialized(self.directory)
        with translation.alembic_errors(self.parsed_url()):
            return squash(cast("Migrator", self), start, end, message or f"squash {start} to {end}", sql)

    @on_engine_loop
    def _refuse_lint_errors(self, revision: str) -> None:
        """A lint error in the revisions an upgrade would apply refuses it (the lint extra installed)."""
        from .._lint import gated, refuse_errors

        if self._missing_file():
            return
        if not gated(self.engine(), revision, current_heads(self.engine()), self.script_directory()):
            return
        end = "heads" if revision in {"head", "heads"} else revision
        refuse_errors(self.lint(rev_range=end), "upgrade", " or upgrade --allow-lint")

    # -- many databases ---------------------------------------------------------------------

    def fleet(
        self,
        targets: Any,
        action: str = "upgrade",
        revision: str | None = None,
        executor: Any = None,
        canary: int = 0,
        parallel: int | None = None,
        max_failures: int | None = None,
        continue_on_error: bool = False,
        allow_lint: bool = False,
        on_update: Callable[[FleetResult], None] | None = None,
    ) -> FleetResult:
        """Run one command on many databases or tenant schemas, in worker processes; one row per target.

        :param targets: a list (URLs, schema names of the bound database, (url, schema) pairs), a
            DataFrame with url and/or schema columns, or a SQL query returning them (run on the bound
            database).
        :param action: current (drift report), plan, upgrade, downgrade, stamp, check, or lint (each
            target's pending revisions with its own table sizes).
        :param revision: the revision (upgrade default head; downgrade and stamp need one).
        :param executor: process (a local process pool, the default), dask (the notebook's Dask
            client, else a LocalCluster), or a distributed.Client or concurrent.futures.Executor.
        :param canary: run the first N targets alone first; stop if any of them fails.
        :param parallel: run at most K targets at once (default: the executor's worker count).
        :param max_failures: stop starting targets after more than F failures (default 0).
        :param continue_on_error: keep starting targets whatever fails.
        :param allow_lint: upgrade even when lint (run once for the chain, on the bound database,
            before any target starts) finds an error.
        """
        from .._fleet import fleet

        if action == "upgrade" and not allow_lint:
            self._refuse_lint_errors(revision or "head")

        metadata = self.target_metadatas() if action == "check" else None
        open_target = functools.partial(
            type(self), metadata=metadata, directory=self.directory.resolve(), ini=self.ini.resolve(),
            progress=False, x_arguments=self.x_arguments, audit=self.audit, lock_timeout=self.lock_timeout,
        )  # fmt: skip
        result = fleet(
            targets, action, revision, open_target, default_url=self.url, query_engine=self.engine,
            executor=executor, canary=canary, parallel=parallel, max_failures=max_failures,
            continue_on_error=continue_on_error, on_update=on_update,
        )  # fmt: skip
        return replace(result, notes=self._chain_lint_note()) if action == "plan" else result

    def _chain_lint_note(self) -> tuple[str, ...]:
        """fleet plan's lint, once for the whole chain on the bound database, as one line."""
        from .errors import DatabaseError

        try:
            found = self.lint(show_all=True)
        except (ConfigurationError, DatabaseError) as exc:
            return (f"lint was not run for the chain: {exc}",)
        return (
            f"lint, once for the chain on {found.url}: {len(found.findings)} finding(s), "
            f"{len(found.errors)} error(s); %migrate lint --all lists them",
        )


def _lock_tracer(dialect: str) -> LockTracer | SqliteLockTracer:
    """The tracer ``plan --locks`` runs on this dialect; ConfigurationError where there is none."""
    if dialect == "postgresql":
        from .._lint.locks import LockTracer

        return LockTracer()
    if dialect == "sqlite":
        from .._lint.sqlite_locks import SqliteLockTracer

        return SqliteLockTracer()
    raise ConfigurationError(
        f"plan --locks observes the locks of PostgreSQL and SQLite, not of {dialect}: leave out --locks here"
    )


def _lint_span(rev_range: str | None, show_all: bool, since: str | None, current: tuple[str, ...]) -> Any:
    """Which revisions ``lint`` reads: FROM:TO, after ``since``, all, or those not yet applied."""
    from .._lint import Span

    start, _, end = rev_range.rpartition(":") if rev_range else ("", "", None)
    if sum(bool(x) for x in (show_all, since, start)) > 1:
        raise ConfigurationError("lint takes one of --all, --since REV and FROM:TO: choose one")
    if show_all:
        return Span(None, end or "heads", current)
    if since or start:
        return Span(since or start, end or "heads", current)
    if len(current) > 1:
        raise ConfigurationError(
            f"the database is at {len(current)} revisions ({', '.join(current)}): name where to start, "
            "--since REV, or lint --all"
        )
    return Span(current[0] if current else None, end or "heads", current)
