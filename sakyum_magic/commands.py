"""The core API: :class:`Migrator`, one method per Alembic command, returning data and printing nothing."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import runner
from .binding import as_target, mask_url, parse_url, resolve_metadata, table_count
from .database import connect, create_engine, current_heads, is_transactional_sqlite
from .errors import ConfigurationError, PendingChangesError, RevisionError
from .records import (
    Binding,
    CurrentResult,
    HistoryEntry,
    InitResult,
    MigrationResult,
    Operation,
    RevisionInfo,
    RevisionResult,
)
from .scripts import ScriptCache
from .template import ENV_PY, README, alembic_ini, script_mako

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Engine

PROGRESS_THRESHOLD = 10


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
        tables = table_count(self.target_metadatas()) if self.metadata is not None else None
        return Binding(
            url=mask_url(self.url),
            metadata=self.metadata_label or "(none)",
            tables=tables,
            directory=str(self.directory),
            initialized=(self.directory / "env.py").is_file(),
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

    def config(self, **buffers: Any) -> Config:
        """An Alembic Config for this binding (alembic.ini is read if present, never changed)."""
        return runner.build_config(self.ini, self.directory, parse_url(self.url), **buffers)

    def script_directory(self) -> ScriptDirectory:
        """The revision map, reloaded only when a file in the versions directories changed."""
        runner.require_initialized(self.directory)
        return self.scripts.load(self.config())

    # -- commands that write files --------------------------------------------------------

    def init(self, directory: str | Path | None = None) -> InitResult:
        """Create a migration directory and alembic.ini, like ``alembic init``."""
        target = Path(directory) if directory is not None else self.directory
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ConfigurationError(
                f"{target} already exists and is not empty: choose another directory "
                f"(%migrate init DIR) or use it as it is (%migrate config --dir {target})"
            )
        (target / "versions").mkdir(parents=True, exist_ok=True)
        files = {"env.py": ENV_PY, "script.py.mako": script_mako(), "README": README}
        for name, text in files.items():
            (target / name).write_text(text)
        ini_written = not self.ini.exists()
        if ini_written:
            self.ini.write_text(alembic_ini(self._ini_location(target), self._ini_url()))
        self.directory = target
        return InitResult(str(target), (*files, "versions/"), str(self.ini), ini_written)

    def _ini_location(self, target: Path) -> str:
        if target.is_absolute():
            return str(target)
        return str(Path(target).as_posix())

    def _ini_url(self) -> str:
        url = parse_url(self.url)
        return url._replace(password=None).render_as_string(hide_password=False)

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
    ) -> RevisionResult:
        """Create a revision file; with ``autogenerate``, fill it from the models' differences."""
        from alembic import command

        runner.require_initialized(self.directory)
        collected: dict[str, Any] = {}
        config = self.config()
        session = self._session(config, need_metadata=autogenerate, connect_db=autogenerate or sql)
        with session, runner.alembic_errors(parse_url(self.url)):
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
                process_revision_directives=_collector(collected, autogenerate),
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
        with runner.alembic_errors(parse_url(self.url)):
            made = command.merge(
                config,
                list(revisions) if not isinstance(revisions, str) else revisions,
                message=message,
                branch_label=branch_label,
                rev_id=rev_id,
            )
        return self._revision_result(made, {}, False)

    def _revision_result(self, made: Any, collected: dict[str, Any], autogenerate: bool) -> RevisionResult:
        scripts = [s for s in (made if isinstance(made, list) else [made]) if s is not None]
        directory = self.script_directory()
        infos = tuple(self.scripts.info(self.config(), directory.get_revision(s.revision)) for s in scripts)
        note = None
        if autogenerate and not infos:
            note = self._no_changes_note()
        return RevisionResult(infos, tuple(collected.get("operations", ())), autogenerate, note)

    def _no_changes_note(self) -> str:
        from sqlalchemy import inspect

        with connect(self.engine()) as connection:
            tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        note = "No changes detected: the database already matches the models, so no file was written."
        if tables and not current_heads(self.engine()):
            note += (
                " The database has tables but no revision: if they came from create_all(), "
                "run %migrate stamp head after your first revision to mark it up to date."
            )
        return note

    # -- commands that change the database ------------------------------------------------

    def upgrade(self, revision: str = "head", sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Upgrade the database to ``revision`` (head, heads, an id or prefix, +N, branch@head)."""
        from alembic import command

        return self._migrate(
            "upgrade", revision, sql, lambda c, s: command.upgrade(c, revision, sql=s, tag=tag)
        )

    def downgrade(self, revision: str, sql: bool = False, tag: str | None = None) -> MigrationResult:
        """Downgrade the database to ``revision`` (base, an id or prefix, -N)."""
        from alembic import command

        return self._migrate(
            "downgrade", revision, sql, lambda c, s: command.downgrade(c, revision, sql=s, tag=tag)
        )

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
        return self._migrate(
            "stamp",
            target,
            sql,
            lambda c, s: command.stamp(c, _revisions(revision), sql=s, tag=tag, purge=purge),
        )

    def _migrate(
        self, name: str, target: str, sql: bool, run: Callable[[Config, bool], Any]
    ) -> MigrationResult:
        script = self.script_directory()
        url = parse_url(self.url)
        if sql:
            return self._offline(name, target, run)
        before = current_heads(self.engine())
        if name == "upgrade" and target == "head" and len(heads := script.get_heads()) > 1:
            raise runner.multiple_heads(tuple(heads))
        result = MigrationResult(name, target, before, before)
        if name == "upgrade" and self._at(target, before, script):
            return result
        pending = self._pending(name, target, before, script)
        recorder = runner.StepRecorder(
            "stamp" if name == "stamp" else name,
            len(pending) or None,
            self.progress and len(pending) >= PROGRESS_THRESHOLD,
        )
        config = self.config()
        with recorder, self._session(config, on_version_apply=recorder) as _:
            try:
                with runner.alembic_errors(url):
                    run(config, False)
            except _db_errors() as exc:
                result.steps, result.after = recorder.steps, current_heads(self.engine())
                raise runner.failed_step(exc, result, pending, url) from exc
        result.steps, result.after = recorder.steps, current_heads(self.engine())
        return result

    def _at(self, target: str, before: tuple[str, ...], script: ScriptDirectory) -> bool:
        """Whether an upgrade to ``target`` has nothing to do (checked against the cached map)."""
        if not before:
            return False
        heads = tuple(sorted(script.get_heads()))
        if target in {"head", "heads"}:
            return before == heads
        return target in before

    def _pending(self, name: str, target: str, before: tuple[str, ...], script: ScriptDirectory) -> list[str]:
        """The revisions a run is expected to apply, in order (for the progress bar and errors)."""
        from alembic.script.revision import RevisionError as AlembicRevisionError
        from alembic.util import CommandError

        upper, lower = (target, before or "base") if name == "upgrade" else (before or "base", target)
        if name == "stamp":
            return []
        try:
            revisions = [s.revision for s in script.iterate_revisions(upper, lower)]
        except (AlembicRevisionError, CommandError):
            return []
        return revisions[::-1] if name == "upgrade" else revisions

    def _offline(self, name: str, target: str, run: Callable[[Config, bool], Any]) -> MigrationResult:
        buffer = io.StringIO()
        config = self.config(output_buffer=buffer, stdout=io.StringIO())
        config.attributes["sakyum_url"] = parse_url(self.url)
        config.attributes["target_metadata"] = None
        with runner.alembic_errors(parse_url(self.url)):
            run(config, True)
        return MigrationResult(name, target, (), (), sql=buffer.getvalue())

    # -- the shared session: one connection, models and hooks handed to env.py ------------

    def _session(
        self,
        config: Config,
        *,
        need_metadata: bool = False,
        connect_db: bool = True,
        **options: Any,
    ) -> _Session:
        target = as_target(self.target_metadatas()) if need_metadata else None
        return _Session(self, config, target, connect_db, options)

    # -- comparing the models with the database ------------------------------------------

    def diff(self) -> list[Operation]:
        """Compare the bound models with the live database and list the differences; write nothing."""
        from .diff import compare

        target = as_target(self.target_metadatas())
        with connect(self.engine()) as connection:
            return compare(connection, target)

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

    def current(self, verbose: bool = False) -> CurrentResult:
        """The revision(s) the database is at: one query, looked up in the cached revision map."""
        script = self.script_directory()
        heads = current_heads(self.engine())
        known = [self._info(script, rev) for rev in heads]
        return CurrentResult(
            mask_url(self.url),
            tuple(i for i in known if i is not None),
            tuple(rev for rev, i in zip(heads, known, strict=True) if i is None),
        )

    def history(
        self, rev_range: str | None = None, verbose: bool = False, indicate_current: bool = False
    ) -> list[HistoryEntry]:
        """Every revision, newest first; ``rev_range`` is ``[start]:[end]`` as in ``alembic history -r``."""
        script = self.script_directory()
        needs_db = indicate_current or "current" in (rev_range or "")
        current = current_heads(self.engine()) if needs_db else ()
        base, head = _split_range(rev_range, current)
        with runner.alembic_errors(parse_url(self.url)):
            walked = list(script.walk_revisions(base, head))
        config = self.config()
        mark = set(current)
        return [
            HistoryEntry(self.scripts.info(config, s), (s.revision in mark) if indicate_current else None)
            for s in walked
        ]

    def heads(self, verbose: bool = False, resolve_dependencies: bool = False) -> list[RevisionInfo]:
        """The head revisions."""
        script = self.script_directory()
        revisions = script.get_revisions("heads")
        return [self.scripts.info(self.config(), s) for s in revisions if s is not None]

    def branches(self, verbose: bool = False) -> list[RevisionInfo]:
        """The branch points: revisions with more than one child."""
        script = self.script_directory()
        config = self.config()
        return [self.scripts.info(config, s) for s in script.walk_revisions() if s.is_branch_point]

    def show(self, rev: str) -> list[RevisionInfo]:
        """The revision(s) named by ``rev`` (an id, prefix, head, heads, or current)."""
        script = self.script_directory()
        names: Any = current_heads(self.engine()) if rev == "current" else rev
        with runner.alembic_errors(parse_url(self.url)):
            found = script.get_revisions(names)
        config = self.config()
        return [self.scripts.info(config, s) for s in found if s is not None]

    def _info(self, script: ScriptDirectory, rev: str) -> RevisionInfo | None:
        from alembic.script.revision import RevisionError as AlembicRevisionError

        try:
            found = script.get_revision(rev)
        except AlembicRevisionError:
            return None
        return self.scripts.info(self.config(), found) if found is not None else None


class _Session:
    """Context manager handing a connection, the models and env.py hooks to ``Config.attributes``."""

    def __init__(
        self,
        migrator: Migrator,
        config: Config,
        target: Any,
        connect_db: bool,
        options: dict[str, Any],
    ) -> None:
        self.migrator, self.config, self.target = migrator, config, target
        self.connect_db, self.options = connect_db, options
        self._connection: Any = None

    def __enter__(self) -> _Session:
        attributes = self.config.attributes
        attributes["target_metadata"] = self.target
        attributes["sakyum_url"] = parse_url(self.migrator.url)
        engine = self.migrator.engine()
        options = dict(self.options)
        if is_transactional_sqlite(engine):
            options["transactional_ddl"] = True
        attributes["sakyum_options"] = options
        if self.connect_db:
            self._connection = connect(engine)
            attributes["connection"] = self._connection.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._connection is not None:
            self._connection.__exit__(*exc)


def _collector(collected: dict[str, Any], autogenerate: bool) -> Callable[..., None]:
    """A process_revision_directives hook: records the operations, and drops an empty autogenerate."""
    from .diff import operation_rows

    def collect(context: Any, revision: Any, directives: list[Any]) -> None:
        if not directives:
            return
        script = directives[0]
        collected["operations"] = operation_rows(script.upgrade_ops_list)
        if autogenerate and all(ops.is_empty() for ops in script.upgrade_ops_list):
            directives[:] = []

    return collect


def _split_range(rev_range: str | None, current: tuple[str, ...]) -> tuple[str, str]:
    if not rev_range:
        return "base", "heads"
    if ":" not in rev_range:
        raise ConfigurationError(f"history range {rev_range!r} needs a colon: use START:END, START: or :END")
    start, end = rev_range.split(":", 1)

    def resolve(value: str, default: str) -> str:
        if value == "current":
            return current[0] if current else "base"
        return value or default

    return resolve(start, "base"), resolve(end, "heads")


def _db_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)


def _revisions(revision: str | Sequence[str]) -> str | tuple[str, ...]:
    return revision if isinstance(revision, str) else tuple(revision)
