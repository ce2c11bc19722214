"""The core API: :class:`Migrator`, one method per Alembic command, returning data and printing nothing."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._authoring.newfiles import undo_new_files, writable
from .._authoring.scripts import history_range
from .._authoring.template import refresh as refresh_directory
from .._authoring.template import write_directory
from .._features.diff import directives_hook
from .._guards.safety import Rename, parse_renames
from .._run import envrun, execution
from .._run.aio import on_engine_loop
from .._run.database import (
    connect,
    create_engine,
    current_heads,
    require_database_file,
    sqlite_file,
)
from . import translation
from .binding import as_target, mask_text, mask_url, parse_url
from .bound import Bound
from .compat import quiet_alembic
from .configuration import check_path, require_initialized
from .errors import ConfigurationError, MigrationError, PendingChangesError, RevisionError
from .records import (
    CurrentResult,
    HistoryEntry,
    InitResult,
    MigrationResult,
    Operation,
    Plan,
    RevisionInfo,
    RevisionResult,
)

if TYPE_CHECKING:
    from .._features.checks import CheckResult
    from .._features.graph import RevisionGraph
    from .._fleet import FleetResult
    from .._guards.audit import LogEntry
    from .._lint import LintResult
    from .._schema.baseline import Baseline
    from .._schema.er import SchemaDiagram
    from .._schema.renames import TableRename
    from .._schema.squash import Squash


REVISION_ARGUMENTS = (
    *("message", "autogenerate", "sql", "head", "splice"),
    *("branch_label", "version_path", "rev_id", "depends_on"),
)
"""``alembic.command.revision``'s keyword arguments, in order."""


class Migrator(Bound):
    """Alembic commands bound to one database URL, one set of models and one migration directory.

    One method per Alembic command, named and parametrised like ``alembic.command``'s, returning data
    and printing nothing. The binding's parameters are :class:`~sakyum_magic._core.bound.Bound`'s.
    """

    # -- commands that write files --------------------------------------------------------

    def init(self, directory: str | Path | None = None, refresh: bool = False) -> InitResult:
        """Create a migration directory and alembic.ini, like ``alembic init``.

        :param directory: the directory to create (default: the bound one).
        :param refresh: rewrite env.py and sakyum_env_support.py of a directory init wrote before
            (by this or an older release), leaving the revisions and alembic.ini as they are.
        """
        target = Path(directory) if directory is not None else self.directory
        check_path(target)
        if refresh:
            with writable():
                result = refresh_directory(target)
            self.directory = target
            return result
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigurationError(
                f"{target} already exists and is not empty: choose another directory "
                f"(%migrate init DIR) or use it as it is (%migrate config --dir {target})"
            )
        url = self.parsed_url()
        with writable():
            result = write_directory(target, self.ini, url._replace(password=None).render_as_string(False))
        self.directory = target
        return result

    @on_engine_loop
    def revision(
        self,
        message: str | None = None,
        autogenerate: bool = False,
        sql: bool = False,
        head: str = "head",
        splice: bool = False,
        branch_label: str | None = None,
        version_path: str | None = None,
        rev_id: str | None = None,
        depends_on: str | None = None,
        allow_drop: bool = False,
        renames: Sequence[str | Rename] = (),
        body: str | None = None,
        table_renames: Sequence[str | TableRename] = (),
    ) -> RevisionResult:
        """Create a revision file; with ``autogenerate``, fill it from the models' differences.

        An autogenerate that would drop tables or columns is refused (DropRefusedError) unless
        ``allow_drop``; each of ``renames`` (``TABLE.OLD:NEW``) turns a drop + add into a rename.

        :param message: the revision's message (``-m``).
        :param autogenerate: fill it from the differences between the models and the database.
        :param sql: write the SQL instead of running env.py online (needs revision_environment).
        :param head: the head to build on.
        :param splice: allow ``--head`` to name a revision that is not a head.
        :param branch_label: a label for a new branch.
        :param version_path: which version location to write into.
        :param rev_id: use this revision id instead of a generated one.
        :param depends_on: revision(s) this one depends on.
        :param allow_drop: let autogenerate drop tables and columns (refused otherwise).
        :param renames: rename a column instead of dropping and re-adding it (repeatable).
        :param body: ``def upgrade():`` and optionally ``def downgrade():``, as written in a revision
            file, to put in place of the empty ones (a data migration, or operations autogenerate
            cannot write); checked before anything is written.
        :param table_renames: rename a table instead of dropping it and creating it anew (repeatable).
        """
        from .._authoring import handwritten
        from .._authoring.revision import write_revision

        renamed, checked = _checked_inputs(renames, body, autogenerate)
        message = mask_text(message) if message else message  # the file, its name and every table
        require_initialized(self.directory)
        if autogenerate and not sql and self.script_directory().get_heads():
            self._refuse_unversioned("autogenerate")
        self._check_new_id(rev_id)
        collected: dict[str, Any] = {}
        values = (message, autogenerate, sql, head, splice, branch_label, version_path, rev_id, depends_on)
        arguments = dict(zip(REVISION_ARGUMENTS, values, strict=True))
        hook = directives_hook(collected, autogenerate, allow_drop, renamed)
        if table_renames or autogenerate:
            hook = _schema_hooks(self.parsed_url().get_backend_name(), table_renames, autogenerate, hook)
        target, script = self.target(need_metadata=autogenerate), self.script_directory()
        undo = (self.no_new_database_on_error(), undo_new_files(self.directory, self.scripts.forget))
        with undo[0], undo[1], translation.alembic_errors(target.url), quiet_alembic():
            made = write_revision(target, script, self.config(), arguments, hook, autogenerate or sql)
            if checked is not None:
                for written in made:
                    rendered = {name: getattr(written.module, name, None) for name in handwritten.IDENTIFIERS}
                    handwritten.splice(Path(written.path), checked)
                    handwritten.check_written(Path(written.path), rendered)
        result = self._revision_result(made, collected, autogenerate)
        return replace(result, note=handwritten.note(checked)) if checked and result.revisions else result

    def merge(
        self,
        revisions: str | Sequence[str] = "heads",
        message: str | None = None,
        branch_label: str | None = None,
        rev_id: str | None = None,
    ) -> RevisionResult:
        """Write a revision that joins two or more heads into one.

        :param revisions: the revisions to merge, or heads.
        :param message: the merge revision's message (``-m``).
        :param branch_label: a label for the merged branch.
        :param rev_id: use this revision id instead of a generated one.
        """
        from alembic import command

        config = self.config()
        require_initialized(self.directory)
        self._check_new_id(rev_id)
        message = mask_text(message) if message else message
        url, undo = self.parsed_url(), undo_new_files(self.directory, self.scripts.forget)
        with undo, translation.alembic_errors(url), quiet_alembic():
            made = command.merge(
                config,
                list(revisions) if not isinstance(revisions, str) else revisions,
                message=message,
                branch_label=branch_label,
                rev_id=rev_id,
            )
        return self._revision_result(made, {}, False)

    # -- commands that change the database ------------------------------------------------

    @on_engine_loop
    def upgrade(
        self,
        revision: str = "head",
        sql: bool = False,
        tag: str | None = None,
        lock_timeout: str | float | None = None,
        statement_timeout: str | float | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        allow_lint: bool = False,
        online: bool = False,
    ) -> MigrationResult:
        """Upgrade the database to ``revision`` (head, heads, an id or prefix, +N, branch@head).

        On a database already at some revision, a lint error in the revisions to apply makes it refuse
        (LintError) unless ``allow_lint`` (PostgreSQL, MySQL, MariaDB; with the migrate-lint extra).
        ``lock_timeout`` is the database's own lock timeout for each revision, not the wait for
        another migration (the binding's ``lock_timeout``).

        :param revision: the target revision (default head).
        :param sql: write the SQL instead of running it (offline mode, ``alembic upgrade --sql``).
        :param tag: an arbitrary tag handed to env.py (``context.get_tag_argument()``).
        :param lock_timeout: give up a revision whose lock waits longer (2s, 500ms), set in its transaction.
        :param statement_timeout: give up a statement that runs longer (15min).
        :param retries: after a lock timeout, run the rolled-back revision again, up to N more times.
        :param retry_delay: seconds to wait before each retry.
        :param allow_lint: apply even when lint finds an error in the revisions to apply.
        :param online: MySQL/MariaDB: each ALTER TABLE and index asks for LOCK=NONE, so the server
            refuses a table copy (which blocks writes) instead of running it.
        """
        from .._lint import guard

        waits = guard.seconds(lock_timeout or self.upgrade_lock_timeout, "--lock-timeout")
        runs = guard.seconds(statement_timeout or self.upgrade_statement_timeout, "--statement-timeout")
        settings = guard.statements(self.engine(), waits, runs) if waits or runs else ()
        rewrite = guard.online(self.engine()) if online else None
        if not sql:
            self._refuse_unversioned("upgrade")
        if not (sql or allow_lint):
            self._refuse_lint_errors(revision)
        attempts = []
        for attempt in range(retries + 1):
            try:
                result = self._migrate(
                    "upgrade", revision, sql=sql, tag=tag, settings=settings, rewrite=rewrite
                )
            except MigrationError as exc:
                if not guard.lock_timed_out(exc):
                    raise
                after = exc.result.after if exc.result is not None else ()
                message = guard.blocked("upgrade", exc, self.engine(), after, waits or 0)
                if attempt == retries:
                    raise MigrationError(message, exc.result) from exc
                attempts.append(f"attempt {attempt + 1}: {message.split(' and gave up')[0]}")
                time.sleep(retry_delay)
                continue
            done = [f"attempt {attempt + 1}: applied"] if attempts else []
            result.notes = (*result.notes, *attempts, *done)
            return result
        raise AssertionError("unreachable")

    def _refuse_lint_errors(self, revision: str) -> None:
        """A lint error in the revisions an upgrade would apply refuses it (the lint extra installed)."""
        from .._lint import gated, refuse_errors

        if self._missing_file():
            return
        if not gated(self.engine(), revision, current_heads(self.engine()), self.script_directory()):
            return
        end = "heads" if revision in {"head", "heads"} else revision
        refuse_errors(self.lint(rev_range=end), "upgrade", " or upgrade --allow-lint")

    @on_engine_loop
    def downgrade(self, revision: str, sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Downgrade the database to ``revision`` (base, an id or prefix, -N).

        :param revision: the target revision: base, -1, an id or prefix.
        :param sql: write the SQL instead of running it (offline mode; needs FROM:TO).
        :param tag: an arbitrary tag handed to env.py (``context.get_tag_argument()``).
        """
        return self._migrate("downgrade", revision, sql=sql, tag=tag)

    @on_engine_loop
    def stamp(
        self,
        revision: str | Sequence[str],
        sql: bool = False,
        tag: str | None = None,
        purge: bool = False,
    ) -> MigrationResult:
        """Set the database's revision to ``revision`` without running any migration.

        :param revision: revision(s) to stamp, e.g. head or base.
        :param sql: write the SQL instead of running it (offline mode).
        :param tag: an arbitrary tag handed to env.py (``context.get_tag_argument()``).
        :param purge: empty the version table first.
        """
        return self._migrate("stamp", revision, sql=sql, tag=tag, purge=purge)

    def _migrate(
        self,
        name: str,
        revision: str | Sequence[str],
        settings: tuple[str, ...] = (),
        rewrite: Callable[[str], str] | None = None,
        **options: Any,
    ) -> MigrationResult:
        strategy = execution.Strategy(settings=settings, rewrite=rewrite) if settings or rewrite else None
        with self.one_config():
            script = self.script_directory()
            with self.no_new_database_on_error(), translation.alembic_errors(self.parsed_url()):
                return execution.migrate(self.target(), script, name, revision, strategy=strategy, **options)

    # -- baselines: a database with tables but no version table (see _schema.baseline) -----

    def _baseline(self) -> Baseline | None:
        if self._missing_file():
            return None
        from .._schema.baseline import baseline

        return baseline(self)

    def _refuse_unversioned(self, command: str) -> None:
        """RevisionError before ``command`` runs on a database whose schema is a revision's already."""
        adopt = self._baseline()
        if adopt is not None and (adopt.revision is not None or command == "autogenerate"):
            raise RevisionError(f"{adopt.line}; {command} refused, nothing was changed")

    def _with_baseline(self, rows: list[Operation]) -> list[Operation]:
        adopt = self._baseline()
        if adopt is None:
            return rows
        from .._schema.baseline import Differences

        return Differences(rows, adopt.line)

    # -- comparing the models with the database ------------------------------------------

    @on_engine_loop
    def diff(
        self, tables: Sequence[str] = (), schema: str | None = None, include_schemas: bool = False
    ) -> list[Operation]:
        """Compare the bound models with the live database and list the differences; write nothing.

        :param tables: only these tables (``name`` or ``schema.name``); an unknown one is an error.
        :param schema: only this schema (``--schema``).
        :param include_schemas: every schema, not only the default one (``--include-schemas``).
        """
        from .._features.diff import compare_database

        target = as_target(self.target_metadatas())
        if not self._missing_file():
            rows = compare_database(self.engine(), target, schema, include_schemas, tables)
            return self._with_baseline(rows)
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
        :param locks: PostgreSQL: the locks each statement takes and the tables it rewrites, observed.
        """
        from .._features.plan import plan

        script = self.script_directory()
        require_database_file(self.url)
        if not locks:
            return plan(self.target(), script, revision, current_heads(self.engine()))
        from .._lint.locks import LockTracer

        if self.engine().dialect.name != "postgresql":
            raise ConfigurationError("plan --locks reads PostgreSQL's pg_locks: leave out --locks here")
        tracer = LockTracer()
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
        from .._lint.rules import LARGE

        script = self.script_directory()
        exists = not self._missing_file()
        current = current_heads(self.engine()) if exists else ()
        span = replace(_lint_span(rev_range, show_all, since, current), exists=exists)
        with translation.alembic_errors(self.parsed_url()):
            return lint(self.target(), script, span, large or LARGE)

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
        :param at: draw the schema revision AT builds, on a scratch database (``--at REV``).
        :param diff: mark what the models add, remove and change against the database (or ``--at``).
        :param table_pattern: only tables whose name matches this pattern (``--tables 'user*'``).
        :param schema: only this schema (``--schema``).
        """
        from .._schema.er_sources import schema_picture

        return schema_picture(self, models, at, diff, table_pattern, schema)

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

        return run_checks(self, self.bound_elsewhere, checks)

    # -- commands that read ---------------------------------------------------------------

    @on_engine_loop
    def current(self) -> CurrentResult:
        """Show the revision(s) the database is at.

        With the env.py ``%migrate init`` writes, the version table is read with one query and looked
        up in the cached map; any other env.py is run as ``alembic current`` runs it, so every
        database it configures (a multidb directory) is covered.
        """
        snapshot = self.snapshot(light=True)
        if self._missing_file():  # connecting would create it: say so instead
            note = f"no database file at {sqlite_file(self.url)} yet: %migrate upgrade creates it"
            return CurrentResult(mask_url(self.url), (), note=note)
        if envrun.own_env(self.directory):
            found = [("", current_heads(self.engine()))]
        else:
            found = envrun.read_heads(self.target(), snapshot.script)
        if not any(heads for _database, heads in found):
            adopt = self._baseline()
            if adopt is not None:
                return CurrentResult(mask_url(self.url), (), note=adopt.line)
        with translation.alembic_errors(self.parsed_url()):
            rows = [(database, rev, self._info(snapshot, rev)) for database, heads in found for rev in heads]
        known = [(database, info) for database, _rev, info in rows if info is not None]
        return CurrentResult(
            mask_url(self.url),
            tuple(info for _database, info in known),
            tuple(rev for _database, rev, info in rows if info is None),
            tuple(database for database, _info in known) if any(d for d, _i in known) else (),
        )

    @on_engine_loop
    def history(self, rev_range: str | None = None, indicate_current: bool = False) -> list[HistoryEntry]:
        """List the revisions, newest first; ``rev_range`` is START:END as in ``alembic history -r``.

        :param rev_range: START:END, START: or :END (current allowed).
        :param indicate_current: ask the database, and fill the is_current column.
        """
        snapshot = self.snapshot(light=True)
        needs_db = indicate_current or "current" in (rev_range or "")
        current = self._current_if_any() if needs_db else ()
        base, head = history_range(rev_range, current)
        with translation.alembic_errors(self.parsed_url()):
            walked = snapshot.memo(
                ("history", base, head),
                lambda: tuple(snapshot.infos(snapshot.light.walk_revisions(base, head))),
            )
        mark, applied = set(current), self._applied_at() if indicate_current else {}
        return [
            HistoryEntry(i, (i.revision in mark) if indicate_current else None, applied.get(i.revision))
            for i in walked
        ]

    @on_engine_loop
    def log(self, limit: int | None = None) -> list[LogEntry]:
        """List the applied-at log, newest first: when each step ran, from and to, by whom, ok or failed.

        :param limit: only the newest ``limit`` entries (``-n``).
        """
        from .._guards import audit

        if limit is not None and limit < 0:
            raise ConfigurationError(f"limit (-n) {limit}: give how many entries to list, 0 or more")
        if self._missing_file():
            return []
        with connect(self.engine()) as connection:
            return audit.entries(connection, limit)

    def heads(self, resolve_dependencies: bool = False) -> list[RevisionInfo]:
        """List the head revisions (with ``resolve_dependencies``, dependencies count as down revisions).

        :param resolve_dependencies: treat dependencies as down revisions.
        """
        snapshot = self.snapshot(light=True)
        script = snapshot.light
        with translation.alembic_errors(self.parsed_url()):
            names: Any = "heads" if resolve_dependencies else tuple(script.get_heads())
            return snapshot.infos(script.get_revisions(names))

    def branches(self) -> list[RevisionInfo]:
        """List the branch points: revisions with more than one child."""
        snapshot = self.snapshot(light=True)
        with translation.alembic_errors(self.parsed_url()):
            return [snapshot.info(s) for s in snapshot.light.walk_revisions() if s.is_branch_point]

    @on_engine_loop
    def show(self, rev: str) -> list[RevisionInfo]:
        """Show the revision(s) named by ``rev`` (an id, prefix, head, heads, or current).

        :param rev: an id, prefix, head, heads, or current.
        """
        snapshot = self.snapshot(light=True)
        names: Any = self._current_if_any() if rev == "current" else rev
        with translation.alembic_errors(self.parsed_url()):
            found = snapshot.light.get_revisions(names)
        return snapshot.infos(found)

    @on_engine_loop
    def squash(self, start: str, end: str, message: str | None = None, sql: bool = False) -> Squash:
        """Replace the revisions START..END (a straight line) with one, proved equal on scratch databases.

        The new revision keeps END's id and START's down_revision; the old files move to
        ``squashed/START-END/`` beside versions/. Refused: a range with merges or branches, data
        operations in it (named), a bound database whose revision lies inside it.

        :param start: the oldest revision of the range.
        :param end: the newest revision of the range (its id is kept).
        :param message: the new revision's message (``-m``).
        :param sql: show the new file without writing it.
        """
        from .._schema.squash import squash

        require_initialized(self.directory)
        with translation.alembic_errors(parse_url(self.url)):
            return squash(self, start, end, message or f"squash {start} to {end}", sql)

    @on_engine_loop
    def graph(self, show_all: bool = False) -> RevisionGraph:
        """Draw the revision graph, with the database's current revision(s) marked "you are here".

        :param show_all: draw every revision; otherwise long linear runs collapse into one node.
        """
        from .._features.graph import revision_graph

        script = self.snapshot(light=True).light
        current, note = self._current_or_note()
        return revision_graph(script, current, show_all=show_all, note=note)

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
        :param action: current (drift report), plan, upgrade, downgrade, stamp or check.
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


def _checked_inputs(
    renames: Sequence[str | Rename], body: str | None, autogenerate: bool
) -> tuple[tuple[Rename, ...], Any]:
    """revision's arguments that can be refused before anything is read or written."""
    from .._authoring import handwritten

    renamed = parse_renames(renames)
    if body is not None and autogenerate:
        raise ConfigurationError("a revision body is written by hand: leave out --autogenerate")
    if renamed and not autogenerate:
        raise ConfigurationError("--rename rewrites autogenerated operations: add --autogenerate")
    return renamed, handwritten.check_body(body) if body is not None else None


def _schema_hooks(backend: str, renames: Sequence[str | TableRename], autogenerate: bool, hook: Any) -> Any:
    """The directives hook with ``--rename-table`` applied first (:mod:`.._schema.rename_ops`), and on
    PostgreSQL the enum types compared (:mod:`.._schema.enums`)."""
    from .._schema.enums import enum_hook, load_for
    from .._schema.rename_ops import renaming_hook
    from .._schema.renames import parse_table_renames

    if renames and not autogenerate:
        raise ConfigurationError("--rename-table rewrites autogenerated operations: add --autogenerate")
    if renames:
        hook = renaming_hook(parse_table_renames(renames), hook)
    return enum_hook(hook) if load_for(backend) else hook
