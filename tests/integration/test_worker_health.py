"""/healthz, /readyz and /metrics of a running worker, and readiness waiting on rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from test_worker_harness import (
    Topics,
    WorkerProcess,
    engine_for,
    make_topics,
    produce,
    publish_rules,
    wait_for,
    wait_until_committed,
)

from cashback.runtime.topics import TopicSpec, create_topics
from events_factory import ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def test_health_endpoints_and_metric_series(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(200, seed=3)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = workers(kafka_bootstrap, topics, group=group).start()
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events))

    assert worker.get("/healthz") == (200, "ok\n")
    assert worker.get("/readyz") == (200, "ready\n")
    assert worker.get("/nowhere")[0] == 404
    assert worker.metric("cashback_events_consumed_total", topic=topics.input) == 200
    assert worker.metric("cashback_events_processed_total") == 200
    assert worker.metric("cashback_ruleset_latest_version", ruleset="retail") == 1
    assert worker.metric("cashback_ready") == 1
    assert worker.metric("cashback_transactions_total", result="committed") >= 1
    engine = engine_for(document)
    handled = [engine.handle(e.value) for e in events]
    amounts = [a.amount_minor for h in handled for a in h.accruals]
    credited = sum(a for a in amounts if a > 0)
    debited = -sum(a for a in amounts if a < 0)
    assert debited > 0
    assert worker.metric("cashback_payout_minor_total", ruleset="retail") == credited
    assert worker.metric("cashback_payout_reversed_minor_total", ruleset="retail") == debited
    text = worker.get("/metrics")[1]
    for series in (
        "cashback_dead_letters_total{",
        "cashback_accruals_total{",
        "cashback_purchase_amount_minor_total{",
        "cashback_batch_duration_seconds_bucket{",
        "cashback_batch_events_bucket{",
        "cashback_event_time_lag_seconds ",
        "cashback_records_written_total{",
        "cashback_ruleset_versions{",
    ):
        assert series in text, series
    # librdkafka statistics arrive every 5 s; the partitions are drained, so lag is 0.
    wait_for(lambda: "cashback_consumer_lag{" in worker.get("/metrics")[1], 20, "lag series")
    assert worker.metric("cashback_consumer_lag", topic=topics.input) == 0
    for line in worker.logs():
        assert "C-0" not in str(line), "a customer id was logged"


def test_not_ready_until_the_rules_topic_is_read(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory)
    missing = f"rules-later-{uuid.uuid4().hex[:8]}"
    later = Topics(topics.input, topics.accruals, topics.notifications, topics.dlq, missing)
    worker = workers(kafka_bootstrap, later, group=f"g-{uuid.uuid4().hex[:8]}").start(ready=False)
    wait_for(
        lambda: any(
            line.get("msg") == "rules topic not found; waiting for it" for line in worker.logs()
        ),
        30,
        "waiting log",
    )
    assert worker.get("/readyz")[0] == 503
    assert worker.get("/healthz")[0] == 200
    create_topics(
        {"bootstrap.servers": kafka_bootstrap},
        [TopicSpec(missing, 1, config={"cleanup.policy": "compact"})],
    )
    topic_factory.created.append(missing)
    worker.wait_ready()
