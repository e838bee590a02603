"""At least once: a crash loses nothing; a repeated output is byte-for-byte the same
record, so consumers de-duplicate by its id."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import orjson
import pytest
from test_worker_harness import (
    WorkerProcess,
    engine_for,
    make_topics,
    produce,
    publish_rules,
    read_all,
    wait_for,
    wait_until_committed,
)

from cashback.domain.engine import ACCRUALS, NOTIFICATIONS
from events_factory import ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka

ID_FIELD = {ACCRUALS: "accrual_id", NOTIFICATIONS: "notification_id"}


@pytest.mark.conformance
def test_a_crash_loses_nothing_and_repeats_are_identical(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory, partitions=4)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(8000, seed=31, customers=200)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"

    def start() -> WorkerProcess:
        extra = ["--processing-guarantee", "at_least_once", "--batch-size", "100"]
        return workers(kafka_bootstrap, topics, group=group, extra=extra).start()

    worker = start()
    assert worker.metric("cashback_build_info", mode="at_least_once") == 1
    wait_for(lambda: worker.metric("cashback_events_consumed_total") >= 2000, 60, "progress")
    time.sleep(0.15)
    worker.kill()
    start()
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events))

    engine = engine_for(document)
    expected: dict[str, dict[str, bytes]] = {ACCRUALS: {}, NOTIFICATIONS: {}}
    for event in events:
        for output in engine.handle(event.value).outputs:
            record_id = orjson.loads(output.value)[ID_FIELD[output.destination]]
            expected[output.destination][record_id] = output.value
    for destination, topic in ((ACCRUALS, topics.accruals), (NOTIFICATIONS, topics.notifications)):
        seen: dict[str, set[bytes]] = defaultdict(set)
        for record in read_all(kafka_bootstrap, topic):
            assert record.value is not None
            seen[orjson.loads(record.value)[ID_FIELD[destination]]].add(record.value)
        assert seen.keys() == expected[destination].keys(), "an output is missing"
        for record_id, values in seen.items():
            assert values == {expected[destination][record_id]}, "a repeat differs"
