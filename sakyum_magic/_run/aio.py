"""Async database URLs (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) for the synchronous core.

Alembic's async template calls ``asyncio.run()``, which fails inside Jupyter: the kernel already runs
an event loop on its main thread. Here the event loop lives on a worker thread of its own, started on
first use and kept for the life of the process (an asyncpg connection belongs to the loop that opened
it). A migrator command that touches an async database is sent to that loop and runs inside
SQLAlchemy's ``run_sync``, so the synchronous code, Alembic included, works with an ordinary
``Connection`` whose driver calls are awaited on the worker's loop. The calling thread just waits.

Engines for async URLs use no connection pool: nothing outlives a command, so disposing of an engine
never needs the loop.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from sqlalchemy.engine import URL, Engine

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_THREAD_NAME = "sakyum-magic-asyncio"
# Module-level on purpose: asyncpg connections are bound to the loop that made them, so every async
# engine in the process shares this one loop and its thread.
_runner: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_runner_lock = threading.Lock()


def is_async_url(url: URL) -> bool:
    """Whether ``url`` names an asyncio driver (aiosqlite, asyncpg, aiomysql, ...)."""
    from sqlalchemy.exc import NoSuchModuleError

    try:
        return bool(url.get_dialect().is_async)
    except (NoSuchModuleError, ModuleNotFoundError):
        return False  # create_engine reports the unknown dialect or missing driver properly


def engine_options(url: URL) -> dict[str, Any]:
    """Keyword arguments for ``create_engine``: no pool for async drivers (see the module docstring)."""
    from sqlalchemy.pool import NullPool

    return {"poolclass": NullPool} if is_async_url(url) else {}


def call(engine: Engine, fn: Callable[[], T]) -> T:
    """Run ``fn`` where ``engine`` can do I/O: directly for sync drivers, else on the worker's loop."""
    if not engine.dialect.is_async or on_worker():
        return fn()
    import asyncio  # here, not at the top: it costs more than the whole %load_ext otherwise

    future = asyncio.run_coroutine_threadsafe(_run_sync(engine, fn), _loop())
    return _wait(future)


def _wait(future: concurrent.futures.Future[T]) -> T:
    """The worker's result. An interrupt here does not reach the worker: ask it to stop at the next
    revision boundary, and wait until it has (so nothing keeps running, and its locks are released)."""
    from .stopping import request_stop

    while True:
        try:
            return future.result()
        except KeyboardInterrupt:
            request_stop()


def on_worker() -> bool:
    """Whether the current thread is the worker that drives async engines."""
    return threading.current_thread().name == _THREAD_NAME


def on_engine_loop(method: F) -> F:
    """Decorate a Migrator method so that, for an async URL, it runs on the worker's loop."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if on_worker() or not _bound_to_async(self):
            return method(self, *args, **kwargs)
        return call(self.engine(), lambda: method(self, *args, **kwargs))

    return cast(F, run)


def _bound_to_async(migrator: Any) -> bool:
    from .._core.errors import ConfigurationError

    try:
        return is_async_url(migrator.parsed_url())
    except ConfigurationError:
        return False  # the method itself reports the malformed URL


async def _run_sync(engine: Engine, fn: Callable[[], T]) -> T:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    # The session connects only if asked to; run_sync gives fn the greenlet context in which the
    # engine's synchronous API (and so Alembic) can await the driver.
    async with AsyncSession(AsyncEngine(engine)) as session:
        return await session.run_sync(lambda _session: fn())


def _loop() -> asyncio.AbstractEventLoop:
    import asyncio

    global _runner
    with _runner_lock:
        if _runner is None or not _runner[1].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=_THREAD_NAME, daemon=True)
            thread.start()
            _runner = (loop, thread)
        return _runner[0]


def run_without_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a thread of its own with no event loop running (for code that calls
    ``asyncio.run()``, as Alembic's async env.py templates do); its exception is raised here."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sakyum-magic-env") as pool:
        return _wait(pool.submit(fn))
