"""Helpers behind the Kafka fixtures in conftest.py.

Where the session's broker comes from, in order:
1. ``$KAFKA_BOOTSTRAP_SERVERS`` (an external broker; nothing is started or stopped);
2. a Testcontainers Kafka container (KRaft), when a Docker engine answers and the
   ``testcontainers`` package (extra ``.[docker]``) is installed;
3. a local broker from ``cashback.devtools.local_kafka`` (Java 17 + Maven, no Docker).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from cashback.devtools.local_kafka import LocalKafkaError, start_broker
from cashback.runtime.topics import TopicSpec, create_topics

ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_IMAGE = "CASHBACK_TEST_KAFKA_IMAGE"

# Broker settings for the container that the local broker's server.properties also sets.
_CONTAINER_ENV = {
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_MIN_INSYNC_REPLICAS": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
}


def terminal_printer(config: pytest.Config) -> Callable[[str], None]:
    """Print past pytest's output capture (for the one-off jar download progress)."""
    capman = config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        if capman is None:
            print(message, file=sys.stderr, flush=True)
            return
        with capman.global_and_fixture_disabled():
            print(f"\n[kafka] {message}", file=sys.stderr, flush=True)

    return say


def docker_answers(timeout: float = 5.0) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run([docker, "info"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def testcontainers_installed() -> bool:
    try:
        return importlib.util.find_spec("testcontainers.kafka") is not None
    except ImportError:
        return False


def _container_broker(say: Callable[[str], None]) -> Iterator[str]:
    kafka_module: Any = importlib.import_module("testcontainers.kafka")
    image = os.environ.get(ENV_IMAGE)
    container = kafka_module.KafkaContainer(image) if image else kafka_module.KafkaContainer()
    container = container.with_kraft()
    for key, value in _CONTAINER_ENV.items():
        container = container.with_env(key, value)
    say("starting a Testcontainers Kafka broker (Docker)...")
    container.start()
    try:
        yield str(container.get_bootstrap_server())
    finally:
        container.stop()


def _local_broker(
    tmp_path_factory: pytest.TempPathFactory, say: Callable[[str], None]
) -> Iterator[str]:
    try:
        broker = start_broker(tmp_path_factory.mktemp("kafka"), progress=say)
    except LocalKafkaError as exc:
        pytest.fail(f"cannot start the local Kafka broker: {exc}", pytrace=False)
    say(f"local broker at {broker.bootstrap} ready in {broker.startup_seconds:.1f}s")
    with broker:
        yield broker.bootstrap


def session_broker(
    config: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield a bootstrap address for the whole session; stop what was started afterwards."""
    external = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if external:
        yield external
        return
    say = terminal_printer(config)
    if testcontainers_installed() and docker_answers():
        yield from _container_broker(say)
    else:
        yield from _local_broker(tmp_path_factory, say)


class TopicFactory:
    """``topic_factory(prefix="t", partitions=1, config=None) -> name``: a new, uniquely
    named topic (``<prefix>-<uuid hex>``) that exists with a leader on every partition."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.created: list[str] = []

    def __call__(
        self,
        prefix: str = "test",
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        spec = TopicSpec(name, partitions, config=dict(config or {}))
        create_topics({"bootstrap.servers": self.bootstrap}, [spec])
        self.created.append(name)
        return name

    def delete_created(self, timeout: float = 10.0) -> None:
        """Best effort: keeps a long session's broker small; failures are ignored."""
        if not self.created:
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.delete_topics(self.created, operation_timeout=timeout)
        for future in futures.values():
            with contextlib.suppress(Exception):
                future.result(timeout)
        self.created.clear()
