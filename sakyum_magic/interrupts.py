"""Stopping a run at a revision boundary when the user interrupts it (Ctrl-C, Jupyter's stop button).

A synchronous run gets ``KeyboardInterrupt`` in its own thread, wherever it is: the revision's
transaction rolls back on the way out. A run on async drivers executes on the worker thread of
:mod:`sakyum_magic.aio`, which ``KeyboardInterrupt`` never reaches: the waiting thread asks it to
stop instead (:func:`request_stop`), and the worker, at its next revision boundary (an
``on_version_apply`` call, made inside the revision's transaction), raises :class:`RunStopped`, so
that revision rolls back too and nothing keeps running in the background.
"""

from __future__ import annotations

import threading

_stop = threading.Event()


class RunStopped(Exception):
    """Raised in a run's thread at a revision boundary after :func:`request_stop`."""


def request_stop() -> None:
    """Ask the run in progress to stop at its next revision boundary."""
    _stop.set()


def clear() -> None:
    """Forget a stop request (a new run starts)."""
    _stop.clear()


def check() -> None:
    """Raise RunStopped if a stop was requested (called at each revision boundary)."""
    if _stop.is_set():
        raise RunStopped("stop requested")
