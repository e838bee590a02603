"""The poll loop: poll a batch, price it, deliver it, count it; rules swap in between.

The loop never polls while a batch is open, so rebalances (which librdkafka runs inside
`consume`) always find the previous batch committed or rewound: a partition changes
hands only at a batch boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import KafkaException, TopicPartition

from cashback.domain.native_engine import Pricer
from cashback.runtime.batch import Record, Routes, price_batch
from cashback.runtime.between_batches import RuleUpdates, report_batch, swap_rules
from cashback.runtime.clients import FatalKafkaError
from cashback.runtime.delivery import Delivery, RetryBatch
from cashback.runtime.held_offsets import HeldOffsets
from cashback.runtime.http import Health
from cashback.runtime.logs import SUMMARY_SECONDS, Repeats, fields, summarize_repeats
from cashback.runtime.metrics import Metrics
from cashback.runtime.start_offsets import StartOffsets, is_reset

MAX_BACKOFF_SECONDS: Final = 5.0
COMMITTED_TIMEOUT_SECONDS: Final = 5.0
PATIENT_COMMITTED_SECONDS: Final = 60.0
LOOK_SECONDS: Final = 5.0  # how often the loop tells the held-offsets watch what waits


class ClientErrors:
    """The clients' `error_cb`: counts every error, logs each kind once per interval (the
    rest go into one summary line per interval), remembers a fatal one.

    During a broker outage librdkafka reports every reconnect attempt; one line says the
    broker is away, the summary says how often, and the metric still counts each one."""

    def __init__(
        self,
        metrics: Metrics,
        log: logging.Logger,
        *,
        interval: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._log = log
        self._repeats = Repeats(log, "Kafka client errors repeated", interval, clock)
        self.fatal: str | None = None

    def __call__(self, error: Any) -> None:
        self._metrics.count_kafka_error(error.name())
        if error.fatal():
            self.fatal = str(error)
            self._log.error("fatal Kafka client error", extra=fields(error=str(error)))
        elif self._repeats.first(error.name()):
            self._log.warning("Kafka client error", extra=fields(error=str(error)))

    def summarize(self) -> None:
        self._repeats.summarize()
        summarize_repeats()


class Worker:
    def __init__(
        self,
        *,
        consumer: Any,
        delivery: Delivery,
        engine: Pricer,
        routes: Routes,
        metrics: Metrics,
        health: Health,
        errors: ClientErrors,
        log: logging.Logger,
        rules_feed: RuleUpdates | None = None,
        batch_size: int = 2000,
        poll_seconds: float = 0.1,
        offset_reset: str = "earliest",
        held: HeldOffsets | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        # Says why a partition does not start when a transaction holds its committed
        # offset (runtime/held_offsets.py); the loop only tells it which ones wait.
        self._held = held
        self._next_look = 0.0
        # The offsets this process committed, per partition: the group's committed offset
        # can only be at or past them while it runs (other owners move it forward). A
        # broker just back from a crash has answered with offsets minutes old (its group
        # coordinator loaded __consumer_offsets only part way; docs/reliability.md), and
        # reading from those would price committed records again.
        self._floor: dict[tuple[str, int], int] = {}
        # Partitions whose first records since an assignment are still to be checked
        # against the floor (empty in steady state: no per-record work then).
        self._unverified: set[tuple[str, int]] = set()
        self._starts = StartOffsets(consumer, offset_reset, log, self._floor)
        self._delivery = delivery
        self._engine = engine
        self._routes = routes
        self._metrics = metrics
        self._health = health
        self._errors = errors
        self._log = log
        self._rules_feed = rules_feed
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._backoff = 0.0
        self._consume_errors = Repeats(log, "consume errors repeated")

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set, after the batch in hand is committed; FatalKafkaError ends it."""
        while not stop.is_set():
            if self._errors.fatal is not None:
                raise FatalKafkaError(self._errors.fatal)
            self.swap_rules()
            records = self.poll(stop)
            if records:
                self.process(records, stop)
            if self._held is not None and self._clock() >= self._next_look:
                self._next_look = self._clock() + LOOK_SECONDS
                self._look()
            self._health.beat()
            self._errors.summarize()

    def swap_rules(self) -> None:
        """New rule set versions apply from the next batch on, all at once."""
        swap_rules(self._engine, self._rules_feed, self._log)

    def poll(self, stop: threading.Event) -> list[Record]:
        # What is already fetched, without waiting; only when nothing is, wait for the next
        # record. A batch never waits to fill (at 5,000 events/s that wait was most of the
        # latency), and a backlog still comes in full batches.
        messages = self._consumer.consume(self._batch_size, 0) or self._consumer.consume(
            1, self._poll_seconds
        )
        records: list[Record] = []
        errors: Counter[str] = Counter()
        reset: list[tuple[str, int]] = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif is_reset(error):  # not a fault: the worker picks the start (StartOffsets)
                reset.append((message.topic(), message.partition()))
            else:
                errors[str(error)] += 1
                self._metrics.count_kafka_error(error.name())
        for error_text, n in errors.items():
            if self._consume_errors.first(error_text):
                self._log.warning("consume error", extra=fields(error=error_text, count=n))
        # A partition without a start offset: the worker picks it, and the records of this
        # poll are read again after the restart (nothing skipped, nothing twice).
        if reset and self._starts.restart(reset, _first_offsets(records), stop):
            return []
        if self._unverified and records:
            return self._above_floor(records)
        return records

    def _look(self) -> None:
        """Hand the watch the assigned partitions without a position (local calls only)."""
        assert self._held is not None
        assignment = self._consumer.assignment()
        if not assignment:
            self._held.waiting([])
            return
        self._held.waiting(
            [
                (tp.topic, tp.partition)
                for tp in self._consumer.position(assignment)
                if tp.offset < 0
            ]
        )

    def _above_floor(self, records: list[Record]) -> list[Record]:
        """Drop records below what this process committed already (and move their
        partition up to it); a partition counts as checked once a record at or above its
        floor arrives."""
        kept: list[Record] = []
        skipped: Counter[tuple[str, int]] = Counter()
        for record in records:
            key = (record.topic(), record.partition())
            if key in self._unverified:
                offset = record.offset()
                if offset is not None and offset < self._floor.get(key, -1):
                    skipped[key] += 1
                    continue
                self._unverified.discard(key)
            kept.append(record)
        for (topic, partition), count in skipped.items():
            floor = self._floor[(topic, partition)]
            self._log.warning(
                "records below the offset this worker committed skipped (the broker answered "
                "with an older committed offset)",
                extra=fields(topic=topic, partition=partition, records=count, floor=floor),
            )
            if (topic, partition) in self._unverified:  # no record at the floor yet: go there
                try:
                    self._consumer.seek(TopicPartition(topic, partition, floor))
                except KafkaException as exc:  # revoked meanwhile: its next owner decides
                    self._log.warning(
                        "seek failed",
                        extra=fields(topic=topic, partition=partition, error=str(exc.args[0])),
                    )
        return kept

    def process(self, records: Sequence[Record], stop: threading.Event) -> None:
        started = self._clock()
        priced = price_batch(self._engine, records, self._routes)
        try:
            committed = self._delivery.write(priced.requests)
        except RetryBatch as retry:
            self._metrics.count_retry(retry.error)
            self._backoff = min(max(self._backoff * 2, 0.1), MAX_BACKOFF_SECONDS)
            self._log.warning(
                "batch not committed; reading it again",
                extra=fields(error=retry.error, events=len(records), backoff_s=self._backoff),
            )
            rewind(
                self._consumer,
                records,
                self._log,
                settled=retry.settled,
                stop=stop,
                floor=self._floor,
                held=self._held,
            )
            stop.wait(self._backoff)
            return
        for tp in committed:  # what the delivery committed is the new floor
            if tp.offset > self._floor.get((tp.topic, tp.partition), -1):
                self._floor[(tp.topic, tp.partition)] = tp.offset
        self._backoff = 0.0
        report_batch(self._metrics, self._log, priced.stats, self._clock() - started)

    # ----------------------------------------------------------------- rebalance callbacks

    def on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self._unverified.update((tp.topic, tp.partition) for tp in partitions)
        self._log.info("partitions assigned", extra=fields(partitions=_names(partitions)))

    def on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        self._delivery.abandon()
        self._metrics.forget_partitions(partitions)
        self._log.info("partitions revoked", extra=fields(partitions=_names(partitions)))

    def on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        self._delivery.abandon()
        self._metrics.forget_partitions(partitions)
        self._log.warning("partitions lost", extra=fields(partitions=_names(partitions)))


def rewind(
    consumer: Any,
    records: Sequence[Record],
    log: logging.Logger,
    *,
    settled: bool = True,
    stop: threading.Event | None = None,
    floor: dict[tuple[str, int], int] | None = None,
    held: HeldOffsets | None = None,
) -> None:
    """Seek the batch's partitions back to their committed offsets, so the next poll
    returns the same records again. When the attempt is known to be aborted (`settled`),
    the batch's first offsets are as good if the committed ones cannot be read; when its
    outcome was unknown, only the committed offsets are the truth: they are asked for
    until they come (or `stop`), and without them the process exits rather than guess."""
    targets = _first_offsets(records)
    wanted = [TopicPartition(topic, partition) for topic, partition in targets]
    if held is not None and not settled:
        held.waiting(list(targets))  # the watch says why, if the wait is long
    committed = _committed(consumer, wanted, log, patient=not settled, stop=stop)
    if held is not None and not settled:
        held.waiting([])
    if committed is None and not settled:
        why = held.diagnosis if held is not None and held.diagnosis else None
        raise FatalKafkaError(
            "cannot read the committed offsets after an interrupted commit; exiting so the "
            "next owner resumes from them (nothing is lost or doubled)"
            + (f": {why}" if why else "")
        )
    for tp in committed or []:
        if tp.error is None and tp.offset >= 0:
            targets[(tp.topic, tp.partition)] = tp.offset
    for key, offset in (floor or {}).items():  # never below what this process committed
        if key in targets and targets[key] < offset:
            targets[key] = offset
    for (topic, partition), offset in targets.items():
        try:
            consumer.seek(TopicPartition(topic, partition, offset))
        except KafkaException as exc:
            # Not assigned any more (lost in a rebalance): its new owner starts from the
            # committed offset anyway.
            log.warning(
                "seek failed",
                extra=fields(topic=topic, partition=partition, error=str(exc.args[0])),
            )


def _committed(
    consumer: Any,
    wanted: list[TopicPartition],
    log: logging.Logger,
    *,
    patient: bool,
    stop: threading.Event | None,
) -> list[TopicPartition] | None:
    deadline = time.monotonic() + (PATIENT_COMMITTED_SECONDS if patient else 0)
    while True:
        try:
            found: list[TopicPartition] = consumer.committed(
                wanted, timeout=COMMITTED_TIMEOUT_SECONDS
            )
            return found
        except KafkaException as exc:
            log.warning(
                "committed offsets unavailable"
                + ("; asking again" if patient else "; rewinding to the batch start"),
                extra=fields(error=str(exc.args[0])),
            )
        if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            return None
        time.sleep(0.5)


def _first_offsets(records: Sequence[Record]) -> dict[tuple[str, int], int]:
    firsts: dict[tuple[str, int], int] = {}
    for record in records:
        topic, partition, offset = record.topic(), record.partition(), record.offset()
        if topic is not None and partition is not None and offset is not None:
            firsts.setdefault((topic, partition), offset)
    return firsts


def _names(partitions: list[Any]) -> list[str]:
    return [f"{tp.topic}[{tp.partition}]" for tp in partitions]
