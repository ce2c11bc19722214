"""The revision names Tab completion offers, read off the kernel's thread.

Reading a revision map means importing every revision file (about a millisecond each), and even
checking that a loaded map is still current means a ``stat`` of every file: at 10,000 revisions
seconds, and half a second, that a keystroke must not wait for. So the names are built on a thread
of their own and a completion answers with what is ready: subcommands and options at once, the
revision ids once they are read. A completion waits only briefly for a build under way (a small
directory is read within that time, so its first Tab already has the ids), then answers without it.

Whatever a revision file raises while it loads (even ``SystemExit`` or ``KeyboardInterrupt``) is
kept by the build's future and means "no ids": it never reaches the completer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

FIRST_WAIT = 0.25
"""Seconds the first completion waits for the names (enough for a small directory)."""
LATER_WAIT = 0.02
"""Seconds a later completion waits for a re-check under way before it answers with the last names."""
RECHECK_AFTER = 2.0
"""Seconds after a build began before a completion starts another (files may have changed)."""
Epoch = tuple[int, ...]
"""What changes when the files may have: the cells run, the ``%migrate`` lines run."""


@dataclass
class BackgroundValue(Generic[T]):
    """A value rebuilt on a worker thread; :meth:`get` never waits longer than a moment for it."""

    build: Callable[[], T | None]
    _pool: ThreadPoolExecutor | None = None
    _future: Future[T | None] | None = None
    _started: float = 0.0
    _value: T | None = None
    _known: bool = False
    _epoch: Epoch = ()

    def get(self, epoch: Epoch = ()) -> T | None:
        """The newest value ready: starting a rebuild when the last one is old, or when something ran
        since it began (``epoch`` moved: then it waits as long as a first build, to be current)."""
        moved = epoch != self._epoch
        old = time.monotonic() - self._started > RECHECK_AFTER
        future = self._future
        started = future is None or (future.done() and (moved or old))
        if future is None or started:
            self._epoch = epoch
            future = self._start()
        wait([future], timeout=FIRST_WAIT if started and (moved or not self._known) else LATER_WAIT)
        if future.done():
            self._value, self._known = _outcome(future), True
        return self._value

    @property
    def known(self) -> bool:
        """Whether a build has finished (its value, or None when it failed, is what :meth:`get` gives)."""
        return self._known

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the build under way, if any (a benchmark's set-up, a test)."""
        if self._future is not None:
            wait([self._future], timeout=timeout)

    def forget(self) -> None:
        """Drop the value: the next :meth:`get` builds it anew."""
        self.settle()
        self._future, self._value, self._known = None, None, False

    def close(self) -> None:
        """Stop the worker thread (a build under way finishes first, in the background)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _start(self) -> Future[T | None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sakyum-magic-complete")
        self._started = time.monotonic()
        self._future = self._pool.submit(self.build)
        return self._future


def _outcome(future: Future[T | None]) -> T | None:
    """The build's value; None when it raised (the future keeps whatever it was, unseen)."""
    if future.cancelled() or future.exception() is not None:
        return None
    return future.result()


def contained(action: Callable[[], T | None], timeout: float = FIRST_WAIT) -> T | None:
    """``action()`` run on a thread of its own: its value, or None when it raised or took longer
    than ``timeout`` (for code of the user's that a completion runs: a property of a namespace object)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sakyum-magic-complete")
    try:
        future = pool.submit(action)
        wait([future], timeout=timeout)
        return _outcome(future) if future.done() else None
    finally:
        pool.shutdown(wait=False)
