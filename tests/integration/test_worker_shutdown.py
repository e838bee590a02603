"""SIGTERM: the batch in hand is committed, the group left, exit 0 within seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition
from test_worker_harness import (
    WorkerProcess,
    by_key,
    committed_total,
    engine_for,
    expected_by_key,
    group_members,
    make_topics,
    offsets_reader,
    produce,
    publish_rules,
    read_all,
    wait_for,
)

from cashback.domain.engine import ACCRUALS
from events_factory import Event, ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


@pytest.mark.conformance
def test_sigterm_commits_the_batch_in_hand_and_leaves_the_group(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(6000, seed=5)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group, extra=["--batch-size", "50"]).start()
    wait_for(lambda: worker.metric("cashback_events_consumed_total") >= 500, 60, "progress")

    started = time.monotonic()
    assert worker.terminate() == 0
    assert time.monotonic() - started < 5
    assert group_members(kafka_bootstrap, group) == 0
    # What is visible is exactly the outputs of the inputs below the committed offsets.
    committed = committed_total(kafka_bootstrap, group, topics.input)
    assert 500 <= committed < len(events)
    inputs = read_all(kafka_bootstrap, topics.input)
    consumer = offsets_reader(kafka_bootstrap, group)
    try:
        offsets = consumer.committed(
            [TopicPartition(topics.input, p) for p in {r.partition for r in inputs}], timeout=10
        )
    finally:
        consumer.close()
    upto = {tp.partition: tp.offset for tp in offsets}
    done = [Event(r.key, r.value) for r in inputs if r.offset < upto[r.partition]]
    expected = expected_by_key(engine_for(document), done)[ACCRUALS]
    assert by_key(read_all(kafka_bootstrap, topics.accruals)) == expected
