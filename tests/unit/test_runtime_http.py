"""Health: /healthz goes stale without loop turns, /readyz follows readiness, /metrics
serves the registry it was given."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from cashback.runtime.http import Health, HealthServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_liveness_goes_stale_and_recovers_with_a_beat() -> None:
    clock = FakeClock()
    health = Health(stale_after=30, clock=clock)
    assert health.alive
    clock.now += 31
    assert not health.alive
    health.beat()
    assert health.alive


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Health, FakeClock]]:
    registry = CollectorRegistry()
    Counter("cashback_test_total", "a test counter", registry=registry).inc(3)
    clock = FakeClock()
    health = Health(stale_after=30, clock=clock)
    server = HealthServer("127.0.0.1", 0, registry, health).start()
    yield server, health, clock
    server.close()


def get(server: HealthServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_endpoints(served: tuple[HealthServer, Health, FakeClock]) -> None:
    server, health, clock = served
    assert server.port > 0
    assert get(server, "/readyz")[0] == 503
    health.set_ready(True)
    assert get(server, "/readyz") == (200, "ready\n")
    assert get(server, "/healthz") == (200, "ok\n")
    clock.now += 45
    status, body = get(server, "/healthz")
    assert (status, body) == (503, "poll loop silent for 45s\n")
    status, body = get(server, "/metrics?x=1")
    assert status == 200
    assert "cashback_test_total 3.0" in body
    assert "python_gc" not in body  # its own registry, not the process-wide default
    assert get(server, "/other")[0] == 404
