"""Shared fixtures. Tests that use the Kafka fixtures are marked ``@pytest.mark.kafka``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kafka_support import TopicFactory, session_broker

# ----------------------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Bootstrap servers ("host:port") of a real broker, started on first use.

    ``$KAFKA_BOOTSTRAP_SERVERS`` if set, else Testcontainers (Docker), else a local
    single-node KRaft broker; see kafka_support.py.
    """
    yield from session_broker(request.config, tmp_path_factory)


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """Call it to create a fresh topic: ``topic_factory("purchases", partitions=3,
    config={"cleanup.policy": "compact"})`` returns the unique name; deleted after the test."""
    factory = TopicFactory(kafka_bootstrap)
    yield factory
    factory.delete_created()
