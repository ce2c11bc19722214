"""The revision map, loaded once per directory and reloaded only when a revision file changes.

Plain Alembic builds a new ``ScriptDirectory`` and imports every revision file on every command.
Here the loaded ``ScriptDirectory`` is kept and reused while the versions directories are unchanged,
judged by each file's name, size and ``mtime_ns`` (so an edit within the same second is still seen).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .records import RevisionInfo

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory

Fingerprint = tuple[tuple[str, int, int], ...]

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+)$", re.MULTILINE)


@dataclass
class _Entry:
    fingerprint: Fingerprint
    script: ScriptDirectory
    infos: dict[str, RevisionInfo] = field(default_factory=dict)


class ScriptCache:
    """Loaded revision maps keyed by script location; see the module docstring."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], _Entry] = {}

    def load(self, config: Config) -> ScriptDirectory:
        """The ScriptDirectory for ``config``, reused while its revision files are unchanged."""
        return self._entry(config).script

    def info(self, config: Config, script: Script) -> RevisionInfo:
        """RevisionInfo for one revision, memoised with the revision map it came from."""
        entry = self._entry(config)
        found = entry.infos.get(script.revision)
        if found is None:
            found = entry.infos[script.revision] = revision_info(entry.script, script)
        return found

    def forget(self) -> None:
        """Drop every loaded map (the next command reloads from disk)."""
        self._entries.clear()

    def _entry(self, config: Config) -> _Entry:
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(config)
        locations = tuple(script.version_locations) or (os.path.join(script.dir, "versions"),)
        key = (script.dir, *locations)
        fingerprint = directory_fingerprint(locations, script.recursive_version_locations)
        entry = self._entries.get(key)
        if entry is None or entry.fingerprint != fingerprint:
            entry = self._entries[key] = _Entry(fingerprint, script)
        return entry


def directory_fingerprint(locations: tuple[str, ...], recursive: bool) -> Fingerprint:
    """Name, size and mtime_ns of every file in the version locations, in a stable order."""
    found: list[tuple[str, int, int]] = []
    for location in locations:
        _scan(Path(location), recursive, found)
    return tuple(sorted(found))


def _scan(folder: Path, recursive: bool, found: list[tuple[str, int, int]]) -> None:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_file():
            stat = entry.stat()
            found.append((entry.path, stat.st_size, stat.st_mtime_ns))
        elif recursive and entry.is_dir() and entry.name != "__pycache__":
            _scan(Path(entry.path), recursive, found)


def revision_info(directory: ScriptDirectory, script: Script) -> RevisionInfo:
    """Describe one revision from the revision map, without reading any printed text."""
    heads = set(directory.get_heads())
    match = _CREATE_DATE.search(script.longdoc or "")
    return RevisionInfo(
        revision=script.revision,
        down_revision=as_tuple(script.down_revision),
        branch_labels=tuple(sorted(script.branch_labels)),
        depends_on=as_tuple(script.dependencies),
        message=script.doc or "",
        create_date=match.group(1).strip() if match else None,
        is_head=script.revision in heads,
        is_branch_point=script.is_branch_point,
        is_merge=script.is_merge_point,
        path=script.path,
        doc=script.longdoc or "",
    )


def as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Alembic stores one-or-many revision ids as a string, a tuple or None; always a tuple here."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
