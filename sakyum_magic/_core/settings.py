"""The session's settings, declared once: name, type, default and help.

Everything else derives from :data:`SETTINGS`: the magic's traitlets (``%config MigrateMagics.NAME``,
see :mod:`sakyum_magic._frontend.magic`), the list of settings the session's
:class:`~sakyum_magic.Migrator` follows and how it takes each one (:mod:`sakyum_magic._frontend.session`),
and the defaults of the Migrator's keyword arguments of the same names. Adding a setting is one
entry here (plus the Migrator's keyword, for a setting the core uses: ``follows``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_TIMEOUT = 600.0
"""Seconds a migration waits for another one on the same database (the ``lock_timeout`` default)."""


@dataclass(frozen=True)
class Setting:
    """One setting. ``kind`` is ``str``, ``bool`` or ``float``; ``optional`` allows None.
    ``follows``: the Migrator has a field of the same name that follows it, set through ``convert``."""

    name: str
    kind: type
    default: Any
    help: str
    optional: bool = False
    follows: bool = True
    convert: Callable[[Any], Any] | None = None

    def value_for_migrator(self, value: Any) -> Any:
        """The setting's value as the Migrator's field holds it."""
        return value if self.convert is None or value is None else self.convert(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("url", str, None, "Database URL; None means $DATABASE_URL, else sqlite:///default.db", True),
    Setting(
        "metadata",
        str,
        None,
        "Python expression, evaluated once per command that needs it, giving the models' metadata",
        True,
    ),
    Setting("directory", str, "alembic", "The Alembic migration directory", convert=Path),
    Setting(
        "ini",
        str,
        "alembic.ini",
        "The alembic.ini (or pyproject.toml) read when present and written by init",
        convert=Path,
    ),
    Setting("progress", bool, True, "Show a progress bar for runs over many revisions"),
    Setting(
        "lock_timeout", float, LOCK_TIMEOUT, "Seconds a migration waits for another one on the same database"
    ),
    Setting(
        "audit",
        bool,
        None,
        "Log each applied step in the database's sakyum_migration_log table: True, False, or None "
        "(the default) for only where %migrate init wrote the directory",
        True,
    ),
    Setting(
        "upgrade_lock_timeout",
        str,
        None,
        "The database's lock timeout for each revision an upgrade runs (2s, 500ms); upgrade --lock-timeout "
        "overrides it. None: the server's own",
        True,
    ),
    Setting(
        "upgrade_statement_timeout",
        str,
        None,
        "The database's statement timeout for each revision an upgrade runs (15min); "
        "upgrade --statement-timeout overrides it. None: the server's own",
        True,
    ),
    Setting(
        "show_cli",
        bool,
        True,
        "Show under each result the alembic command that does the same (or the nearest one); "
        "the result keeps it as .equivalent either way",
        follows=False,
    ),
    Setting(
        "tracebacks",
        bool,
        False,
        "Raise a failed command's error with its whole traceback, this package's frames included "
        "(alembic --raiseerr), instead of one line (and the revision's own frames for a Python error)",
        follows=False,
    ),
    Setting(
        "rerun_models",
        bool,
        True,
        "A re-run cell that declares ORM classes on a Base from an earlier cell replaces its "
        "earlier declarations (as %%migrate models does)",
        follows=False,
    ),
)

BY_NAME: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS}
FOLLOWED: tuple[str, ...] = tuple(setting.name for setting in SETTINGS if setting.follows)
"""The settings the session's Migrator follows, in the order it takes them."""
