"""Exactly once under crashes: SIGKILL the worker mid-stream, again and again; a
read_committed reader still sees every accrual once and the exact payout."""

from __future__ import annotations

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

EVENTS = 20_000


@pytest.mark.conformance
def test_sigkill_three_times_mid_stream_still_exactly_once(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory, partitions=4)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(EVENTS, seed=7, customers=500)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    # The same id on every restart: init_transactions then aborts what the killed one left.
    transactional_id = f"tx-{group}"

    def start() -> WorkerProcess:
        extra = ["--batch-size", "100"]
        return workers(
            kafka_bootstrap, topics, group=group, transactional_id=transactional_id, extra=extra
        ).start()

    progress = []
    # Kill a moment after a commit was counted, so the kill lands inside a later batch.
    for consumed, delay in ((1500, 0.13), (2500, 0.29), (3500, 0.07)):
        worker = start()
        wait_for(
            lambda w=worker, n=consumed: w.metric("cashback_events_consumed_total") >= n,
            60,
            f"{consumed} events consumed",
            every=0.05,
        )
        time.sleep(delay)
        worker.kill()
        progress.append(committed_total(kafka_bootstrap, group, topics.input))
    assert progress[0] > 0 and progress[-1] < EVENTS, progress
    start()
    wait_until_committed(kafka_bootstrap, group, topics.input, EVENTS, timeout=120)

    expected = expected_by_key(engine_for(document), events)[ACCRUALS]
    accruals = read_all(kafka_bootstrap, topics.accruals)
    decoded = [orjson.loads(r.value or b"") for r in accruals]
    once = Counter((a["event_id"], a["ruleset"]) for a in decoded)
    expected_payout = sum(orjson.loads(v)["amount_minor"] for vs in expected.values() for v in vs)
    audit = {
        "duplicated": sum(n - 1 for n in once.values()),
        "lost": sum(len(v) for v in expected.values()) - len(once),
        "payout_off_minor": sum(a["amount_minor"] for a in decoded) - expected_payout,
    }
    assert audit == {"duplicated": 0, "lost": 0, "payout_off_minor": 0}, audit
    assert by_key(accruals) == expected
