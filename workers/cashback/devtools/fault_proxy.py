"""A TCP proxy on 127.0.0.1 that can hurt the connections through it, for fault tests.

The local broker advertises the proxy (``start_broker(advertised_port=proxy.port)``), so
every connection a client opens, bootstrap and per-broker alike, goes through it. Three
faults, each switched on and off from the test's thread:

- ``latency(seconds)``: every chunk is delivered that much later, in order (a delay line
  per direction, so throughput is kept and only the round trip grows);
- ``reset()``: every open connection is aborted with a TCP RST, mid-request or not;
- ``blackhole(True)``: nothing moves and new connections get no upstream until it is
  switched off, then the held bytes flow on (a partition that TCP retransmission rides
  out: what a client sees is silence, not a closed socket).

It runs its own asyncio loop in a daemon thread; :meth:`FaultProxy.close` stops it.
Hand-written because the one tool for this (toxiproxy) is a Go build for three features.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections import deque
from types import TracebackType
from typing import Final, Self

HOST: Final = "127.0.0.1"
CHUNK: Final = 65536
_LINGER_RST: Final = struct.pack("ii", 1, 0)  # close() then sends RST, not FIN


class _Pipe:
    """One client connection and its upstream twin."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    def __init__(self, upstream_port: int, *, port: int = 0, upstream_host: str = HOST) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._requested_port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._latency = 0.0
        self._open = asyncio.Event()  # set: bytes flow; clear: blackhole
        self.connections = 0
        self.resets = 0
        self.port = 0

    # ------------------------------------------------------------------ from the test

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def latency(self, seconds: float) -> None:
        self._latency = max(seconds, 0.0)

    def blackhole(self, on: bool) -> None:
        self._call(self._open.clear if on else self._open.set)

    def reset(self) -> int:
        """Abort every open connection with RST; returns how many there were."""

        async def abort_all() -> int:
            pipes = list(self._pipes)
            for pipe in pipes:
                pipe.abort()
            self._pipes.clear()
            self.resets += len(pipes)
            return len(pipes)

        return asyncio.run_coroutine_threadsafe(abort_all(), self._loop).result(10)

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for pipe in list(self._pipes):
                pipe.abort()
            self._pipes.clear()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, action: object) -> None:
        assert callable(action)
        self._loop.call_soon_threadsafe(action)

    # ------------------------------------------------------------------ in the loop

    async def _listen(self) -> None:
        self._open.set()
        self._server = await asyncio.start_server(self._accept, HOST, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pipe = _Pipe(writer)
        self._pipes.add(pipe)
        self.connections += 1
        try:
            await self._open.wait()
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except (OSError, asyncio.CancelledError):
            self._pipes.discard(pipe)
            writer.transport.abort()
            return
        pipe.upstream = up_writer
        pipe.tasks = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        await asyncio.gather(*pipe.tasks, return_exceptions=True)
        self._pipes.discard(pipe)
        for end in (writer, up_writer):
            end.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction through a delay line; a closed end closes the other."""
        line: deque[tuple[float, bytes]] = deque()
        arrived = asyncio.Event()
        done = False

        async def deliver() -> None:
            while line or not done:
                if not line:
                    arrived.clear()
                    await arrived.wait()
                    continue
                due, data = line[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._open.wait()
                line.popleft()
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                await self._open.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                line.append((time.monotonic() + self._latency, data))
                arrived.set()
            done = True  # end of stream: what is in the line still goes out
            arrived.set()
            with contextlib.suppress(OSError):
                await sender
        except OSError:
            pass
        finally:
            sender.cancel()
            writer.transport.abort()
