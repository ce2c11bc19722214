"""The ``%migrate`` line magic's home: the session's settings (traitlets) and the migrator that follows them.

Only this module is imported by ``%load_ext``; the work behind a line lives in
:mod:`sakyum_magic._frontend.handlers` and is imported on the first ``%migrate``. The ``%%migrate`` cell magic
and the re-running of model cells (two IPython events, which look at a cell only when it has a
``class`` statement) live in :mod:`sakyum_magic._frontend.cells`, imported when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, magics_class, no_var_expand
from traitlets import Bool, Dict, Float, TraitType, Unicode, observe, validate

from .._core.settings import FOLLOWED, SETTINGS, Setting

if TYPE_CHECKING:
    from .._core.migrator import Migrator


_TRAITS: dict[type, type[TraitType[Any, Any]]] = {str: Unicode, bool: Bool, float: Float}


def _trait(setting: Setting) -> Any:
    """The traitlet of a declared setting, settable with ``%config``."""
    trait = _TRAITS[setting.kind](setting.default, allow_none=setting.optional, help=setting.help)
    return trait.tag(config=True)


@magics_class
class MigrateMagics(Magics):
    """Holds the session's binding (settable with ``%config MigrateMagics.url = ...``) and its migrator.

    The settings live here only: the migrator follows each change (see :mod:`sakyum_magic._frontend.session`).
    """

    if TYPE_CHECKING:  # for type checkers only: the traitlets below, as their values read
        url: str | None
        metadata: str | None
        directory: str
        ini: str
        progress: bool
        lock_timeout: float
        audit: bool
        show_cli: bool
        tracebacks: bool
        rerun_models: bool

    # One traitlet per declared setting (sakyum_magic._core.settings): %config MigrateMagics.NAME.
    for _setting in SETTINGS:
        locals()[_setting.name] = _trait(_setting)
    del _setting
    # URLs given to `%migrate config --url` with a password: the `url` setting holds the masked form
    # (so `%config MigrateMagics` never shows the password), and this maps it back. Not configurable.
    secret_urls = Dict()

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # Taken literally: no $name or {expression} expansion in a %migrate line, so no code runs
        # from a message and a long line is not expanded in quadratic time.
        self.magics["line"]["migrate"] = no_var_expand(MigrateLine(self))
        self.magics["cell"]["migrate"] = no_var_expand(MigrateCell(self))
        self._migrator: Migrator | None = None
        self.evaluations: dict[str, Any] | None = None  # metadata values of the line being run
        self.model_cells: Any = None  # the models.ModelCells of this session, made on first use
        self.cell_runs: list[Any] = []  # one entry per cell running (nested runs included)
        self.cell_id: str | None = None  # the notebook's id of the cell running, when it sends one
        self.completion_names: Any = None  # completion_index.BackgroundValue, made on the first Tab
        self.lines_run = 0  # %migrate lines and cells run so far
        self.checked_directories: set[str] = set()  # directories whose env.py's release was checked
        if shell is not None:
            for event, callback in self._cell_events():
                shell.events.register(event, callback)

    @property
    def migrator(self) -> Migrator:
        """The session's Migrator, created on first use."""
        if self._migrator is None:
            from .session import new_migrator

            self._migrator = new_migrator(self)
        return self._migrator

    @validate("url")
    def _url_masked(self, proposal: Any) -> str | None:
        # However the URL is set (%config, a config file, %migrate config), the setting shows it masked.
        from .session import masked_url_setting

        return masked_url_setting(self, proposal["value"])

    @observe(*FOLLOWED, "secret_urls")
    def _migrator_follows(self, change: Any) -> None:
        if self._migrator is not None:
            from .session import follow

            follow(self._migrator, self, change["name"])

    def close(self) -> None:
        """Release the database connections held by the session's migrator; stop watching cells."""
        if self._migrator is not None:
            self._migrator.dispose()
        if self.completion_names is not None:
            self.completion_names.close()
        if self.shell is not None:
            for event, callback in self._cell_events():
                if callback in self.shell.events.callbacks[event]:
                    self.shell.events.unregister(event, callback)
            self.shell.magics_manager.magics["cell"].pop("migrate", None)

    def _cell_events(self) -> list[tuple[str, Any]]:
        return [("pre_run_cell", self._before_cell), ("post_run_cell", self._after_cell)]

    def _before_cell(self, info: Any) -> None:
        # A cell run from inside another (the body of %%migrate models) is left to the outer one.
        nested = bool(self.cell_runs)
        if not nested:
            self.cell_id = getattr(info, "cell_id", None)
        self.cell_runs.append(None)  # first: _after_cell pops one entry per cell, whatever happens
        if self.rerun_models and not nested and "class" in (info.raw_cell or ""):
            from .cells import before_cell

            self.cell_runs[-1] = before_cell(self, info.raw_cell)

    def _after_cell(self, result: Any) -> None:
        if not self.cell_runs:  # the cell that loaded the extension
            return
        looked_at = self.cell_runs.pop()
        if looked_at is not None:
            from .cells import after_cell

            after_cell(self, looked_at, result)


class MigrateCell:
    """The callable behind ``%%migrate``: a hand-written revision or a models cell."""

    def __init__(self, magics: MigrateMagics) -> None:
        self.magics = magics

    def __call__(self, line: str, cell: str) -> Any:
        from .cells import run_cell

        try:
            return run_cell(self.magics, line, cell)
        finally:
            self.magics.lines_run += 1  # files may have changed: completion reads them again

    def getdoc(self) -> str:
        """IPython's ``%%migrate?`` asks for this first."""
        from .cells import USAGE

        return USAGE

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return self.getdoc()


class MigrateLine:
    """The callable behind ``%migrate``; its help (``%migrate?``) is the parser's, built when asked."""

    def __init__(self, magics: MigrateMagics) -> None:
        self.magics = magics

    def __call__(self, line: str) -> Any:
        from .handlers import run_line

        try:
            return run_line(self.magics, line)
        finally:
            self.magics.lines_run += 1  # files may have changed: completion reads them again

    def getdoc(self) -> str:
        """IPython's ``%migrate?`` asks for this first."""
        from .handlers import parser

        return parser().format_help()

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return self.getdoc()


class MigrateCompleter:
    """IPython's matcher (API v2) for ``%migrate`` lines: subcommands, options, revisions, paths.

    Every completion in the session passes through here, so a line without ``%migrate`` is turned
    away at once; :mod:`sakyum_magic._frontend.completion` (and the command table) is imported on first use.
    """

    matcher_api_version = 2
    matcher_identifier = "sakyum_magic.migrate"

    def __init__(self, magics: MigrateMagics) -> None:
        self.magics = magics
        # IPython reads __qualname__ even when matcher_identifier is there (getattr's default).
        self.__qualname__ = self.matcher_identifier

    def __call__(self, context: Any) -> dict[str, Any]:
        before_cursor: str = context.text_until_cursor
        if "%migrate" not in before_cursor:
            return {"completions": [], "suppress": False}
        from .completion import matcher_result

        return matcher_result(self.magics, before_cursor, getattr(context, "limit", None))
