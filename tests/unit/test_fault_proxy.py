"""The fault proxy against a local echo server: it forwards, delays, resets, holds."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cashback.devtools.fault_proxy import FaultProxy


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # a reset is what some tests do
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def _round_trip(port: int, payload: bytes = b"ping", timeout: float = 5.0) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        started = time.monotonic()
        conn.sendall(payload)
        received = b""
        while len(received) < len(payload):
            received += conn.recv(65536)
        assert received == payload
        return time.monotonic() - started


def test_forwards_and_adds_latency(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        assert _round_trip(proxy.port) < 0.5
        proxy.latency(0.3)
        assert _round_trip(proxy.port) >= 0.55, "0.3 s each way"
        proxy.latency(0)
        assert _round_trip(proxy.port) < 0.5


def test_reset_aborts_open_connections(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        conn.sendall(b"x")
        assert conn.recv(1) == b"x"
        assert proxy.reset() == 1
        try:
            got = conn.recv(1)  # an RST: reset by peer, or end of stream
        except OSError:
            got = b""
        assert got == b""
        conn.close()
        assert _round_trip(proxy.port) < 1.0, "new connections work again"


def test_blackhole_holds_bytes_until_lifted(echo_port: int) -> None:
    with FaultProxy(echo_port) as proxy:
        proxy.blackhole(True)
        with pytest.raises(TimeoutError):
            _round_trip(proxy.port, timeout=1.0)
        proxy.blackhole(False)
        assert _round_trip(proxy.port) < 1.0
