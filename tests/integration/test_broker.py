"""The test broker is fit for exactly-once work, and topic creation is idempotent."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from cashback.runtime.rules_feed import MAX_DOCUMENT_BYTES
from cashback.runtime.topics import TopicSpec, create_topics, default_topic_specs
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def _read(
    bootstrap: str, topic: str, isolation: str, want: int, timeout: float = 30.0
) -> list[bytes]:
    """Values of partition 0 from the beginning, until ``want`` arrived or the log end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            value = message.value()
            assert isinstance(value, bytes)
            values.append(value)
        # Drain briefly: a record that should be invisible must not show up late either.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                value = message.value()
                assert isinstance(value, bytes)
                values.append(value)
    finally:
        consumer.close()
    return values


def test_aborted_records_are_invisible_to_read_committed(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory("txn")
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "transactional.id": f"test-txn-{uuid.uuid4().hex}",
            "linger.ms": 0,
        }
    )
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=f"aborted-{i}".encode(), partition=0)
    producer.flush(30)
    producer.abort_transaction(30)

    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, value=f"committed-{i}".encode(), partition=0)
    producer.commit_transaction(30)

    committed = [f"committed-{i}".encode() for i in range(3)]
    aborted = [f"aborted-{i}".encode() for i in range(3)]
    # The committed records sit after the aborted ones in the log, so receiving them
    # proves the read_committed consumer skipped (not merely did not reach) the aborted.
    assert _read(kafka_bootstrap, topic, "read_committed", want=3) == committed
    assert _read(kafka_bootstrap, topic, "read_uncommitted", want=6) == aborted + committed


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name: len(metadata.topics[name].partitions) for name in names}


def _topic_config(bootstrap: str, topic: str, key: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return str(entries[key].value)


def test_create_topics_is_idempotent_and_compacts_rules(kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    specs = default_topic_specs(
        [f"purchases-{suffix}", f"refunds-{suffix}"],
        accruals=f"accruals-{suffix}",
        notifications=f"notifications-{suffix}",
        dlq=f"dlq-{suffix}",
        rules=f"rules-{suffix}",
        partitions=3,
        replication=1,
    )
    names = [spec.name for spec in specs]
    conf = {"bootstrap.servers": kafka_bootstrap}
    try:
        assert create_topics(conf, specs) == names
        assert create_topics(conf, specs) == []
        extra = TopicSpec(f"extra-{suffix}", 2)
        assert create_topics(conf, [*specs, extra]) == [extra.name]
        names.append(extra.name)

        counts = _partition_counts(kafka_bootstrap, names)
        assert counts[f"purchases-{suffix}"] == 3
        assert counts[f"dlq-{suffix}"] == 3
        assert counts[f"rules-{suffix}"] == 1
        assert counts[extra.name] == 2
        assert _topic_config(kafka_bootstrap, f"rules-{suffix}", "cleanup.policy") == "compact"
        rules_limit = _topic_config(kafka_bootstrap, f"rules-{suffix}", "max.message.bytes")
        assert int(rules_limit) > MAX_DOCUMENT_BYTES  # a 4 MiB rule document fits
        assert _topic_config(kafka_bootstrap, f"accruals-{suffix}", "cleanup.policy") == "delete"
    finally:
        AdminClient(conf).delete_topics(names, operation_timeout=10)
