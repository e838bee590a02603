"""Every metric the worker exports, in one place, on a registry that is passed in.

Counts are summed per batch (see `batch.BatchStats`) and added here once per label set,
so the per-event cost of metrics is a dict increment. Label values are topics, partitions,
currencies, rule set names and versions, outcomes and error codes: never an id of a
customer, purchase or event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

from cashback import __version__
from cashback.domain.catalog import Catalog
from cashback.domain.engine import OUTCOME_NAMES
from cashback.domain.events import ERROR_CODES
from cashback.runtime.batch import INTERNAL_ERROR, BatchStats

COMMITTED: Final = "committed"
ABORTED: Final = "aborted"
BATCH_SECONDS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_EVENTS: Final = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
ACCRUAL_LABELS: Final = ("currency", "ruleset", "version", "kind")
EARNING_LABELS: Final = ("currency", "ruleset", "version")


class Metrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        guarantee: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._children: dict[tuple[int, Hashable], Any] = {}
        self._lag_labels: set[tuple[str, str]] = set()
        self._committed_labels: set[tuple[str, str]] = set()
        self._ruleset_names: set[str] = set()

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.consumed = counter(
            "cashback_events_consumed_total", "Input records consumed", ("topic",)
        )
        self.outcomes = counter(
            "cashback_events_processed_total", "Input records priced, by outcome", ("outcome",)
        )
        self.dead_letters = counter(
            "cashback_dead_letters_total", "Records sent to the dead-letter topic", ("code",)
        )
        self.accruals = counter(
            "cashback_accruals_total", "Accrual and reversal records written", ACCRUAL_LABELS
        )
        self.payout = counter(
            "cashback_payout_minor_total",
            "Cashback credited: the sum of positive amount_minor written",
            ACCRUAL_LABELS,
        )
        self.reversed = counter(
            "cashback_payout_reversed_minor_total",
            "Cashback taken back: the sum of -amount_minor of negative amounts written",
            ACCRUAL_LABELS,
        )
        self.purchases = counter(
            "cashback_purchase_amount_minor_total",
            "Order totals of valid purchases seen, in minor units",
            ("currency",),
        )
        # The finance guard's base: payout over the totals of the orders that earned from
        # the same rule set version (docs/decisions.md, "Effective cashback rate").
        self.earning_purchases = counter(
            "cashback_earning_purchase_amount_minor_total",
            "Order totals of purchases that earned cashback from a rule set version, minor units",
            EARNING_LABELS,
        )
        self.written = counter(
            "cashback_records_written_total", "Records written, by output topic", ("topic",)
        )
        self.batch_seconds = Histogram(
            "cashback_batch_duration_seconds",
            "Time from a batch consumed to its outputs and offsets committed",
            buckets=BATCH_SECONDS,
            registry=registry,
        )
        self.batch_events = Histogram(
            "cashback_batch_events",
            "Records per processed batch",
            buckets=BATCH_EVENTS,
            registry=registry,
        )
        self.event_time_lag = gauge(
            "cashback_event_time_lag_seconds",
            "Now minus the latest event time (occurred_at) of the last batch",
        )
        self.consumer_lag = gauge(
            "cashback_consumer_lag",
            "Records behind the partition end, from librdkafka statistics",
            ("topic", "partition"),
        )
        self.committed_offset = gauge(
            "cashback_committed_offset",
            "Next input offset committed with a batch's outputs, per assigned partition",
            ("topic", "partition"),
        )
        self.transactions = counter(
            "cashback_transactions_total", "Kafka transactions, by result", ("result",)
        )
        self.retries = counter(
            "cashback_batch_retries_total",
            "Batches rewound and processed again, by Kafka error",
            ("error",),
        )
        self.kafka_errors = counter(
            "cashback_kafka_errors_total", "Errors reported by the Kafka clients", ("error",)
        )
        self.ruleset_versions = gauge(
            "cashback_ruleset_versions", "Rule set versions loaded", ("ruleset",)
        )
        self.ruleset_latest = gauge(
            "cashback_ruleset_latest_version", "Highest version loaded", ("ruleset",)
        )
        self.rule_documents = counter(
            "cashback_rule_documents_total",
            "Rule documents read from the rules topic, by result",
            ("result",),
        )
        self.rule_refusals = counter(
            "cashback_rule_documents_refused_total",
            "Rule documents refused (the known versions keep serving), by reason",
            ("reason",),
        )
        self.ready = gauge("cashback_ready", "1 once rule sets are loaded and input is consumed")
        self.build = gauge("cashback_build_info", "Version and delivery mode", ("version", "mode"))
        self.build.labels(__version__, guarantee).set(1)
        # The standard process_* and python_* series (CPU, memory, file descriptors, GC).
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        # Zero series exist from the start, so rate() and alerts work before the first event.
        for outcome in OUTCOME_NAMES:
            self.outcomes.labels(outcome)
        for code in (*ERROR_CODES, INTERNAL_ERROR):
            self.dead_letters.labels(code)
        for result in (COMMITTED, ABORTED):
            self.transactions.labels(result)

    def _child(self, metric: Any, labels: tuple[Any, ...]) -> Any:
        """The labelled child, cached: a tuple lookup instead of prometheus' label checks."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*labels)
            self._children[key] = child
        return child

    def record_batch(self, stats: BatchStats, seconds: float) -> None:
        """Add one committed batch: one `inc` per distinct label set."""
        for topic, n in stats.consumed.items():
            self._child(self.consumed, (topic,)).inc(n)
        for outcome, n in stats.outcomes.items():
            self._child(self.outcomes, (outcome,)).inc(n)
        for code, n in stats.dead_letters.items():
            self._child(self.dead_letters, (code,)).inc(n)
        for key, n in stats.accruals.items():
            self._child(self.accruals, _accrual_labels(key)).inc(n)
        for key, amount in stats.payout_minor.items():
            self._child(self.payout, _accrual_labels(key)).inc(amount)
        for key, amount in stats.reversed_minor.items():
            self._child(self.reversed, _accrual_labels(key)).inc(amount)
        for currency, amount in stats.purchase_minor.items():
            self._child(self.purchases, (currency,)).inc(amount)
        for (currency, ruleset, version), amount in stats.earning_minor.items():
            self._child(self.earning_purchases, (currency, ruleset, str(version))).inc(amount)
        for topic, n in stats.written.items():
            self._child(self.written, (topic,)).inc(n)
        self.batch_seconds.observe(seconds)
        self.batch_events.observe(stats.events)
        if stats.latest_event_us is not None:
            lag = self._clock() - stats.latest_event_us / 1e6  # seconds, not money
            self.event_time_lag.set(max(lag, 0.0))

    def count_transaction(self, result: str) -> None:
        self._child(self.transactions, (result,)).inc()

    def count_retry(self, error: str) -> None:
        self._child(self.retries, (error,)).inc()

    def count_kafka_error(self, error: str) -> None:
        self._child(self.kafka_errors, (error,)).inc()

    def count_rule_document(self, result: str) -> None:
        self._child(self.rule_documents, (result,)).inc()

    def count_rule_refusal(self, reason: str) -> None:
        self._child(self.rule_refusals, (reason,)).inc()

    def expect_rule_refusals(self, reasons: Iterable[str]) -> None:
        """Zero series for each reason, so increase() sees the first refusal too."""
        for reason in reasons:
            self._child(self.rule_refusals, (reason,))

    def show_committed(self, offsets: Iterable[Any]) -> None:
        """The offsets just committed (TopicPartitions, once per batch); the alert on no
        progress compares them with the lag. Partitions no longer committed here go away."""
        current = {(tp.topic, str(tp.partition)): tp.offset for tp in offsets if tp.offset >= 0}
        for labels, offset in current.items():
            self._child(self.committed_offset, labels).set(offset)
        self._committed_labels |= current.keys()

    def forget_partitions(self, partitions: Iterable[Any]) -> None:
        """Revoked or lost partitions: their committed offset is someone else's now."""
        for tp in partitions:
            labels = (tp.topic, str(tp.partition))
            if labels in self._committed_labels:
                self._committed_labels.discard(labels)
                self._children.pop((id(self.committed_offset), labels), None)
                self.committed_offset.remove(*labels)

    def show_catalog(self, catalog: Catalog) -> None:
        """Versions loaded per rule set; names no longer present are removed."""
        counts: dict[str, int] = {}
        latest: dict[str, int] = {}
        for ruleset in catalog.all():
            counts[ruleset.name] = counts.get(ruleset.name, 0) + 1
            latest[ruleset.name] = max(latest.get(ruleset.name, 0), ruleset.version)
        for name in self._ruleset_names - counts.keys():
            self.ruleset_versions.remove(name)
            self.ruleset_latest.remove(name)
        for name, n in counts.items():
            self.ruleset_versions.labels(name).set(n)
            self.ruleset_latest.labels(name).set(latest[name])
        self._ruleset_names = set(counts)

    def show_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Set the lag of the partitions reported; partitions no longer reported go away."""
        current = {(topic, str(partition)): lag for (topic, partition), lag in lags.items()}
        for labels in self._lag_labels - current.keys():
            self.consumer_lag.remove(*labels)
        for labels, lag in current.items():
            self.consumer_lag.labels(*labels).set(lag)
        self._lag_labels = set(current)

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)


def _accrual_labels(key: tuple[str, str, int, str]) -> tuple[str, str, str, str]:
    currency, ruleset, version, kind = key
    return currency, ruleset, str(version), kind
