"""What only the faust runtime does at start: refuse exactly once on topics that are not
co-partitioned (naming each topic and count), and refuse librdkafka-only properties."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from test_worker_harness import FAUST, Topics, WorkerProcess, publish_rules

from events_factory import ruleset_document
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka


def test_exactly_once_refuses_outputs_not_copartitioned_with_the_input(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = Topics(
        input=topic_factory("purchases", 3),
        accruals=topic_factory("accruals", 3),
        notifications=topic_factory("notifications", 3),
        dlq=topic_factory("dlq", 1),
        rules=topic_factory("rules", 1, {"cleanup.policy": "compact"}),
    )
    publish_rules(kafka_bootstrap, topics.rules, ruleset_document())
    worker = workers(kafka_bootstrap, topics, group=f"g-{uuid.uuid4().hex[:8]}", runtime=FAUST)
    worker.start(ready=False)
    assert worker.proc is not None
    assert worker.proc.wait(60) == 2
    refusal = next(line for line in worker.logs() if line.get("msg", "").startswith("refusing"))
    assert f"{topics.input}=3" in refusal["msg"] and f"{topics.dlq}=1" in refusal["msg"]
    assert refusal["partitions"][topics.dlq] == 1


def test_librdkafka_only_properties_are_refused_at_start(
    kafka_bootstrap: str, workers: Callable[..., WorkerProcess]
) -> None:
    topics = Topics("in", "acc", "not", "dlq", "")
    extra = ["--kafka", "statistics.interval.ms=1000"]
    worker = workers(kafka_bootstrap, topics, group="g-refused", runtime=FAUST, extra=extra)
    worker.start(ready=False)
    assert worker.proc is not None
    assert worker.proc.wait(60) == 2
    refusal = next(line for line in worker.logs() if "problems" in line)
    assert any("statistics.interval.ms is librdkafka-only" in p for p in refusal["problems"])
