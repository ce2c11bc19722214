"""Which configuration file goes with a migration directory.

The rule (``%migrate config --dir DIR`` without ``--ini``): an ``alembic.ini`` in DIR's parent, else
in the working directory, whose ``script_location`` is DIR; else a ``pyproject.toml`` in the same
places whose ``[tool.alembic] script_location`` is DIR; else none (no configuration file: only the
directory). ``%(here)s`` in a location is the file's own directory; any other relative location is
taken from the working directory, as the ``alembic`` command does.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path


def configuration_for(directory: Path) -> Path | None:
    """The alembic.ini or pyproject.toml whose script_location is ``directory``, or None."""
    target = _resolved(directory)
    places = list(dict.fromkeys([target.parent, directory.absolute().parent, Path.cwd()]))
    for name, location in (("alembic.ini", _ini_location), ("pyproject.toml", _toml_location)):
        for place in places:
            candidate = place / name
            if _is_file(candidate) and _points_at(location(candidate), candidate, target):
                return candidate
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte: no such file to use
        return False


def _points_at(location: str | None, file: Path, target: Path) -> bool:
    if not location or (":" in location and not Path(location).is_absolute()):
        return False  # none, or a package resource ("package:folder"), which is not a directory path
    here = str(file.parent.absolute())
    return _resolved(Path(location.replace("%(here)s", here))) == target


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()


def _ini_location(ini: Path) -> str | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError):
        return None
    return parser.get("alembic", "script_location", fallback=None)


def _toml_location(pyproject: Path) -> str | None:
    try:
        with pyproject.open("rb") as file:
            data = tomllib.load(file)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return None
    location = data.get("tool", {}).get("alembic", {}).get("script_location")
    return location if isinstance(location, str) else None
