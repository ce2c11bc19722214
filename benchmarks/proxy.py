"""A local TCP proxy that delays every chunk by a fixed time each way: a database across a network.

    with DelayProxy("127.0.0.1", 5432, delay=0.0005) as (host, port):
        ...  # connect to host:port instead: every round trip now takes 1 ms more

It listens on loopback only, on a port of its own choosing, accepts at most ``max_connections`` at a
time and holds at most ``max_chunks`` undelivered chunks per direction (the reader waits beyond
that). It runs an asyncio loop in a thread of its own, on ``select()``, whose timeout has
microsecond resolution (epoll's and poll's round a 0.5 ms wait up to 1 ms). Order is kept: a chunk
leaves ``delay`` seconds after it arrived, after every chunk that arrived before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import threading
from types import TracebackType

WAKE_UP = 0.00008
"""How late a sleep of the loop wakes up, measured on an idle machine: taken off each wait."""


class DelayProxy:
    """Forward loopback connections to ``host:port``, each chunk delayed by ``delay`` seconds each way."""

    def __init__(
        self, host: str, port: int, delay: float = 0.0005, max_connections: int = 32, max_chunks: int = 256
    ) -> None:
        self.target = (host, port)
        self.delay, self.max_connections, self.max_chunks = delay, max_connections, max_chunks
        self.loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self._open = 0
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="delay-proxy", daemon=True)

    def __enter__(self) -> tuple[str, int]:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        self.address = future.result(timeout=10)
        return self.address

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    async def _listen(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        if self._open >= self.max_connections:
            client_out.close()
            return
        self._open += 1
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pipe(client_in, server_out), self._pipe(server_in, client_out))
        except (OSError, asyncio.CancelledError):  # the proxy closing ends its connections quietly
            client_out.close()
        finally:
            self._open -= 1

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(self.max_chunks)

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                wait = due - self.loop.time() - WAKE_UP
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        try:
            while chunk := await reader.read(65536):
                await queue.put((self.loop.time() + self.delay, chunk))
        except OSError:
            pass
        await queue.put((0.0, b""))
        with contextlib.suppress(OSError):
            await delivering
        writer.close()
