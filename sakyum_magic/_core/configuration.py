"""Which configuration goes with a migration directory, and the Alembic ``Config`` built from it.

The magic reads configuration the way the ``alembic`` command line does: an ``alembic.ini`` and, with
Alembic 1.16 or newer, the ``[tool.alembic]`` table of a ``pyproject.toml`` beside it (Alembic's
``pyproject`` templates keep the directory settings there and logging in alembic.ini). Options found
in both are taken from alembic.ini first, as Alembic does. Nothing here writes a file.

The rule for ``%migrate config --dir DIR`` without ``--ini`` (:func:`configuration_for`): an
``alembic.ini`` inside DIR that names no other location (Flask-Migrate keeps it there); else the
first of ``alembic.ini`` and ``pyproject.toml`` in the working directory, then in DIR's parent
folder, whose ``script_location`` is DIR. When none names DIR, no file is read.
"""

from __future__ import annotations

import argparse
import configparser
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, NotInitializedError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL

PYPROJECT = "pyproject.toml"
INI = "alembic.ini"


def build_config(
    ini: Path, directory: Path, url: URL, x_arguments: Sequence[str] = (), **buffers: Any
) -> Config:
    """An Alembic Config for ``directory`` bound to ``url``; the configuration files are only read.

    :param ini: an alembic.ini or a pyproject.toml; the other one of the pair is found beside it.
    :param x_arguments: ``KEY=VALUE`` strings for ``context.get_x_argument()`` (``alembic -x``).
    """
    from alembic.config import Config

    ini_file, toml_file = config_files(ini)
    # quiet: no "Generating ... done" lines, results are returned; x: what `alembic -x` would pass.
    options = argparse.Namespace(quiet=True, x=list(x_arguments))
    files: dict[str, Any] = {"toml_file": str(toml_file)} if toml_file is not None else {}
    config = Config(str(ini_file) if ini_file is not None else None, cmd_opts=options, **files, **buffers)
    # Alembic reads a relative "name:path" location as a package resource, so such a path goes absolute.
    # So does Mako a template path that climbs out of the working directory ("../migrations").
    location = directory.absolute() if ":" in str(directory) or ".." in directory.parts else directory
    try:
        config.set_main_option("script_location", _escape(str(location)))  # reads the ini file
    except configparser.Error as exc:
        raise unreadable(ini, exc) from exc
    # Kept in memory only, so an env.py written by `alembic init` (which reads sqlalchemy.url)
    # also works; escaping % here is what lets passwords with % or @ survive configparser.
    config.set_main_option("sqlalchemy.url", _escape(url.render_as_string(hide_password=False)))
    return config


def config_files(ini: Path) -> tuple[Path | None, Path | None]:
    """The alembic.ini and the pyproject.toml (with a ``[tool.alembic]`` table) to read for ``ini``."""
    if ini.name == PYPROJECT:
        beside = ini.parent / INI
        return (beside if beside.is_file() else None), (ini if _has_alembic_table(ini) else None)
    pyproject = ini.parent / PYPROJECT
    toml = pyproject if _has_alembic_table(pyproject) else None
    return (ini if ini.is_file() else None), toml


def _has_alembic_table(path: Path) -> bool:
    if not path.is_file() or not toml_supported():
        return False
    return "alembic" in _toml(path).get("tool", {})


def toml_supported() -> bool:
    """Whether the installed Alembic reads ``[tool.alembic]`` (1.16 and newer)."""
    from .compat import has_pyproject

    return has_pyproject()


def _toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise unreadable(path, exc) from exc


def unreadable(path: Path, exc: Exception) -> ConfigurationError:
    """The one-line error for a configuration file that does not parse."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigurationError(
        f"cannot read {path}: {reason}; fix the file, or choose another with %migrate config --ini PATH"
    )


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def named_directory(ini: Path) -> Path | None:
    """The ``script_location`` that ``ini`` (an alembic.ini or a pyproject.toml) names, if a folder."""
    for found in _locations(ini):
        if ":" not in found.name:
            return found
    return None


def _locations(ini: Path) -> Iterator[Path]:
    here = str(ini.absolute().parent)
    if ini.name == PYPROJECT:
        if not _has_alembic_table(ini):
            return
        value = _toml(ini).get("tool", {}).get("alembic", {}).get("script_location")
        if isinstance(value, str):
            yield Path(value.replace("%(here)s", here))
        return
    if not ini.is_file():
        return
    parser = configparser.ConfigParser(defaults={"here": here})
    try:
        parser.read(ini)
        value = parser.get("alembic", "script_location", fallback=None)
    except configparser.Error as exc:
        raise unreadable(ini, exc) from exc
    if value:
        yield Path(value)


def configuration_for(directory: Path) -> Path | None:
    """The alembic.ini or pyproject.toml whose ``script_location`` is ``directory`` (see module doc)."""
    wanted = _resolved(directory)
    inside = directory / INI  # Flask-Migrate keeps its alembic.ini in the directory, naming no location
    if inside.is_file() and named_directory(inside) in {None, directory}:
        return inside
    for folder in dict.fromkeys([Path.cwd(), directory.absolute().parent]):
        for name in (INI, PYPROJECT):
            candidate = folder / name
            location = named_directory(candidate)
            if location is not None and _resolved(_relative_to(location, folder)) == wanted:
                return _shortest(candidate)
    return None


def _relative_to(location: Path, folder: Path) -> Path:
    # Alembic resolves a relative script_location against the working directory, as we do.
    return location if location.is_absolute() else Path.cwd() / location


def _resolved(path: Path) -> Path:
    return path.absolute().resolve()


def _shortest(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def check_path(path: Path, what: str = "directory") -> None:
    """ConfigurationError for a path the system cannot use at all (a NUL byte, a name too long)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(
            f"cannot use the {what} {str(path)[:80]!r}: {reason}; "
            "choose another with %migrate config --dir DIR"
        ) from exc


def require_initialized(directory: Path) -> None:
    """Raise NotInitializedError unless ``directory`` holds an env.py."""
    check_path(directory)
    if not (directory / "env.py").is_file():
        where = "" if directory.is_absolute() else f" (looked in {Path.cwd()})"
        raise NotInitializedError(
            f"{directory}{where} is not an Alembic directory yet: run %migrate init "
            "(or %migrate config --dir DIR to point at an existing one; relative paths follow os.chdir)"
        )
