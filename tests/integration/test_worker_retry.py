"""A batch whose dead letter cannot be written is aborted and read again until it can:
nothing is dropped, nothing is committed half-way, nothing is written twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from test_worker_harness import (
    Topics,
    WorkerProcess,
    by_key,
    committed_total,
    engine_for,
    expected_by_key,
    make_topics,
    produce,
    publish_rules,
    read_all,
    wait_for,
    wait_until_committed,
)

from cashback.domain.engine import ACCRUALS
from cashback.runtime.topics import TopicSpec, create_topics
from events_factory import bad_events, ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def test_an_unwritable_dead_letter_fails_its_batch_until_it_can_be_written(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    made = make_topics(topic_factory, partitions=1)
    dlq = f"dlq-later-{uuid.uuid4().hex[:8]}"
    topics = Topics(made.input, made.accruals, made.notifications, dlq, made.rules)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    good = stream(30, seed=41)
    [invalid] = [b for b in bad_events(2048) if b.code == "invalid_json"]
    # First in its partition: nothing after it may be committed before it is written.
    produce(kafka_bootstrap, topics.input, [invalid, *good])
    group = f"g-{uuid.uuid4().hex[:8]}"
    # Fail a delivery to the missing topic in a second rather than after 30 s.
    extra = ["--kafka", "topic.metadata.propagation.max.ms=1000"]
    worker = workers(kafka_bootstrap, topics, group=group, extra=extra).start()

    wait_for(lambda: worker.metric("cashback_batch_retries_total") >= 2, 60, "retries")
    assert worker.metric("cashback_transactions_total", result="aborted") >= 2
    assert committed_total(kafka_bootstrap, group, topics.input) == 0
    assert read_all(kafka_bootstrap, topics.accruals) == []

    create_topics({"bootstrap.servers": kafka_bootstrap}, [TopicSpec(dlq, 1)])
    topic_factory.created.append(dlq)
    wait_until_committed(kafka_bootstrap, group, topics.input, len(good) + 1)
    [letter] = read_all(kafka_bootstrap, dlq)
    assert letter.value == invalid.value
    assert letter.header("error.code") == b"invalid_json"
    expected = expected_by_key(engine_for(document), good)[ACCRUALS]
    assert by_key(read_all(kafka_bootstrap, topics.accruals)) == expected
