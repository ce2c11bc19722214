"""A request to stop a run at its next revision boundary (see :mod:`sakyum_magic._run.interrupts`).

Kept apart, with no imports of its own, so that the async worker (:mod:`sakyum_magic._run.aio`) can ask a
run to stop without importing the connection code that imports it.
"""

from __future__ import annotations

import threading

_stop = threading.Event()

__all__ = ["RunStopped", "check", "clear", "request_stop"]


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
