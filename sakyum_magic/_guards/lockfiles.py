"""Waiting for a migration lock, and the lock files that SQLite databases use.

A waiter (:class:`Wait`) tries the lock at once; when another process holds it, it says whom it waits
for, says it again every ``every`` seconds, and gives up after its timeout with DatabaseError.

A SQLite database is locked with an exclusive ``flock`` on two files: ``<real path>.lock`` beside the
database, and, once the file exists, ``sakyum-magic-<device>-<inode>.lock`` in the temporary
directory, so that a symlink or a hard link to the same file waits too. The holder writes its process
id, host, tool and start time into each file (from byte 1: Windows locks byte 0 itself), and removes
the files on release. The env.py that ``%migrate init`` writes repeats these rules for the alembic CLI.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url
from .._core.errors import DatabaseError
from .._core.settings import LOCK_TIMEOUT

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

"""Seconds a migration waits for another one on the same database before giving up."""
PROGRESS_EVERY = 10.0
"""Seconds between two "still waiting" messages."""
TOOL = "sakyum-magic"

OnWait = Callable[[str], None]

logger = logging.getLogger("sakyum_magic")


@dataclass(frozen=True)
class Wait:
    """How a run waits for another migration's lock: how long, and whom it tells while it waits."""

    what: str
    timeout: float = LOCK_TIMEOUT
    on_wait: OnWait = logger.warning
    every: float = PROGRESS_EVERY
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.started + self.timeout - time.monotonic()

    def until(self, attempt: Callable[[float], bool], holder: Callable[[], str]) -> None:
        """Call ``attempt(seconds)`` (try the lock, waiting up to that long) until it succeeds.

        The first try does not wait; when it fails, whom we wait for is told at once, then again
        every ``every`` seconds; DatabaseError when the timeout passes.
        """
        if attempt(0):
            return
        self.on_wait(f"waiting for another migration of {self.what}: {holder()}")
        while True:
            if attempt(max(min(self.every, self.left()), 0)):
                return
            if self.left() <= 0:
                raise self.busy(holder())
            waited = time.monotonic() - self.started
            self.on_wait(
                f"still waiting ({waited:.0f} s of {self.timeout:g} s) for another migration of "
                f"{self.what}: {holder()}"
            )

    def busy(self, holder: str) -> DatabaseError:
        return DatabaseError(
            f"another migration of {self.what} has held its lock for over {self.timeout:g} s ({holder}): "
            "wait for it to finish, then run the command again"
        )


def holder_tag(tool: str = TOOL) -> dict[str, Any]:
    """What a lock holder says about itself: its process id, host, tool and since when."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "tool": tool, "since": time.time()}


def describe_holder(tag: dict[str, Any] | None) -> str:
    """A holder's tag as words: "pid 123 on host web1 (sakyum-magic), since 12:00:01"."""
    if not tag or "pid" not in tag:
        return "a process that left no details"
    since = time.strftime("%H:%M:%S", time.localtime(float(tag.get("since", 0))))
    return f"pid {tag['pid']} on host {tag.get('host', '?')} ({tag.get('tool', '?')}), since {since}"


# -- SQLite ----------------------------------------------------------------------------------------


def sqlite_path_lock(database: str) -> str | None:
    """The lock file beside the SQLite database's real path; None for an in-memory database."""
    if database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database:
        return None
    return os.path.realpath(database.removeprefix("file:").split("?", 1)[0]) + ".lock"


def sqlite_identity_lock(database: str) -> str | None:
    """The lock file named by the database file's device and inode; None while the file does not exist."""
    path = sqlite_path_lock(database)
    try:
        found = os.stat(path.removesuffix(".lock")) if path else None
    except (OSError, ValueError):
        return None
    if found is None:
        return None
    return os.path.join(tempfile.gettempdir(), f"sakyum-magic-{found.st_dev}-{found.st_ino}.lock")


@contextmanager
def sqlite_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    database = engine.url.database or ""
    path = sqlite_path_lock(database)
    if path is None:
        yield  # an in-memory database is private to its connection: nobody else can migrate it
        return
    with held_file(Path(path), wait, engine.url):
        # Named only now: a database created while this run waited has an identity by then.
        identity = sqlite_identity_lock(database)
        with held_file(Path(identity), wait, engine.url) if identity else nullcontext():
            yield


def sqlite_lock_files(url: URL) -> list[Path]:
    """The lock files a migration of this SQLite database holds (none for an in-memory one)."""
    database = url.database or ""
    return [Path(p) for p in (sqlite_path_lock(database), sqlite_identity_lock(database)) if p]


@contextmanager
def held_file(path: Path, wait: Wait, url: URL | None = None) -> Iterator[None]:
    held: list[int] = []

    def attempt(seconds: float) -> bool:
        deadline, delay = time.monotonic() + seconds, 0.005
        while True:
            descriptor = _take_file(path, url)
            if descriptor is not None:
                held.append(descriptor)
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.2)

    wait.until(attempt, lambda: describe_holder(read_holder(path)))
    try:
        yield
    finally:
        # Unlink while still holding the lock: a waiter then notices its file is gone and retries.
        # (Windows cannot remove an open file, so there the file stays.)
        if sys.platform != "win32":
            path.unlink(missing_ok=True)
        _unlock(held[0])
        os.close(held[0])


def _take_file(path: Path, url: URL | None) -> int | None:
    """The descriptor of ``path`` locked by us, with our tag written in; None if another holds it."""
    descriptor = _open_lock_file(path, url)
    if not _try_lock(descriptor):
        os.close(descriptor)
        return None
    if not _same_file(descriptor, path):  # removed and made anew while we opened it: lock the new one
        _unlock(descriptor)
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)
    # From offset 1: Windows locks byte 0 itself, and a locked byte cannot be read by the waiter.
    os.lseek(descriptor, 1, os.SEEK_SET)
    os.write(descriptor, json.dumps(holder_tag()).encode())
    return descriptor


def _open_lock_file(path: Path, url: URL | None) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except (OSError, ValueError) as exc:  # a missing folder or a bad name in the database path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"connect to {mask_url(url)}: cannot " if url is not None else ""
        raise DatabaseError(
            f"cannot {where}create the lock file {str(path)[:80]!r}: {reason}; check the database "
            "path in the URL (%migrate config --url URL)"
        ) from exc


def read_holder(path: Path) -> dict[str, Any] | None:
    """The tag the holder of a lock file wrote into it, if it is there and readable."""
    try:
        with open(path, "rb") as handle:
            handle.seek(1)
            found = json.loads(handle.read().decode())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _try_lock(descriptor: int) -> bool:
    """Take the exclusive lock without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(descriptor: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(descriptor, fcntl.LOCK_UN)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
