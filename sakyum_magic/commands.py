"""The core API: :class:`Migrator`, one method per Alembic command, returning data and printing nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import execution, locking, runner
from .aio import on_engine_loop
from .binding import as_target, mask_url, parse_url, resolve_metadata, table_count
from .compat import quiet_alembic
from .database import (
    VERSION_TABLE,
    connect,
    create_engine,
    current_heads,
    new_sqlite_file,
)
from .errors import ConfigurationError, PendingChangesError, RevisionError, SakyumError
from .records import (
    Binding,
    CurrentResult,
    HistoryEntry,
    InitResult,
    MigrationResult,
    Operation,
    Plan,
    RevisionInfo,
    RevisionResult,
)
from .safety import Rename, directives_hook, parse_renames
from .scripts import ScriptCache, Snapshot, history_range
from .template import write_directory

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Engine


class Migrator:
    """Alembic commands bound to one database URL, one set of models and one migration directory.

    :param url: database URL; default ``$DATABASE_URL``, else ``sqlite:///default.db``.
    :param metadata: a MetaData, declarative base, Flask-SQLAlchemy ``db``, a list of those, or a
        callable returning one (called at every command, so changed models are picked up).
    :param directory: the Alembic script directory, as in ``alembic init DIRECTORY``.
    :param ini: alembic.ini, read when present and written by :meth:`init`.
    :param progress: show a progress bar when a run has many revisions.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        metadata: object = None,
        directory: str | Path = "alembic",
        ini: str | Path = "alembic.ini",
        *,
        metadata_label: str | None = None,
        progress: bool = True,
    ) -> None:
        self.url = url
        self.metadata = metadata
        self.metadata_label = metadata_label or ("metadata" if metadata is not None else "")
        self.directory = Path(directory)
        self.ini = Path(ini)
        self.progress = progress
        self.scripts = ScriptCache()
        self._engine: tuple[str, Engine] | None = None

    # -- binding --------------------------------------------------------------------------

    def binding(self) -> Binding:
        """The URL (password masked), metadata, table count, directory, and whether it is initialized."""
        label, tables = self.metadata_label or "(none)", None
        if self.metadata is not None:
            try:
                tables = table_count(self.target_metadatas())
            except ConfigurationError:  # shown, not raised: `config` is how a broken binding is fixed
                label += " (fails to evaluate)"
        return Binding(
            url=mask_url(self.url),
            metadata=label,
            tables=tables,
            directory=str(self.directory),
            initialized=_initialized(self.directory),
        )

    def target_metadatas(self) -> list[MetaData]:
        """The bound metadata as a list; ConfigurationError when none is bound or it is not metadata."""
        if self.metadata is None:
            raise ConfigurationError(
                "no models are bound: pass metadata= (or %migrate config --metadata Base)"
            )
        return resolve_metadata(self.metadata, self.metadata_label or "metadata")

    def engine(self) -> Engine:
        """The engine for the bound URL, created once per URL."""
        url = parse_url(self.url)
        key = url.render_as_string(hide_password=False)
        if self._engine is None or self._engine[0] != key:
            self.dispose()
            self._engine = (key, create_engine(url))
        return self._engine[1]

    def dispose(self) -> None:
        """Close the pooled connections of the engine in use."""
        if self._engine is not None:
            self._engine[1].dispose()
            self._engine = None

    @contextmanager
    def no_new_database_on_error(self) -> Iterator[None]:
        """Remove the empty SQLite file that a failing command created just by connecting."""
        path = new_sqlite_file(self.url)
        try:
            yield
        except SakyumError:
            if path is not None and path.is_file() and path.stat().st_size == 0:
                self.dispose()
                path.unlink()
            raise

    def config(self, **buffers: Any) -> Config:
        """An Alembic Config for this binding (alembic.ini is read if present, never changed)."""
        return runner.build_config(self.ini, self.directory, parse_url(self.url), **buffers)

    def script_directory(self) -> ScriptDirectory:
        """The revision map, reloaded only when a file in the versions directories changed."""
        return self.snapshot().script

    def snapshot(self) -> Snapshot:
        """The cached revision map with its derived data (see :mod:`sakyum_magic.scripts`)."""
        runner.require_initialized(self.directory)
        return self.scripts.snapshot(self.config())

    # -- commands that write files --------------------------------------------------------

    def init(self, directory: str | Path | None = None) -> InitResult:
        """Create a migration directory and alembic.ini, like ``alembic init``."""
        target = Path(directory) if directory is not None else self.directory
        runner.check_path(target)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigurationError(
                f"{target} already exists and is not empty: choose another directory "
                f"(%migrate init DIR) or use it as it is (%migrate config --dir {target})"
            )
        url = parse_url(self.url)
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
    ) -> RevisionResult:
        """Create a revision file; with ``autogenerate``, fill it from the models' differences.

        An autogenerate that would drop tables or columns is refused (DropRefusedError) unless
        ``allow_drop``; each of ``renames`` (``TABLE.OLD:NEW``) turns a drop + add into a rename.
        """
        from alembic import command

        renamed = parse_renames(renames)
        if renamed and not autogenerate:
            raise ConfigurationError("--rename rewrites autogenerated operations: add --autogenerate")
        runner.require_initialized(self.directory)
        self._check_new_id(rev_id)
        collected: dict[str, Any] = {}
        config = self.config()
        session = execution.open_session(
            self, config, need_metadata=autogenerate, connect_db=autogenerate or sql
        )
        with (
            session,
            runner.undo_new_files(self.directory),
            runner.alembic_errors(parse_url(self.url)),
            quiet_alembic(),
        ):
            made = command.revision(
                config,
                message=message,
                autogenerate=autogenerate,
                sql=sql,
                head=head,
                splice=splice,
                branch_label=branch_label,
                version_path=version_path,
                rev_id=rev_id,
                depends_on=depends_on,
                process_revision_directives=directives_hook(collected, autogenerate, allow_drop, renamed),
            )
        return self._revision_result(made, collected, autogenerate)

    def merge(
        self,
        revisions: str | Sequence[str] = "heads",
        message: str | None = None,
        branch_label: str | None = None,
        rev_id: str | None = None,
    ) -> RevisionResult:
        """Write a revision that joins two or more heads into one."""
        from alembic import command

        config = self.config()
        runner.require_initialized(self.directory)
        self._check_new_id(rev_id)
        url = parse_url(self.url)
        with runner.undo_new_files(self.directory), runner.alembic_errors(url), quiet_alembic():
            made = command.merge(
                config,
                list(revisions) if not isinstance(revisions, str) else revisions,
                message=message,
                branch_label=branch_label,
                rev_id=rev_id,
            )
        return self._revision_result(made, {}, False)

    def _check_new_id(self, rev_id: str | None) -> None:
        """A --rev-id must make a usable file name and must not be taken (Alembic would write it)."""
        runner.check_rev_id(rev_id)
        if rev_id is None:
            return
        with runner.alembic_errors(parse_url(self.url)):
            taken = any(s.revision == rev_id for s in self.script_directory().walk_revisions())
        if taken:
            raise RevisionError(f"--rev-id {rev_id!r} is already the id of a revision: choose another id")

    def _revision_result(self, made: Any, collected: dict[str, Any], autogenerate: bool) -> RevisionResult:
        scripts = [s for s in (made if isinstance(made, list) else [made]) if s is not None]
        snapshot = self.snapshot()
        infos = tuple(snapshot.info(snapshot.script.get_revision(s.revision)) for s in scripts)
        note = None
        if autogenerate and not infos:
            note = self._no_changes_note()
        return RevisionResult(infos, tuple(collected.get("operations", ())), autogenerate, note)

    def _no_changes_note(self) -> str:
        from sqlalchemy import inspect

        note = "No changes detected: the database already matches the models, so no file was written."
        if current_heads(self.engine()):
            return note
        with connect(self.engine()) as connection:
            tables = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
        if tables:
            note += (
                " The database has tables but no revision: if they came from create_all(), "
                "run %migrate stamp head after your first revision to mark it up to date."
            )
        return note

    # -- commands that change the database ------------------------------------------------

    def upgrade(self, revision: str = "head", sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Upgrade the database to ``revision`` (head, heads, an id or prefix, +N, branch@head)."""
        return self._migrate("upgrade", revision, sql, execution.migration("upgrade", revision, tag))

    def downgrade(self, revision: str, sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Downgrade the database to ``revision`` (base, an id or prefix, -N)."""
        return self._migrate("downgrade", revision, sql, execution.migration("downgrade", revision, tag))

    def stamp(
        self,
        revision: str | Sequence[str],
        sql: bool = False,
        tag: str | None = None,
        purge: bool = False,
    ) -> MigrationResult:
        """Set the database's revision to ``revision`` without running any migration."""
        from alembic import command

        target = revision if isinstance(revision, str) else " ".join(revision)
        if any(r.count(":") > 1 for r in ([revision] if isinstance(revision, str) else revision)):
            raise RevisionError(f"stamp {target[:80]!r}: a range takes one colon, FROM:TO (with --sql)")
        return self._migrate(
            "stamp",
            target,
            sql,
            lambda _script, c, s: command.stamp(c, _revisions(revision), sql=s, tag=tag, purge=purge),
        )

    @on_engine_loop
    def _migrate(self, name: str, target: str, sql: bool, run: execution.Run, **dry: Any) -> MigrationResult:
        script = self.script_directory()
        if sql:
            return execution.offline(self, name, target, run, script)
        # The revision is read only under the lock: a run that waited then finds nothing left to do.
        with locking.migration_lock(self.engine()):
            return execution.apply(self, name, target, run, script, **dry)

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
        from .diff import compare_database

        target = as_target(self.target_metadatas())
        return compare_database(self.engine(), target, schema, include_schemas, tables)

    @on_engine_loop
    def plan(self, revision: str = "head") -> Plan:
        """Dry run: the steps and SQL an upgrade (or downgrade) to ``revision`` would run; nothing changes."""
        from .plan import plan

        return plan(self, revision)

    @on_engine_loop
    def check(self) -> list[Operation]:
        """Fail if the models have changes that no revision covers yet, like ``alembic check``."""
        script = self.script_directory()
        heads = tuple(sorted(script.get_heads()))
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

    # -- commands that read ---------------------------------------------------------------

    @on_engine_loop
    def current(self, verbose: bool = False) -> CurrentResult:
        """Show the revision(s) the database is at (read with one query, looked up in the cached map)."""
        snapshot = self.snapshot()
        heads = current_heads(self.engine())
        known = [self._info(snapshot, rev) for rev in heads]
        return CurrentResult(
            mask_url(self.url),
            tuple(i for i in known if i is not None),
            tuple(rev for rev, i in zip(heads, known, strict=True) if i is None),
        )

    @on_engine_loop
    def history(
        self, rev_range: str | None = None, verbose: bool = False, indicate_current: bool = False
    ) -> list[HistoryEntry]:
        """List the revisions, newest first; ``rev_range`` is START:END as in ``alembic history -r``."""
        snapshot = self.snapshot()
        needs_db = indicate_current or "current" in (rev_range or "")
        current = current_heads(self.engine()) if needs_db else ()
        base, head = history_range(rev_range, current)
        with runner.alembic_errors(parse_url(self.url)):
            walked = snapshot.memo(
                ("history", base, head),
                lambda: tuple(snapshot.infos(snapshot.script.walk_revisions(base, head))),
            )
        mark = set(current)
        return [HistoryEntry(i, (i.revision in mark) if indicate_current else None) for i in walked]

    def heads(self, verbose: bool = False, resolve_dependencies: bool = False) -> list[RevisionInfo]:
        """List the head revisions (with ``resolve_dependencies``, dependencies count as down revisions)."""
        snapshot = self.snapshot()
        script = snapshot.script
        names: Any = "heads" if resolve_dependencies else tuple(script.get_heads())
        return snapshot.infos(script.get_revisions(names))

    def branches(self, verbose: bool = False) -> list[RevisionInfo]:
        """List the branch points: revisions with more than one child."""
        snapshot = self.snapshot()
        return [snapshot.info(s) for s in snapshot.script.walk_revisions() if s.is_branch_point]

    @on_engine_loop
    def show(self, rev: str) -> list[RevisionInfo]:
        """Show the revision(s) named by ``rev`` (an id, prefix, head, heads, or current)."""
        snapshot = self.snapshot()
        names: Any = current_heads(self.engine()) if rev == "current" else rev
        with runner.alembic_errors(parse_url(self.url)):
            found = snapshot.script.get_revisions(names)
        return snapshot.infos(found)

    def _info(self, snapshot: Snapshot, rev: str) -> RevisionInfo | None:
        from alembic.script.revision import RevisionError as AlembicRevisionError
        from alembic.util import CommandError

        try:
            found = snapshot.script.get_revision(rev)
        except (AlembicRevisionError, CommandError):  # ScriptDirectory wraps lookups in CommandError
            return None
        return snapshot.info(found) if found is not None else None


def _initialized(directory: Path) -> bool:
    runner.check_path(directory)
    return (directory / "env.py").is_file()


def _revisions(revision: str | Sequence[str]) -> str | tuple[str, ...]:
    return revision if isinstance(revision, str) else tuple(revision)
