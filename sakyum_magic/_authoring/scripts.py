"""The revision map, loaded once per directory and reloaded only when a revision file changes.

Plain Alembic builds a new ``ScriptDirectory`` and imports every revision file on every command.
Here the loaded ``ScriptDirectory`` is kept, with everything derived from it, while the versions
directories are unchanged. "Unchanged" is judged by each file's name, size, ``mtime_ns`` and inode,
so an edit within the same second, a rename or an atomic replace is seen at once. A file changed in
the last two seconds is also judged by its content, because a filesystem's clock ticks coarsely
and a same-size rewrite inside one tick would leave size and mtime as they were.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.util import cache_from_source
from typing import TYPE_CHECKING, Any, TypeVar

from .._core import compat
from .._core.errors import ConfigurationError
from .._core.records import RevisionInfo

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory

T = TypeVar("T")
FileState = tuple[int, int, int]
Fingerprint = dict[str, FileState]
Key = tuple[Hashable, ...]

RACY_NS = 2_000_000_000
_CREATE_DATE = re.compile(r"^Create Date:\s*(.+)$", re.MULTILINE)


@dataclass
class Snapshot:
    """One loaded revision map, plus results derived from it, valid while its files are unchanged."""

    fingerprint: Fingerprint
    directory: ScriptDirectory
    digests: dict[str, bytes] = field(default_factory=dict)
    _infos: dict[str, RevisionInfo] = field(default_factory=dict)
    _memo: dict[Hashable, Any] = field(default_factory=dict)
    _heads: frozenset[str] | None = None
    _loaded: bool = False
    _light: ScriptDirectory | None = None
    # Tab completion reads the map on a worker thread: a command that needs it meanwhile waits for
    # that read rather than reading every file a second time beside it.
    _reading: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def script(self) -> ScriptDirectory:
        """The ScriptDirectory, its revision files imported on first use (with the collector paused)."""
        # An error in a revision file is raised here, where the caller first needs the map, as
        # Alembic raises it; nothing is kept, so the next command tries again.
        if not self._loaded:
            with self._reading, collector_paused():
                if not self._loaded:
                    self.directory.get_heads()
                    self._loaded = True
        return self.directory

    @property
    def light(self) -> ScriptDirectory:
        """The map for commands that only read it: built from the revision index (no file executed,
        see :mod:`sakyum_magic._authoring.revindex`) unless the files are imported already, or must be."""
        if self._loaded:
            return self.directory
        with self._reading:
            return self._light_map()

    def _light_map(self) -> ScriptDirectory:
        if self._loaded:
            return self.directory
        if self._light is None:
            from .revindex import light_directory

            light = light_directory(self.directory, self.fingerprint)
            if light is None:
                return self.script
            with collector_paused():
                light.get_heads()
            self._light = light
        return self._light

    @property
    def heads(self) -> frozenset[str]:
        """The head revision ids."""
        if self._heads is None:
            self._heads = frozenset(self.light.get_heads())
        return self._heads

    def info(self, script: Script) -> RevisionInfo:
        """RevisionInfo for one revision of this map, built once."""
        found = self._infos.get(script.revision)
        if found is None:
            found = self._infos[script.revision] = revision_info(script, self.heads)
        return found

    def infos(self, scripts: Iterable[Script | None]) -> list[RevisionInfo]:
        """RevisionInfo for each revision given, skipping None."""
        return [self.info(s) for s in scripts if s is not None]

    def unchanged(self, fingerprint: Fingerprint) -> bool:
        """Whether the files are as they were when this map was read (content-checked if recent)."""
        if fingerprint != self.fingerprint:
            return False
        settled = time.time_ns() - RACY_NS
        for path, digest in list(self.digests.items()):
            if _digest(path) != digest:
                return False
            if fingerprint[path][1] < settled:
                # Any later write gets a later mtime now that the clock has moved past this one.
                del self.digests[path]
        return True

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """A value computed from this map once, then reused until a revision file changes."""
        if key not in self._memo:
            self._memo[key] = build()
        value: T = self._memo[key]
        return value


class ScriptCache:
    """Loaded revision maps keyed by script location; see the module docstring."""

    def __init__(self) -> None:
        self._snapshots: dict[Key, tuple[tuple[str, ...], bool, Snapshot]] = {}

    def snapshot(self, config: Config) -> Snapshot:
        """The current Snapshot for ``config``: the cached one if no revision file changed."""
        key = _config_key(config)
        cached = self._snapshots.get(key)
        if cached is not None:
            locations, recursive, snapshot = cached
            fingerprint = directory_fingerprint(locations, recursive)
            if snapshot.unchanged(fingerprint):
                return snapshot
            _drop_stale_bytecode(snapshot, fingerprint)
        return self._load(key, config)

    def forget(self) -> None:
        """Drop every loaded map (the next command reloads from disk)."""
        self._snapshots.clear()

    def _load(self, key: Key, config: Config) -> Snapshot:
        script = _from_config(config)
        locations = tuple(script.version_locations or ()) or (os.path.join(script.dir, "versions"),)
        recursive = compat.recursive_version_locations(script)
        # Taken before the files are read: a change made during the read makes the next call reload.
        fingerprint = directory_fingerprint(locations, recursive)
        snapshot = Snapshot(fingerprint, script, _recent_digests(fingerprint))
        self._snapshots[key] = (locations, recursive, snapshot)
        return snapshot


def _config_key(config: Config) -> Key:
    """The settings that decide which files make up the revision map."""
    return (
        config.config_file_name,
        compat.alembic_option(config, "script_location"),
        compat.version_locations(config),
        compat.alembic_flag(config, "recursive_version_locations"),
        compat.alembic_flag(config, "sourceless"),
        compat.prepend_sys_paths(config),
    )


def _from_config(config: Config) -> ScriptDirectory:
    """ScriptDirectory.from_config, without stacking another copy of prepend_sys_path on sys.path."""
    from alembic.script import ScriptDirectory

    before = list(sys.path)
    script = ScriptDirectory.from_config(config)
    added = len(sys.path) - len(before)
    if added > 0 and before[:added] == sys.path[:added]:
        del sys.path[:added]
    return script


def directory_fingerprint(locations: Iterable[str], recursive: bool) -> Fingerprint:
    """Size, mtime_ns and inode of every file in the version locations."""
    found: Fingerprint = {}
    for location in locations:
        _scan(location, recursive, found)
    return found


def _scan(folder: str, recursive: bool, found: Fingerprint) -> None:
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if entry.is_file():
            stat = entry.stat()
            found[entry.path] = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        elif recursive and entry.is_dir() and entry.name != "__pycache__":
            _scan(entry.path, recursive, found)


def _recent_digests(fingerprint: Fingerprint) -> dict[str, bytes]:
    """Content digests of the files changed in the last two seconds (see the module docstring)."""
    recent = time.time_ns() - RACY_NS
    digests = {path: _digest(path) for path, state in fingerprint.items() if state[1] > recent}
    return {path: digest for path, digest in digests.items() if digest is not None}


def _digest(path: str) -> bytes | None:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=16).digest()
    except OSError:
        return None


def _drop_stale_bytecode(old: Snapshot, new: Fingerprint) -> None:
    """Remove the cached bytecode of revision files rewritten with the same size.

    Python trusts a ``.pyc`` whose recorded source size and mtime (in whole seconds) still match,
    so a same-size edit within one second would otherwise run the old code.
    """
    for path, state in new.items():
        previous = old.fingerprint.get(path)
        if previous is None or previous[0] != state[0] or not path.endswith(".py"):
            continue
        if previous == state and path not in old.digests:
            continue
        try:
            os.remove(cache_from_source(path))
        except OSError:
            continue


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while revision files are imported.

    Importing a thousand revision files makes some hundreds of thousands of objects, all of which
    stay alive in the revision map; every automatic collection in between would walk them again
    and free nothing (about a tenth of the load's time). Afterwards they all sit in the youngest
    generation, whose next collection would walk every one of them once more (about 4 % of a
    first ``history`` at 1,000 revisions): ``freeze`` then ``unfreeze`` moves every tracked object
    to the oldest generation without walking it, where full collections see them as usual.
    """
    import gc

    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        gc.enable()


def revision_info(script: Script, heads: frozenset[str] | set[str]) -> RevisionInfo:
    """Describe one revision from the revision map, without reading any printed text.

    ``message`` is Alembic's ``Script.doc`` (the docstring up to its first blank line), derived
    here from ``longdoc`` read once rather than through a second property and a regex split.
    """
    longdoc = script.longdoc or ""
    return RevisionInfo(
        revision=script.revision,
        down_revision=as_tuple(script.down_revision),
        branch_labels=tuple(sorted(script.branch_labels)),
        depends_on=as_tuple(script.dependencies),
        message=longdoc.split("\n\n", 1)[0],
        create_date=_create_date(longdoc),
        is_head=script.revision in heads,
        is_branch_point=script.is_branch_point,
        is_merge=script.is_merge_point,
        path=script.path,
        doc=longdoc,
    )


def _create_date(longdoc: str) -> str | None:
    """The ``Create Date:`` line Alembic's templates write into the docstring, if there is one."""
    if "Create Date:" not in longdoc:
        return None
    match = _CREATE_DATE.search(longdoc)
    return match.group(1).strip() if match else None


def as_tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """Alembic stores one-or-many revision ids as a string, a tuple or None; always a tuple here."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def history_range(rev_range: str | None, current: tuple[str, ...]) -> tuple[str, str]:
    """Split an ``alembic history -r`` range (START:END, START: or :END; ``current`` allowed)."""
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
