"""The files ``init`` writes: a standard Alembic directory whose env.py needs no hand-editing.

When the magic runs env.py, the connection and the target metadata arrive through
``Config.attributes`` (the connection under Alembic's documented key ``connection``, so other tools
that drive env.py, such as pytest-alembic, work too). From the plain ``alembic`` CLI, env.py takes
the URL from ``$DATABASE_URL`` or alembic.ini, and the metadata from the optional
``sakyum_metadata = module:attribute`` line of alembic.ini.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._core.binding import parse_url, without_secrets
from .._core.records import InitResult
from .template_env import ENV_PY

README = """\
Alembic migrations managed with sakyum-magic.

In a notebook:   %load_ext sakyum_magic   then   %migrate upgrade head
From a shell:    DATABASE_URL=... alembic upgrade head   (alembic.ini names this directory)
"""

ALEMBIC_INI = """\
# Written by sakyum-magic's %migrate init. A standard Alembic configuration.

[alembic]
script_location = {script_location}
prepend_sys_path = .
path_separator = os

# The database URL for the alembic CLI. $DATABASE_URL, when set, takes precedence.
# A URL with a password is written here without it: put the full URL in $DATABASE_URL instead.
sqlalchemy.url = {url}

# Optional, for autogenerate from the CLI: where the models' metadata lives (package.module:attribute).
# sakyum_metadata = myapp.models:db

# The CLI adds a row per upgrade, downgrade and stamp step to the sakyum_migration_log table, as
# %migrate does. Uncomment to turn that off (or run alembic -x audit=false ...).
# sakyum_audit = false

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


def script_mako() -> str:
    """Alembic's own revision template, so revision files look exactly as ``alembic init`` makes them."""
    import alembic

    return (Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako").read_text()


def alembic_ini(script_location: Path, ini: Path, url_without_password: str) -> str:
    """alembic.ini text. A relative location is written relative to the ini file (``%(here)s``)."""
    location = _escape(str(script_location))
    if not script_location.is_absolute():
        relative = os.path.relpath(script_location.absolute(), ini.absolute().parent)
        location = "%(here)s/" + _escape(Path(relative).as_posix())
    # No secret in the file, whatever the caller passed: not the password, not ?password= or a token.
    url = without_secrets(parse_url(url_without_password)).render_as_string(hide_password=False)
    return ALEMBIC_INI.format(script_location=location, url=_escape(url))


def _escape(value: str) -> str:
    """configparser interpolates ``%``: a literal one is written twice."""
    return value.replace("%", "%%")


def write_directory(target: Path, ini: Path, url_without_password: str) -> InitResult:
    """Write the migration directory and, unless it exists, alembic.ini (what ``init`` does)."""
    # Everything that can fail on bad input (the ini text) is made before the first write.
    ini_text = None if ini.exists() else alembic_ini(target, ini, url_without_password)
    (target / "versions").mkdir(parents=True, exist_ok=True)
    files = {"env.py": ENV_PY, "script.py.mako": script_mako(), "README": README}
    for name, text in files.items():
        (target / name).write_text(text)
    if ini_text is not None:
        ini.write_text(ini_text)
    note = None if ini_text is not None else _elsewhere(ini, target)
    return InitResult(str(target), (*files, "versions/"), str(ini), ini_text is not None, note)


def _elsewhere(ini: Path, target: Path) -> str | None:
    """A warning when an existing alembic.ini names another directory (the CLI would drive that one)."""
    from alembic.config import Config

    named = Config(str(ini)).get_main_option("script_location")
    if named is None or Path(named).absolute().resolve() == target.absolute().resolve():
        return None
    return (
        f"Note: {ini} names {named} as script_location, so the alembic CLI drives that directory, not "
        f"{target}; run the CLI with -c pointing at another ini, or edit script_location."
    )
