"""Waiting for a migration lock, and the lock files that SQLite databases use.

A waiter (:class:`Wait`) tries the lock at once; when another process holds it, it says whom it waits
for, says it again every ``every`` seconds, and gives up after its timeout with DatabaseError.

The lock files' rules and code live in :mod:`sakyum_magic._guards.sakyum_env_lock`, which env.py uses
too. A SQLite database is locked with an exclusive ``flock`` on two files: ``<real path>.lock`` beside
the database, and, once the file exists, ``sakyum-magic-<device>-<inode>.lock`` in the temporary
directory, so that a symlink or a hard link to the same file waits too. The holder writes its process
id, host, tool and start time into each file (from byte 1: Windows locks byte 0 itself), and removes
the files on release.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url
from .._core.errors import DatabaseError
from .._core.settings import LOCK_TIMEOUT
from . import sakyum_env_lock as env_lock
from .sakyum_env_lock import describe_holder as describe_holder
from .sakyum_env_lock import read_holder as read_holder
from .sakyum_env_lock import sqlite_identity_lock as sqlite_identity_lock
from .sakyum_env_lock import sqlite_path_lock as sqlite_path_lock

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

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
    return env_lock.holder_tag(tool)


# -- SQLite ----------------------------------------------------------------------------------------


@contextmanager
def sqlite_lock(engine: Engine, wait: Wait) -> Iterator[None]:
    with env_lock.sqlite_lock(
        engine.url.database or "", wait, TOOL, functools.partial(_open, url=engine.url)
    ):
        yield


def sqlite_lock_files(url: URL) -> list[Path]:
    """The lock files a migration of this SQLite database holds (none for an in-memory one)."""
    database = url.database or ""
    return [Path(p) for p in (sqlite_path_lock(database), sqlite_identity_lock(database)) if p]


def _open(path: str, url: URL | None = None) -> int:
    try:
        return env_lock.open_lock_file(path)
    except (OSError, ValueError) as exc:  # a missing folder or a bad name in the database path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"connect to {mask_url(url)}: cannot " if url is not None else ""
        raise DatabaseError(
            f"cannot {where}create the lock file {str(path)[:80]!r}: {reason}; check the database "
            "path in the URL (%migrate config --url URL)"
        ) from exc
