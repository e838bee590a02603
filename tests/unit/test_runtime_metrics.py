"""Metrics: one registry passed in, counts added once per batch, no ids in labels."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry

from cashback.domain.catalog import Catalog
from cashback.domain.rules import parse_ruleset
from cashback.runtime.batch import BatchStats
from cashback.runtime.clients import consumer_lags
from cashback.runtime.metrics import Metrics
from events_factory import ruleset_document

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry, guarantee="exactly_once", clock=lambda: NOW)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def stats(**overrides: object) -> BatchStats:
    found = BatchStats(
        events=3,
        consumed=Counter({"purchases": 3}),
        outcomes=Counter({"accrued": 2, "dead_letter": 1}),
        dead_letters=Counter({"too_large": 1}),
        accruals=Counter({("RUB", "retail", 2, "accrual"): 2}),
        payout_minor=Counter({("RUB", "retail", 2, "accrual"): 700}),
        reversed_minor=Counter({("RUB", "retail", 2, "reversal"): 90}),
        purchase_minor=Counter({"RUB": 35_000}),
        written=Counter({"acc": 2, "dlq": 1}),
        latest_event_us=int(datetime(2026, 12, 1, 11, 59, 30, tzinfo=UTC).timestamp()) * 1_000_000,
    )
    for key, item in overrides.items():
        setattr(found, key, item)
    return found


def test_series_exist_at_zero_before_the_first_batch(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    assert value(registry, "cashback_events_processed_total", outcome="not_eligible") == 0
    assert value(registry, "cashback_dead_letters_total", code="refund_mismatch") == 0
    assert value(registry, "cashback_transactions_total", result="aborted") == 0
    assert value(registry, "cashback_build_info", version="0.1.0", mode="exactly_once") == 1
    assert value(registry, "cashback_ready") == 0


def test_a_batch_is_added_per_label_set(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.record_batch(stats(), seconds=0.04)
    metrics.record_batch(stats(), seconds=0.06)
    assert value(registry, "cashback_events_consumed_total", topic="purchases") == 6
    assert value(registry, "cashback_events_processed_total", outcome="accrued") == 4
    assert value(registry, "cashback_dead_letters_total", code="too_large") == 2
    labels = {"currency": "RUB", "ruleset": "retail", "version": "2", "kind": "accrual"}
    assert value(registry, "cashback_accruals_total", **labels) == 4
    assert value(registry, "cashback_payout_minor_total", **labels) == 1400
    back = dict(labels, kind="reversal")
    assert value(registry, "cashback_payout_reversed_minor_total", **back) == 180
    assert value(registry, "cashback_purchase_amount_minor_total", currency="RUB") == 70_000
    assert value(registry, "cashback_records_written_total", topic="dlq") == 2
    assert value(registry, "cashback_batch_duration_seconds_count") == 2
    assert value(registry, "cashback_batch_duration_seconds_sum") == pytest.approx(0.1)
    assert value(registry, "cashback_batch_events_sum") == 6
    assert value(registry, "cashback_event_time_lag_seconds") == 30


def test_no_label_carries_an_id(registry: CollectorRegistry, metrics: Metrics) -> None:
    metrics.record_batch(stats(), seconds=0.01)
    allowed = {"topic", "outcome", "code", "currency", "ruleset", "version", "kind", "result",
               "error", "reason", "partition", "mode", "le"}  # fmt: skip
    for family in registry.collect():
        if not family.name.startswith("cashback_"):
            continue  # process_* and python_* from prometheus_client itself
        for sample in family.samples:
            assert set(sample.labels) <= allowed, (sample.name, sample.labels)


def test_rule_sets_and_consumer_lag_follow_the_latest_state(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    catalog = Catalog.of(
        parse_ruleset(ruleset_document(name, version))
        for name, version in (("retail", 1), ("retail", 3), ("fuel", 1))
    )
    metrics.show_catalog(catalog)
    assert value(registry, "cashback_ruleset_versions", ruleset="retail") == 2
    assert value(registry, "cashback_ruleset_latest_version", ruleset="retail") == 3
    metrics.show_catalog(Catalog.of([parse_ruleset(ruleset_document("retail", 1))]))
    assert value(registry, "cashback_ruleset_versions", ruleset="fuel") is None

    metrics.show_consumer_lag({("in", 0): 5, ("in", 1): 0})
    assert value(registry, "cashback_consumer_lag", topic="in", partition="0") == 5
    metrics.show_consumer_lag({("in", 1): 2})
    assert value(registry, "cashback_consumer_lag", topic="in", partition="0") is None
    assert value(registry, "cashback_consumer_lag", topic="in", partition="1") == 2


def test_consumer_lag_from_librdkafka_statistics() -> None:
    def partition(number: int, **fields: object) -> dict[str, object]:
        found: dict[str, object] = {
            "partition": number, "desired": True, "app_offset": -1001,
            "committed_offset": -1001, "hi_offset": -1001, "ls_offset": -1001,
        }  # fmt: skip
        found.update(fields)
        return found

    statistics = {
        "topics": {
            "in": {
                "partitions": {
                    "0": partition(0, app_offset=90, hi_offset=120, ls_offset=100),
                    "1": partition(1, committed_offset=50, hi_offset=80),
                    "2": partition(2, hi_offset=80),  # nothing consumed nor committed: unknown
                    "3": partition(3, desired=False, app_offset=1, hi_offset=9),
                    "-1": partition(-1),
                }
            }
        }
    }
    assert consumer_lags(orjson.dumps(statistics)) == {("in", 0): 10, ("in", 1): 30}


def test_earning_purchase_base_and_committed_offsets(
    registry: CollectorRegistry, metrics: Metrics
) -> None:

    metrics.record_batch(stats(earning_minor=Counter({("RUB", "retail", 2): 35_000})), 0.01)
    labels = {"currency": "RUB", "ruleset": "retail", "version": "2"}
    assert value(registry, "cashback_earning_purchase_amount_minor_total", **labels) == 35_000
    metrics.show_committed([TopicPartition("purchases", 0, 42), TopicPartition("purchases", 1)])
    assert value(registry, "cashback_committed_offset", topic="purchases", partition="0") == 42
    assert value(registry, "cashback_committed_offset", topic="purchases", partition="1") is None
    metrics.forget_partitions([TopicPartition("purchases", 0)])
    assert value(registry, "cashback_committed_offset", topic="purchases", partition="0") is None
    metrics.expect_rule_refusals(["invalid"])
    assert value(registry, "cashback_rule_documents_refused_total", reason="invalid") == 0
