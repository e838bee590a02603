"""`/metrics`, `/healthz` and `/readyz` on one port, served from a daemon thread.

`/healthz` answers 503 when the poll loop has not finished an iteration for
`stale_after` seconds (a stuck client or a hung broker call): restart me.
`/readyz` answers 503 until rule sets are loaded and input is being consumed: do not
route to me yet. Neither touches Kafka, so a probe never blocks on the broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

TEXT: Final = "text/plain; charset=utf-8"


class Health:
    """Liveness and readiness, written by the worker thread and read by the HTTP threads."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._last_beat = clock()
        self._ready = False

    def beat(self) -> None:
        """The poll loop finished an iteration (or a startup step made progress)."""
        self._last_beat = self._clock()

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    @property
    def ready(self) -> bool:
        return self._ready

    def silent_for(self) -> float:
        return self._clock() - self._last_beat

    @property
    def alive(self) -> bool:
        return self.silent_for() <= self.stale_after


class HealthServer:
    """A tiny threaded HTTP server; `port` is the bound port (useful with port 0)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health) -> None:
        handler = _handler_for(registry, health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cashback-http", daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler_for(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                silent = health.silent_for()
                if health.alive:
                    self._send(200, TEXT, b"ok\n")
                else:
                    self._send(503, TEXT, f"poll loop silent for {silent:.0f}s\n".encode())
            elif path == "/readyz":
                if health.ready:
                    self._send(200, TEXT, b"ready\n")
                else:
                    self._send(503, TEXT, b"not ready\n")
            else:
                self._send(404, TEXT, b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds are not worth a log line each."""

    return Handler
