"""Shared fixtures. Tests that use the Kafka fixtures are marked ``@pytest.mark.kafka``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engines import NATIVE, NATIVE_REQUIRED
from kafka_support import TopicFactory, session_broker


def pytest_sessionstart(session: pytest.Session) -> None:
    if NATIVE_REQUIRED and NATIVE is None:
        raise pytest.UsageError(
            "CASHBACK_REQUIRE_NATIVE=1 but the native engine is not built (make install builds"
            " it with cargo; NATIVE=0 make test runs without it)"
        )


def pytest_report_header() -> str:
    return f"pricing engines under test: python{' + native' if NATIVE else ' only'}"


# ----------------------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Bootstrap servers ("host:port") of a real broker, started on first use.

    ``$KAFKA_BOOTSTRAP_SERVERS`` if set, else a Kafka container when
    ``CASHBACK_TEST_BROKER=testcontainers``, else a local single-node KRaft broker; see
    kafka_support.py.
    """
    yield from session_broker(request.config, tmp_path_factory)


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """Call it to create a fresh topic: ``topic_factory("purchases", partitions=3,
    config={"cleanup.policy": "compact"})`` returns the unique name; deleted after the test."""
    factory = TopicFactory(kafka_bootstrap)
    yield factory
    factory.delete_created()
