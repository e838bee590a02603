"""Scaling out: two instances share the group, a third joins mid-stream; every accrual
is still written exactly once and the newcomer takes a share of the work."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
from test_worker_harness import (
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
from events_factory import ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


@pytest.mark.conformance
def test_a_third_instance_joins_mid_stream_without_duplicates(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory, partitions=6)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(9000, seed=13, customers=300)
    produce(kafka_bootstrap, topics.input, events[:1500])
    group = f"g-{uuid.uuid4().hex[:8]}"

    def start(name: str) -> WorkerProcess:
        return workers(
            kafka_bootstrap,
            topics,
            group=group,
            transactional_id=f"tx-{group}-{name}",
            extra=["--batch-size", "50"],
        ).start()

    third_ready = threading.Event()

    def trickle() -> None:
        """The rest of the stream arrives over a few seconds, while the group changes; the
        last third only once the newcomer is in (a faust instance takes ~18 s to join)."""
        for begin in range(1500, len(events), 250):
            if begin >= 6000:
                third_ready.wait(120)
            produce(kafka_bootstrap, topics.input, events[begin : begin + 250])
            time.sleep(0.2)

    pair = [start("a"), start("b")]
    wait_for(
        lambda: sum(w.metric("cashback_events_consumed_total") for w in pair) >= 1000,
        60,
        "the first two instances to make progress",
    )
    producer = threading.Thread(target=trickle)
    producer.start()
    joined = time.monotonic()
    third = start("c")
    third_ready.set()
    print(f"third ready after {time.monotonic() - joined:.1f}s")
    assert committed_total(kafka_bootstrap, group, topics.input) < len(events)
    producer.join()
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events), timeout=120)

    assert third.metric("cashback_events_consumed_total") > 0
    expected = expected_by_key(engine_for(document), events)[ACCRUALS]
    accruals = read_all(kafka_bootstrap, topics.accruals)
    once = Counter(orjson.loads(r.value or b"")["accrual_id"] for r in accruals)
    assert max(once.values()) == 1
    assert by_key(accruals) == expected
