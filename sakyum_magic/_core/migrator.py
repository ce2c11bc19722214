"""The core API: :class:`Migrator`, one method per Alembic command, returning data and printing nothing."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._authoring.newfiles import undo_new_files, writable
from .._authoring.template import refresh as refresh_directory
from .._authoring.template import write_directory
from .._features.diff import directives_hook
from .._features.reflection import reuse_in_autogenerate
from .._guards.safety import Rename, parse_renames
from .._run import execution
from .._run.aio import on_engine_loop
from .._run.database import current_heads
from . import translation
from .binding import mask_text
from .compat import quiet_alembic
from .configuration import check_path, require_initialized
from .errors import ConfigurationError, DatabaseError, MigrationError
from .exploring import ExploreCommands
from .records import (
    InitResult,
    MigrationResult,
    RevisionResult,
)

if TYPE_CHECKING:
    from alembic.script import Script

    from .._schema.renames import TableRename


REVISION_ARGUMENTS = (
    *("message", "autogenerate", "sql", "head", "splice"),
    *("branch_label", "version_path", "rev_id", "depends_on"),
)
"""``alembic.command.revision``'s keyword arguments, in order."""


class Migrator(ExploreCommands):
    """Alembic commands bound to one database URL, one set of models and one migration directory.

    One method per Alembic command, named and parametrised like ``alembic.command``'s, returning data
    and printing nothing. The binding's parameters are :class:`~sakyum_magic._core.bound.Bound`'s.
    """

    # -- commands that write files --------------------------------------------------------

    def init(self, directory: str | Path | None = None, refresh: bool = False) -> InitResult:
        """Create a migration directory and alembic.ini, like ``alembic init``.

        :param directory: the directory to create (default: the bound one).
        :param refresh: rewrite env.py and its support files of a directory init wrote before
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

        :param message: the revision's message.
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
        renamed, checked = _checked_inputs(renames, body, autogenerate)
        values = (message, autogenerate, sql, head, splice, branch_label, version_path, rev_id, depends_on)
        arguments = dict(zip(REVISION_ARGUMENTS, values, strict=True))
        return self._write_revision(arguments, allow_drop, renamed, checked, table_renames)

    def _write_revision(
        self,
        arguments: dict[str, Any],
        allow_drop: bool,
        renamed: tuple[Rename, ...],
        checked: Any,
        table_renames: Sequence[str | TableRename],
    ) -> RevisionResult:
        """``revision`` once its arguments are checked: the file written, with ``checked`` (a body
        given by hand) spliced in, and what autogenerate put into it."""
        from .._authoring import handwritten
        from .._authoring.revision import write_revision

        autogenerate, sql, message = arguments["autogenerate"], arguments["sql"], arguments["message"]
        # Masked in the file, its name and every table that shows it.
        arguments["message"] = mask_text(message) if message else message
        require_initialized(self.directory)
        if autogenerate and not sql and self.script_directory().get_heads():
            self._refuse_unversioned("autogenerate")
        self._check_new_id(arguments["rev_id"])
        collected: dict[str, Any] = {}
        hook = directives_hook(collected, autogenerate, allow_drop, renamed)
        if table_renames or autogenerate:
            hook = _schema_hooks(self.parsed_url().get_backend_name(), table_renames, autogenerate, hook)
        target, script = self.target(need_metadata=autogenerate), self.script_directory()
        undo = (self.no_new_database_on_error(), undo_new_files(self.directory, self.scripts.forget))
        with undo[0], undo[1], translation.alembic_errors(target.url), quiet_alembic():
            reuse = functools.partial(reuse_in_autogenerate, reflections=self.reflections)
            made = write_revision(target, script, self.config(), arguments, hook, autogenerate or sql, reuse)
            if checked is not None:
                _splice_bodies(made, checked)
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
        :param message: the merge revision's message.
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
        another migration (``Migrator.lock_timeout``, ``MigrateMagics.lock_timeout``).

        :param revision: the target revision (default head).
        :param sql: write the SQL instead of running it (offline mode, ``alembic upgrade --sql``).
        :param tag: an arbitrary tag handed to env.py (``context.get_tag_argument()``).
        :param lock_timeout: give up a revision whose lock waits longer (2s, 500ms), set in its transaction
            (SQLite: the busy timeout, also set before the run's first BEGIN).
        :param statement_timeout: give up a statement that runs longer (15min).
        :param retries: after a lock timeout, run the rolled-back revision again, up to N more times
            (MySQL/MariaDB: when its first statement timed out; after that it is partly applied).
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
        run = functools.partial(
            self._migrate, "upgrade", revision, on_lock=guard.lock_timed_out, sql=sql, tag=tag
        )
        return self._with_retries(run, settings, rewrite, retries, retry_delay, waits or 0)

    def _with_retries(
        self,
        run: Callable[..., MigrationResult],
        settings: tuple[str, ...],
        rewrite: Callable[[str], str] | None,
        retries: int,
        delay: float,
        waits: float,
    ) -> MigrationResult:
        """``run`` again after a lock timeout (its revision rolled back), up to ``retries`` more
        times; each attempt is noted on the result."""
        from .._lint import guard

        for flag, value in (("--retries", retries), ("--retry-delay", delay)):
            if value < 0:
                raise ConfigurationError(f"{flag} {value:g}: give a number, 0 or more")
        attempts: list[str] = []
        for attempt in range(retries + 1):
            try:
                result = run(settings=settings, rewrite=rewrite)
            except (MigrationError, DatabaseError) as exc:
                # SQLite's busy timeout ends in a DatabaseError: a lock timeout only when one was asked for.
                if not guard.lock_timed_out(exc) or (isinstance(exc, DatabaseError) and not waits):
                    raise
                failed = getattr(exc, "result", None)
                after = failed.after if failed is not None else current_heads(self.engine())
                partly = None if failed is None or failed.undone else failed
                message = guard.blocked("upgrade", exc, self.engine(), after, waits, partly, attempt)
                if attempt == retries or partly is not None:
                    raise MigrationError(message, failed) from exc
                attempts.append(f"attempt {attempt + 1}: {message.split(' and gave up')[0]}")
                time.sleep(delay)
                continue
            done = [f"attempt {attempt + 1}: applied"] if attempts else []
            return replace(result, notes=(*result.notes, *attempts, *done))
        raise AssertionError("unreachable")

    @on_engine_loop
    def downgrade(self, revision: str, sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Downgrade the database to ``revision`` (base, an id or prefix, -N).

        :param revision: the target revision: base, -1, an id or prefix.
        :param sql: write the SQL instead of running it (offline mode; needs FROM:TO).
        :param tag: an arbitrary tag handed to env.py (``context.get_tag_argument()``).
        """
        if sql and ":" not in revision:  # offline, the database is not read: where it is must be said
            raise ConfigurationError(
                f"downgrade --sql reads no database, so it needs where to start, FROM:{revision}: "
                f"run %migrate downgrade head:{revision} --sql (or from the revision the database is at)"
            )
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
        on_lock: Callable[[BaseException], bool] | None = None,
        **options: Any,
    ) -> MigrationResult:
        strategy = execution.Strategy(settings=settings, rewrite=rewrite, on_lock=on_lock)
        with self.one_config():
            script = self.script_directory()
            try:
                with self.no_new_database_on_error(), translation.alembic_errors(self.parsed_url()):
                    return execution.migrate(
                        self.target(), script, name, revision, strategy=strategy, **options
                    )
            finally:
                self.reflections.forget()  # its DDL, even a part of it, is read afresh by the next diff


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


def _splice_bodies(made: Sequence[Script], checked: Any) -> None:
    """Put the hand-written ``def upgrade():`` (and ``downgrade``) into each written revision file."""
    from .._authoring import handwritten

    for written in made:
        rendered = {name: getattr(written.module, name, None) for name in handwritten.IDENTIFIERS}
        handwritten.splice(Path(written.path), checked)
        handwritten.check_written(Path(written.path), rendered)


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
