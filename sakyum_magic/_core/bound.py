"""What a :class:`~sakyum_magic._core.migrator.Migrator` is bound to: URL, models, directory, and the
resources
derived from them (the engine, the Alembic Config, the cached revision map)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from .._authoring.newfiles import check_rev_id
from .._authoring.scripts import ScriptCache, Snapshot
from .._features.reflection import ReflectionCache
from .._lint.kept import LintCache
from .._run import envrun, tenants
from .._run.database import (
    connect,
    create_engine,
    current_heads,
    file_identity,
    is_empty_sqlite_file,
    new_sqlite_file,
    require_sqlite_database,
    sqlite_file,
)
from . import translation
from .binding import as_target, mask_url, parse_url, resolve_metadata, table_count
from .configuration import build_config, check_path, require_initialized
from .errors import ConfigurationError, DatabaseError, RevisionError, SakyumError
from .records import Binding, RevisionInfo, RevisionResult
from .settings import LOCK_TIMEOUT

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL, Engine


@dataclass(frozen=True)
class BoundUrl:
    """The bound URL, parsed once per value it takes: what the engine, the Config and every run use
    (``parsed``), and how it is shown (``masked``: password and query-string secrets as ``***``)."""

    setting: str | URL | None
    """The URL as it was set (None: ``$DATABASE_URL``, else the SQLite default)."""
    parsed: URL
    masked: str

    @classmethod
    def of(cls, setting: str | URL | None) -> BoundUrl:
        """``setting`` parsed and masked; ConfigurationError (every secret masked) when it does not parse."""
        from sqlalchemy.engine import URL

        parsed = parse_url(setting)
        # Text is shown as it parses; a URL object as it was given (its ?password= stays in the query).
        return cls(setting, parsed, mask_url(setting if isinstance(setting, URL) else parsed))


class Bound:
    """Alembic commands bound to one database URL, one set of models and one migration directory.

    :param url: database URL; default ``$DATABASE_URL``, else ``sqlite:///default.db``.
    :param metadata: a MetaData, declarative base, Flask-SQLAlchemy ``db``, a list of those, or a
        callable returning one (called at every command, so changed models are picked up).
    :param directory: the Alembic script directory, as in ``alembic init DIRECTORY``.
    :param ini: alembic.ini, read when present and written by :meth:`init`.
    :param progress: show a progress bar when a run has many revisions.
    :param x_arguments: ``KEY=VALUE`` strings for env.py's ``context.get_x_argument()`` (``alembic -x``).
    :param audit: log each applied step in the database's ``sakyum_migration_log`` table; None (the
        default): only in a database whose directory ``%migrate init`` wrote, never in another tool's.
    :param lock_timeout: seconds a run waits for another one on the same database before giving up.
    :param upgrade_lock_timeout: the database's lock timeout for each revision ``upgrade`` runs (2s);
        its ``lock_timeout`` argument overrides it.
    :param upgrade_statement_timeout: the same for the statement timeout (15min).
    :param schema: a PostgreSQL tenant schema: every connection's search_path, so the version table
        and the revisions' tables are that schema's, and the migration lock is the schema's own.
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
        x_arguments: Sequence[str] = (),
        audit: bool | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        schema: str | None = None,
        upgrade_lock_timeout: str | None = None,
        upgrade_statement_timeout: str | None = None,
    ) -> None:
        self.url = url
        self.metadata = metadata
        self.metadata_label = metadata_label or ("metadata" if metadata is not None else "")
        self.directory = Path(directory)
        self.ini = Path(ini)
        self.progress = progress
        self.x_arguments = tuple(x_arguments)
        self.audit = audit
        self.lock_timeout = lock_timeout
        self.schema = schema
        self.upgrade_lock_timeout = upgrade_lock_timeout
        self.upgrade_statement_timeout = upgrade_statement_timeout
        self.on_wait: Callable[[str], None] | None = None
        """Called with a line while a run waits for another one's lock (default: a logged warning)."""
        self.private = False
        """Bound to a database made for it alone (``bound_elsewhere``): no migration lock is taken."""
        self.fence: Callable[..., dict[str, Any]] | None = None
        """What keeps a scratch run on its scratch database (see :mod:`sakyum_magic.fence`)."""
        self.scripts = ScriptCache()
        self.reflections = ReflectionCache()
        """What ``diff``, ``check`` and ``revision --autogenerate`` read from the database, kept while
        its schema is unchanged."""
        self.lints = LintCache()
        """Each revision's offline SQL and squawk findings, as ``lint`` and ``upgrade`` found them."""
        self.shared_engine = False
        """A schema's engine is a view of this process's one engine for the URL (a fleet worker's, see
        :mod:`sakyum_magic._run.tenants`): :meth:`release` keeps its pool for the next tenant."""
        self._engine: tuple[str, Engine] | None = None
        self._engine_shared = False
        self._parsed: tuple[tuple[object, str | None], BoundUrl] | None = None
        self._shared_config: Config | None = None

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
            url=self.masked_url(),
            metadata=label,
            tables=tables,
            directory=str(self.directory),
            initialized=_initialized(self.directory),
        )

    def _bound_url(self) -> BoundUrl:
        """The bound URL parsed and masked, once per value it takes (when it is None: once per value
        of ``$DATABASE_URL``)."""
        key = (self.url, os.environ.get("DATABASE_URL") if self.url is None else None)
        if self._parsed is None or self._parsed[0] != key:
            self._parsed = (key, BoundUrl.of(self.url))
        return self._parsed[1]

    def parsed_url(self) -> URL:
        """The bound URL parsed (see :meth:`_bound_url`): the engine, the Config and every run read it."""
        return self._bound_url().parsed

    def masked_url(self) -> str:
        """The bound URL as it is shown, secrets masked; also when it does not parse."""
        try:
            return self._bound_url().masked
        except ConfigurationError:
            return mask_url(self.url)

    def _url_or_text(self) -> URL | str | None:
        """The parsed URL, or the setting as it is when it does not parse (for what reports that)."""
        try:
            return self.parsed_url()
        except ConfigurationError:
            return self.url

    def target_metadatas(self) -> list[MetaData]:
        """The bound metadata as a list; ConfigurationError when none is bound or it is not metadata."""
        if self.metadata is None:
            raise ConfigurationError(
                "no models are bound: pass metadata= (or %migrate config --metadata Base)"
            )
        return resolve_metadata(self.metadata, self.metadata_label or "metadata")

    def engine(self) -> Engine:
        """The engine for the bound URL, created once per URL (no pool for a SQLite file, so a file
        deleted or replaced between commands is opened afresh)."""
        url = self.parsed_url()
        require_sqlite_database(url)
        shared = self.shared_engine and self.schema is not None and tenants.shares_engine(url)
        key = url.render_as_string(hide_password=False) + f" {self.schema} {shared}"
        if self._engine is None or self._engine[0] != key:
            self.dispose()
            made = tenants.tenant_engine(url, self.schema) if shared and self.schema else None
            self._engine, self._engine_shared = (key, made or create_engine(url, self.schema)), shared
        return self._engine[1]

    def target(self, need_metadata: bool = False) -> envrun.Target:
        """What a run needs from this binding (see :mod:`sakyum_magic._run.execution`)."""
        invited = envrun.own_env(self.directory)
        return envrun.Target(
            engine=self.engine(),
            url=self.parsed_url(),
            config=self.config,
            directory=self.directory,
            progress=self.progress,
            metadata=self._metadata_for_env() if need_metadata else None,
            # The package's own tables go only where invited: a directory init wrote, or the log on.
            audit=invited if self.audit is None else self.audit,
            own_tables=invited or self.audit is True,
            lock_timeout=self.lock_timeout,
            on_wait=self.on_wait,
            private=self.private,
            fence=self.fence,
        )

    def _metadata_for_env(self) -> MetaData | list[MetaData] | None:
        """The models handed to env.py: required by the env.py ``init`` writes; any other env.py may
        take its own (``target_metadata`` set in env.py, Flask-Migrate's from the app)."""
        if self.metadata is None and not envrun.own_env(self.directory):
            return None
        return as_target(self.target_metadatas())

    def dispose(self) -> None:
        """Close the pooled connections of the engine in use (of a shared one too: every view's), and
        forget what was reflected."""
        self.reflections.forget()
        if self._engine is not None:
            self._engine[1].dispose()
            self._engine = None

    def release(self) -> None:
        """Let go of the engine in use: a shared one keeps its pooled connections, others are closed."""
        if self._engine_shared:
            self._engine = None
        self.dispose()

    @contextmanager
    def no_new_database_on_error(self) -> Iterator[None]:
        """Remove the empty SQLite file that a failing command created just by connecting."""
        path = new_sqlite_file(self._url_or_text())
        try:
            yield
        except SakyumError:
            if path is not None and is_empty_sqlite_file(path):
                self.dispose()
                path.unlink()
            raise

    @contextmanager
    def one_config(self) -> Iterator[None]:
        """Within it, :meth:`config` without buffers is one Config: one command reads alembic.ini and
        builds its Config once, for the revision map and the run alike."""
        self._shared_config = self.config()
        try:
            yield
        finally:
            self._shared_config = None

    def config(self, **buffers: Any) -> Config:
        """An Alembic Config for this binding (alembic.ini is read if present, never changed)."""
        if not buffers and self._shared_config is not None:
            return self._shared_config
        return build_config(self.ini, self.directory, self.parsed_url(), self.x_arguments, **buffers)

    def script_directory(self) -> ScriptDirectory:
        """The revision map, reloaded only when a file in the versions directories changed."""
        return self.snapshot().script

    def bound_elsewhere(self, url: URL) -> Self:
        """The same binding on another database made for it alone (``%migrate test``'s scratch
        ones), sharing the loaded revision map: a scratch database keeps no applied-at log (it is
        dropped after) and needs no migration lock (no other process knows of it)."""
        made = type(self)(
            url,
            self.metadata,
            self.directory,
            self.ini,
            metadata_label=self.metadata_label,
            progress=self.progress,
            x_arguments=self.x_arguments,
            audit=False,
        )
        made.scripts, made.private = self.scripts, True
        return made

    def snapshot(self, light: bool = False) -> Snapshot:
        """The cached revision map with its derived data (see :mod:`sakyum_magic._authoring.scripts`); with
        ``light``, for a command that only reads the map (its ``light`` directory: no file executed)."""
        require_initialized(self.directory)
        with translation.alembic_errors(self.parsed_url()):
            snapshot = self.scripts.snapshot(self.config())
            # The files are read on first use: their errors belong here.
            snapshot.light if light else snapshot.script  # noqa: B018
            return snapshot

    def _current_if_any(self) -> tuple[str, ...]:
        """The bound database's revisions; none when its SQLite file does not exist (nothing created)."""
        return () if self._missing_file() else current_heads(self.engine())

    def _missing_file(self) -> bool:
        path = sqlite_file(self._url_or_text())
        return path is not None and file_identity(path) is None

    def _info(self, snapshot: Snapshot, rev: str) -> RevisionInfo | None:
        from alembic.script.revision import RevisionError as AlembicRevisionError
        from alembic.util import CommandError

        try:
            found = snapshot.light.get_revision(rev)
        except (AlembicRevisionError, CommandError):  # ScriptDirectory wraps lookups in CommandError
            return None
        return snapshot.info(found) if found is not None else None

    def _applied_at(self) -> dict[str, str]:
        from .._guards import audit

        if self._missing_file():
            return {}
        with connect(self.engine()) as connection:
            return audit.applied_at(connection)

    def _current_or_note(self) -> tuple[tuple[str, ...], str]:
        """The database's revisions, or () and why there is no mark (a missing file is not created)."""
        if self._missing_file():
            return (), f"{self.masked_url()} does not exist yet, so no revision is applied"
        try:
            current = current_heads(self.engine())
        except (DatabaseError, ConfigurationError) as exc:
            return (), f'no "you are here": {exc}'
        return current, "" if current else "you are here: base (no revision applied)"

    def _check_new_id(self, rev_id: str | None) -> None:
        """A --rev-id must make a usable file name and must not be taken (Alembic would write it)."""
        check_rev_id(rev_id)
        if rev_id is None:
            return
        with translation.alembic_errors(self.parsed_url()):
            taken = any(s.revision == rev_id for s in self.script_directory().walk_revisions())
        if taken:
            raise RevisionError(f"--rev-id {rev_id!r} is already the id of a revision: choose another id")

    def _revision_result(self, made: Any, collected: dict[str, Any], autogenerate: bool) -> RevisionResult:
        scripts = [s for s in (made if isinstance(made, list) else [made]) if s is not None]
        snapshot = self.snapshot()
        infos = tuple(snapshot.info(snapshot.script.get_revision(s.revision)) for s in scripts)
        note = None
        if autogenerate and not infos:
            from .._authoring.revision import no_changes_note

            note = no_changes_note(self.engine())
        return RevisionResult(infos, tuple(collected.get("operations", ())), autogenerate, note)


def _initialized(directory: Path) -> bool:
    check_path(directory)
    return (directory / "env.py").is_file()
