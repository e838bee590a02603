"""A single-node KRaft broker in a container, started through testcontainers.

testcontainers' own ``KafkaContainer`` drives Confluent's image (its start script calls
``/etc/confluent/docker/...``), so it cannot start ``apache/kafka``. This one configures
``apache/kafka`` (or any image honouring its ``KAFKA_*`` variables, such as the local one
from ``deploy/image/bases.sh kafka``) directly: the broker's port is published on
127.0.0.1 at a port picked first, so the advertised listener is known before the start.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

ENV_IMAGE: Final = "CASHBACK_TEST_KAFKA_IMAGE"
DEFAULT_IMAGE: Final = "apache/kafka:4.4.0"  # the version deploy/local-kafka/pom.xml runs
CONTAINER_PORT: Final = 9092
START_TIMEOUT_SECONDS: Final = 120.0

# The local broker's server.properties settings (devtools/local_kafka.py), as variables.
BROKER_ENV: Final = {
    "KAFKA_NODE_ID": "1",
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT"
    ),
    # The broker reaches itself (transaction markers, AddPartitionsToTxn) on a listener of
    # its own: the PLAINTEXT one advertises the host's published port, unknown inside.
    "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
    "KAFKA_NUM_PARTITIONS": "1",
    "KAFKA_DEFAULT_REPLICATION_FACTOR": "1",
    "KAFKA_MIN_INSYNC_REPLICAS": "1",
    "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS": "10",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    "KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS": "10",
    "KAFKA_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS": "5000",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
    "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
}


def image_name() -> str:
    return os.environ.get(ENV_IMAGE, "").strip() or DEFAULT_IMAGE


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _broker_seen(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except KafkaException:
        return False


def container_broker(say: Callable[[str], None]) -> Iterator[str]:
    """Yield ``127.0.0.1:PORT`` of a fresh broker container; stop and remove it afterwards."""
    core: Any = importlib.import_module("testcontainers.core.container")
    image = image_name()
    port = _free_port()
    bootstrap = f"127.0.0.1:{port}"
    container = core.DockerContainer(image)
    # Inside its own network namespace the broker listens on every interface; from the
    # host only the port published on 127.0.0.1 reaches it. (with_bind_ports takes no host
    # address, so the docker SDK's (address, port) form goes into `ports` directly.)
    container.ports[f"{CONTAINER_PORT}/tcp"] = ("127.0.0.1", port)
    env = {
        **BROKER_ENV,
        "CLUSTER_ID": uuid.uuid4().hex[:22],
        "KAFKA_LISTENERS": (
            f"PLAINTEXT://:{CONTAINER_PORT},BROKER://localhost:9094,CONTROLLER://localhost:9093"
        ),
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{bootstrap},BROKER://localhost:9094",
    }
    for key, value in env.items():
        container = container.with_env(key, value)
    say(f"starting a Kafka container from {image} through testcontainers...")
    started = time.monotonic()
    container.start()
    try:
        deadline = started + START_TIMEOUT_SECONDS
        while not _broker_seen(bootstrap):
            if time.monotonic() > deadline:
                logs = b"".join(container.get_logs()).decode(errors="replace")[-2000:]
                raise RuntimeError(
                    f"the Kafka container from {image} was not ready in "
                    f"{START_TIMEOUT_SECONDS:.0f}s; its last output:\n{logs}"
                )
            time.sleep(0.5)
        say(f"container broker at {bootstrap} ready in {time.monotonic() - started:.1f}s")
        yield bootstrap
    finally:
        container.stop()
