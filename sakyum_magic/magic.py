"""The ``%migrate`` line magic's home: the session's settings (traitlets) and the migrator that follows them.

Only this module is imported by ``%load_ext``; the work behind a line lives in
:mod:`sakyum_magic.handlers` and is imported on the first ``%migrate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, magics_class, no_var_expand
from traitlets import Bool, Dict, Float, Unicode, observe

if TYPE_CHECKING:
    from .commands import Migrator


@magics_class
class MigrateMagics(Magics):
    """Holds the session's binding (settable with ``%config MigrateMagics.url = ...``) and its migrator.

    The settings live here only: the migrator follows each change (see :mod:`sakyum_magic.session`).
    """

    url = Unicode(
        None,
        allow_none=True,
        help="Database URL; None means $DATABASE_URL, else sqlite:///default.db",
    ).tag(config=True)
    metadata = Unicode(
        None,
        allow_none=True,
        help="Python expression, evaluated once per command that needs it, giving the models' metadata",
    ).tag(config=True)
    directory = Unicode("alembic", help="The Alembic migration directory").tag(config=True)
    ini = Unicode(
        "alembic.ini", help="The alembic.ini (or pyproject.toml) read when present and written by init"
    ).tag(config=True)
    progress = Bool(True, help="Show a progress bar for runs over many revisions").tag(config=True)
    lock_timeout = Float(600.0, help="Seconds a migration waits for another one on the same database").tag(
        config=True
    )
    audit = Bool(True, help="Log each applied step in the database's sakyum_migration_log table").tag(
        config=True
    )
    # URLs given to `%migrate config --url` with a password: the `url` setting holds the masked form
    # (so `%config MigrateMagics` never shows the password), and this maps it back. Not configurable.
    secret_urls = Dict()

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # Taken literally: no $name or {expression} expansion in a %migrate line, so no code runs
        # from a message and a long line is not expanded in quadratic time.
        self.magics["line"]["migrate"] = no_var_expand(MigrateLine(self))
        self._migrator: Migrator | None = None
        self.evaluations: dict[str, Any] | None = None  # metadata values of the line being run

    @property
    def migrator(self) -> Migrator:
        """The session's Migrator, created on first use."""
        if self._migrator is None:
            from .session import new_migrator

            self._migrator = new_migrator(self)
        return self._migrator

    @observe("url", "secret_urls", "metadata", "directory", "ini", "progress", "audit", "lock_timeout")
    def _migrator_follows(self, change: Any) -> None:
        if self._migrator is not None:
            from .session import follow

            follow(self._migrator, self, change["name"])

    def close(self) -> None:
        """Release the database connections held by the session's migrator."""
        if self._migrator is not None:
            self._migrator.dispose()


class MigrateLine:
    """The callable behind ``%migrate``; its help (``%migrate?``) is the parser's, built when asked."""

    def __init__(self, magics: MigrateMagics) -> None:
        self.magics = magics

    def __call__(self, line: str) -> Any:
        from .handlers import run_line

        return run_line(self.magics, line)

    def getdoc(self) -> str:
        """IPython's ``%migrate?`` asks for this first."""
        from .handlers import parser

        return parser().format_help()

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return self.getdoc()
