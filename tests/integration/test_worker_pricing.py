"""Through Kafka, the worker writes exactly what the engine computes, and every bad input
lands in the dead-letter topic untouched, with its reason and origin."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from test_worker_harness import (
    by_key,
    engine_for,
    expected_by_key,
    make_topics,
    produce,
    publish_rules,
    read_all,
    wait_until_committed,
)

from cashback.domain.engine import ACCRUALS, NOTIFICATIONS
from events_factory import TRACEPARENT, bad_events, ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


@pytest.mark.conformance
def test_outputs_equal_the_engine_offline(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Any
) -> None:
    topics = make_topics(topic_factory, partitions=3)
    documents = (ruleset_document(), ruleset_document("partner", percent="1", notify=False))
    publish_rules(kafka_bootstrap, topics.rules, *documents)
    events = stream(1500, seed=11)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    workers(kafka_bootstrap, topics, group=group, extra=["--batch-size", "200"]).start()
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events))

    expected = expected_by_key(engine_for(*documents), events)
    accruals = read_all(kafka_bootstrap, topics.accruals)
    notifications = read_all(kafka_bootstrap, topics.notifications)
    assert by_key(accruals) == expected[ACCRUALS]
    assert by_key(notifications) == expected[NOTIFICATIONS]
    assert {orjson.loads(r.value or b"")["ruleset"] for r in accruals} == {"retail", "partner"}
    assert read_all(kafka_bootstrap, topics.dlq) == []
    # Headers: content type, schema, the input's event id, and the trace when it had one.
    traced = {orjson.loads(e.value or b"")["event_id"] for e in events if e.headers}
    for record in accruals:
        event_id = orjson.loads(record.value or b"")["event_id"]
        assert record.header("content-type") == b"application/json"
        assert record.header("schema") == b"accrual/v1"
        assert record.header("event_id") == event_id.encode()
        assert record.header("traceparent") == (TRACEPARENT if event_id in traced else None)


@pytest.mark.conformance
def test_every_bad_input_is_dead_lettered_untouched(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Any
) -> None:
    topics = make_topics(topic_factory, partitions=1)
    publish_rules(kafka_bootstrap, topics.rules, ruleset_document())
    bad = bad_events(max_event_bytes=2048)
    good = stream(20, seed=2)
    produce(kafka_bootstrap, topics.input, [*bad[:2], *good, *bad[2:]])
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group, extra=["--max-event-bytes", "2048"])
    worker.start()
    wait_until_committed(kafka_bootstrap, group, topics.input, len(bad) + len(good))

    inputs = {r.key: r for r in read_all(kafka_bootstrap, topics.input)}
    letters = read_all(kafka_bootstrap, topics.dlq)
    assert [r.key for r in letters] == [b.key for b in bad]
    for event, letter in zip(bad, letters, strict=True):
        source = inputs[event.key]
        assert letter.value == event.value
        assert letter.header("origin") == b"pos-17"
        assert letter.header("error.code") == event.code.encode()
        assert letter.header("error.message")
        assert letter.header("source.topic") == topics.input.encode()
        assert letter.header("source.partition") == str(source.partition).encode()
        assert letter.header("source.offset") == str(source.offset).encode()
    codes = ("invalid_json", "schema_violation", "too_large", "refund_mismatch", "empty")
    for code in (*codes, "duplicate_key"):
        assert worker.metric("cashback_dead_letters_total", code=code) == 1
    assert len(read_all(kafka_bootstrap, topics.accruals)) > 0
