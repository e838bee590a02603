"""Helpers behind the Kafka fixtures in conftest.py.

Where the session's broker comes from:
1. ``$KAFKA_BOOTSTRAP_SERVERS`` (an external broker; nothing is started or stopped);
2. ``CASHBACK_TEST_BROKER=testcontainers``: a Kafka container (KRaft) started through
   testcontainers on the Docker engine in ``$DOCKER_HOST`` (kafka_container.py); chosen
   explicitly only, never because a socket happens to answer (``make test-kafka-containers``
   runs the broker tests this way on podman's Docker API);
3. otherwise a local broker from ``cashback.devtools.local_kafka`` (Java 17 + Maven).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from cashback.devtools.local_kafka import LocalKafkaError, start_broker
from cashback.runtime.topics import TopicSpec, create_topics
from kafka_container import container_broker

ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_BROKER = "CASHBACK_TEST_BROKER"
BROKER_CHOICES = ("local", "testcontainers")


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


def docker_answers(timeout: float = 30.0) -> str | None:
    """None when the Docker engine of ``$DOCKER_HOST`` (or the default) answers, else why not."""
    try:
        docker: Any = importlib.import_module("docker")
        client = docker.from_env(timeout=int(timeout))
        client.ping()
        client.close()
    except ImportError:
        return "the docker SDK is not installed (make install brings the [docker] extra)"
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        where = os.environ.get("DOCKER_HOST", "the default socket")
        return f"no Docker engine answers at {where}: {exc}"
    return None


def testcontainers_installed() -> bool:
    try:
        return importlib.util.find_spec("testcontainers.core.container") is not None
    except ImportError:
        return False


def _container_broker(say: Callable[[str], None]) -> Iterator[str]:
    if not testcontainers_installed():
        pytest.fail(
            f"{ENV_BROKER}=testcontainers but testcontainers is not installed (make install)",
            pytrace=False,
        )
    problem = docker_answers()
    if problem is not None:
        pytest.fail(f"{ENV_BROKER}=testcontainers but {problem}", pytrace=False)
    try:
        yield from container_broker(say)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


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
    choice = os.environ.get(ENV_BROKER, "").strip() or "local"
    if choice not in BROKER_CHOICES:
        pytest.fail(f"{ENV_BROKER}={choice}: choose one of {', '.join(BROKER_CHOICES)}")
    if choice == "testcontainers":
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
