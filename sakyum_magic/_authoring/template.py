"""The files ``init`` writes: a standard Alembic directory whose env.py needs no hand-editing.

The template is a directory of real files (``_authoring/templates/sakyum``: env.py, README and
alembic.ini.mako) that ``alembic.command.init`` copies, as Flask-Migrate does, through a Config whose
``get_template_directory()`` names it. Beside env.py go Alembic's own script.py.mako (revision files
look as ``alembic init`` makes them) and the two support files, copied byte for byte:
:mod:`sakyum_magic._guards.sakyum_env_lock` (the lock) and :mod:`sakyum_magic._guards.sakyum_env_support`
(the applied-at log and the SQLite recipe), the same files this package imports. The first line of
each names its format: a directory written by an older release (format 3 kept both in
sakyum_env_support.py) is recognised (:func:`stale_note`) and ``init --refresh`` rewrites env.py and
the support files.

When the magic runs env.py, the connection and the target metadata arrive through
``Config.attributes`` (the connection under Alembic's documented key ``connection``, so other tools
that drive env.py, such as pytest-alembic, work too). From the plain ``alembic`` CLI, env.py takes
the URL from ``$DATABASE_URL`` or alembic.ini, and the metadata from the optional
``sakyum_metadata = module:attribute`` line of alembic.ini.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .._core.binding import parse_url, without_secrets
from .._core.errors import ConfigurationError
from .._core.records import InitResult
from .._guards import sakyum_env_lock
from .._guards import sakyum_env_support as support
from .._run.envrun import own_env

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "sakyum"
SUPPORT = "sakyum_env_support.py"
LOCK = "sakyum_env_lock.py"
SUPPORT_FILES = (SUPPORT, LOCK)
"""The support files init copies beside env.py; each one's first line names :data:`support.FORMAT`."""
WRITTEN = ("env.py", "script.py.mako", "README", *SUPPORT_FILES)
_FORMAT = re.compile(re.escape(support.HEADER) + r"(\d+)\b")


def script_mako() -> Path:
    """Alembic's own revision template, so revision files look exactly as ``alembic init`` makes them."""
    import alembic

    return Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"


def support_file() -> Path:
    """The support module as this package has it (and as ``init`` copies it)."""
    return Path(support.__file__)


def lock_file() -> Path:
    """The lock's support module as this package has it (and as ``init`` copies it)."""
    return Path(sakyum_env_lock.__file__)


def _copy_support_files(target: Path) -> None:
    shutil.copyfile(support_file(), target / SUPPORT)
    shutil.copyfile(lock_file(), target / LOCK)


def alembic_ini(script_location: Path, ini: Path, url_without_password: str) -> str:
    """alembic.ini text. A relative location is written relative to the ini file (``%(here)s``)."""
    from mako.template import Template

    location = _escape(str(script_location))
    if not script_location.is_absolute():
        relative = os.path.relpath(script_location.absolute(), ini.absolute().parent)
        location = "%(here)s/" + _escape(Path(relative).as_posix())
    # No secret in the file, whatever the caller passed: not the password, not ?password= or a token.
    url = without_secrets(parse_url(url_without_password)).render_as_string(hide_password=False)
    template = Template(filename=str(TEMPLATES / TEMPLATE / "alembic.ini.mako"))
    return str(template.render(script_location=location, url=_escape(url)))


def _escape(value: str) -> str:
    """configparser interpolates ``%``: a literal one is written twice."""
    return value.replace("%", "%%")


def write_directory(target: Path, ini: Path, url_without_password: str) -> InitResult:
    """Write the migration directory and, unless it exists, alembic.ini (what ``init`` does)."""
    # Everything that can fail on bad input (the ini text) is made before the first write. Our ini
    # is in place before alembic.command.init runs, so Alembic keeps it rather than rendering its own.
    ini_text = None if ini.exists() else alembic_ini(target, ini, url_without_password)
    if ini_text is not None:
        ini.write_text(ini_text)
    try:
        _alembic_init(target, ini)
    except BaseException:
        if ini_text is not None:
            ini.unlink(missing_ok=True)
        raise
    shutil.copyfile(script_mako(), target / "script.py.mako")
    _copy_support_files(target)
    note = None if ini_text is not None else _elsewhere(ini, target)
    return InitResult(str(target), (*WRITTEN, "versions/"), str(ini), ini_text is not None, note)


def _alembic_init(target: Path, ini: Path) -> None:
    import argparse
    import contextlib
    import io

    from alembic import command
    from alembic.config import Config

    class TemplateConfig(Config):
        def get_template_directory(self) -> str:
            return str(TEMPLATES)

    config = TemplateConfig(str(ini), stdout=io.StringIO(), cmd_opts=argparse.Namespace(quiet=True))
    # Alembic's ScriptDirectory copies the files with "Generating ... done", whatever the Config says.
    with contextlib.redirect_stdout(io.StringIO()):
        command.init(config, str(target), template=TEMPLATE)


def refresh(target: Path) -> InitResult:
    """Rewrite env.py and the support files of a directory ``init`` wrote (by this or an older release)."""
    if not own_env(target):
        raise ConfigurationError(
            f"{target / 'env.py'} was not written by %migrate init, so --refresh leaves it alone: "
            "it rewrites only the env.py %migrate init writes"
        )
    before, had_lock = support_format(target), (target / LOCK).exists()
    shutil.copyfile(TEMPLATES / TEMPLATE / "env.py", target / "env.py")
    _copy_support_files(target)
    was = f"format {before}" if before is not None else "the format before support files"
    lock = f"rewrote {LOCK}" if had_lock else f"added {LOCK} (the lock, split from {SUPPORT})"
    note = f"Rewrote env.py and {SUPPORT} (was {was}, now format {support.FORMAT}), and {lock}."
    return InitResult(str(target), ("env.py", *SUPPORT_FILES), "", False, note, refreshed=True)


def support_format(directory: Path, name: str = SUPPORT) -> int | None:
    """The format named in the first line of the directory's support file ``name``; None without one."""
    try:
        with (directory / name).open(encoding="utf-8") as handle:
            found = _FORMAT.match(handle.readline())
    except (OSError, UnicodeDecodeError):
        return None
    return int(found.group(1)) if found else None


def stale_note(directory: Path) -> str | None:
    """A one-line note when ``init`` wrote the directory with an older release, else None."""
    if not own_env(directory):
        return None
    found = support_format(directory)
    if found == support.FORMAT and support_format(directory, LOCK) == support.FORMAT:
        return None
    if found is None:
        what = f"no {SUPPORT}"
    else:
        what = f"format {found}" if found != support.FORMAT else f"{LOCK} missing or of another format"
    return (
        f"Note: {directory}/env.py was written by an older sakyum-magic ({what}; this release writes "
        f"format {support.FORMAT}): %migrate init --refresh rewrites env.py, {SUPPORT} and {LOCK} "
        "(the alembic CLI may lock and log differently until then)."
    )


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
