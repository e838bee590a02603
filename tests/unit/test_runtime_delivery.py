"""Delivery strategies and the poll loop against hand-written fake clients: the paths a
healthy broker rarely takes (abort, retry, fenced, failed delivery, rewind)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry
from test_runtime_batch import FakeRecord

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.domain.rules import parse_ruleset
from cashback.runtime.alo import AtLeastOnceDelivery
from cashback.runtime.batch import ProduceRequest, Routes
from cashback.runtime.clients import FatalKafkaError
from cashback.runtime.delivery import RetryBatch
from cashback.runtime.eos import StopBeforeCommitError, TransactionalDelivery
from cashback.runtime.http import Health
from cashback.runtime.metrics import Metrics
from cashback.runtime.worker import ClientErrors, Worker, rewind
from events_factory import START, purchase, ruleset_document

LOG = logging.getLogger("test")
REQUESTS = [ProduceRequest("out", b"k", b"v", []), ProduceRequest("dlq", None, None, [])]


def error(code: int, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "test", **flags))


class FakeProducer:
    def __init__(self, failures: dict[str, list[KafkaException]] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[str] = []
        self.produced: list[tuple[str, Any]] = []
        self.delivery_errors: list[Any] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        pending = self.failures.get(name)
        if pending:
            raise pending.pop(0)

    def init_transactions(self, _timeout: float) -> None:
        self._call("init")

    def begin_transaction(self) -> None:
        self._call("begin")

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kwargs: Any
    ) -> None:
        """confluent_kafka's signature: value and key may come by position."""
        self._call("produce")
        self.produced.append((topic, {"value": value, "key": key, **kwargs}))
        callback: Callable[[Any, Any], None] | None = kwargs.get("on_delivery")
        if callback is not None:
            callback(self.delivery_errors.pop(0) if self.delivery_errors else None, None)

    def send_offsets_to_transaction(self, positions: Any, _group: Any, _timeout: float) -> None:
        self._call("send_offsets")

    def commit_transaction(self, _timeout: float) -> None:
        self._call("commit")

    def abort_transaction(self, _timeout: float) -> None:
        self._call("abort")

    def flush(self, _timeout: float) -> int:
        self._call("flush")
        return 0

    def poll(self, _timeout: float) -> int:
        return 0

    def purge(self) -> None:
        self._call("purge")


class FakeConsumer:
    """Hands out scripted batches, then sets `stop`; remembers seeks and commits."""

    def __init__(self, batches: list[list[Any]], stop: threading.Event) -> None:
        self.batches = batches
        self.stop = stop
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.seeks: list[tuple[str, int, int]] = []
        self.commits: list[list[TopicPartition]] = []
        self.positions = [TopicPartition("in", 0, 41), TopicPartition("in", 1, -1001)]

    def consume(self, _n: int, _timeout: float) -> list[Any]:
        if not self.batches:
            self.stop.set()
            return []
        return self.batches.pop(0)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("in", 0), TopicPartition("in", 1)]

    def position(self, _partitions: Any) -> list[TopicPartition]:
        return self.positions

    def consumer_group_metadata(self) -> object:
        return object()

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), -1001)
            )
            for tp in partitions
        ]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert not asynchronous
        self.commits.append(offsets)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


def eos(producer: FakeProducer, metrics: Metrics) -> TransactionalDelivery:
    consumer = FakeConsumer([], threading.Event())
    return TransactionalDelivery(lambda: producer, consumer, metrics, LOG, transactional_id="tx-1")


def transactions(registry: CollectorRegistry, result: str) -> float | None:
    return registry.get_sample_value("cashback_transactions_total", {"result": result})


def test_a_batch_is_one_transaction_with_its_offsets(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    producer = FakeProducer()
    eos(producer, metrics).write(REQUESTS)
    assert producer.calls == ["begin", "produce", "produce", "send_offsets", "commit"]
    assert transactions(registry, "committed") == 1


def test_an_abortable_error_aborts_and_asks_for_the_batch_again(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    producer = FakeProducer({"commit": [error(KafkaError._STATE, txn_requires_abort=True)]})
    with pytest.raises(RetryBatch):
        eos(producer, metrics).write(REQUESTS)
    assert producer.calls[-2:] == ["commit", "abort"]
    assert transactions(registry, "aborted") == 1


def test_a_retriable_error_is_retried_in_place(metrics: Metrics) -> None:
    producer = FakeProducer({"commit": [error(KafkaError._TIMED_OUT, retriable=True)]})
    eos(producer, metrics).write(REQUESTS)
    assert producer.calls[-2:] == ["commit", "commit"]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (error(KafkaError._FENCED, fatal=True), "transactional.id 'tx-1'"),
        (error(KafkaError.PRODUCER_FENCED), "another instance"),
    ],
)
def test_fatal_and_fenced_errors_stop_the_worker(
    metrics: Metrics, failure: KafkaException, message: str
) -> None:
    producer = FakeProducer({"send_offsets": [failure]})
    with pytest.raises(FatalKafkaError, match=message):
        eos(producer, metrics).write(REQUESTS)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every look at the clock is a second later
        return self.now


def replaceable(
    metrics: Metrics, *producers: FakeProducer, stop: threading.Event | None = None
) -> tuple[TransactionalDelivery, list[FakeProducer]]:
    """A delivery whose producer factory hands out `producers` in turn."""
    made: list[FakeProducer] = []
    queue = list(producers)

    def make() -> FakeProducer:
        made.append(queue.pop(0))
        return made[-1]

    consumer = FakeConsumer([], threading.Event())
    delivery = TransactionalDelivery(
        make,
        consumer,
        metrics,
        LOG,
        transactional_id="tx-1",
        wedged_seconds=10,
        stop_seconds=5,
        clock=FakeClock(),
    )
    delivery.start(stop or threading.Event())
    return delivery, made


def test_a_fatal_producer_is_replaced_and_the_batch_read_again(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    wedged = FakeProducer({"send_offsets": [error(KafkaError._FATAL, fatal=True)]})
    delivery, made = replaceable(metrics, wedged, FakeProducer())
    with pytest.raises(RetryBatch) as caught:
        delivery.write(REQUESTS)
    assert not caught.value.settled, "the rewind must go to the committed offsets"
    assert len(made) == 2 and made[1].calls == ["init"], "same id, new producer, fenced"
    assert "purge" in wedged.calls
    assert transactions(registry, "recreated") == 1


def test_a_commit_that_never_finishes_is_given_up_not_waited_on(metrics: Metrics) -> None:
    timeouts = [error(KafkaError._TIMED_OUT, retriable=True) for _ in range(1000)]
    wedged = FakeProducer({"commit": timeouts})
    delivery, made = replaceable(metrics, wedged, FakeProducer())
    with pytest.raises(RetryBatch):
        delivery.write(REQUESTS)
    assert 3 <= wedged.calls.count("commit") <= 12, "bounded by wedged_seconds"
    assert len(made) == 2


def test_stop_during_a_stuck_commit_exits_with_a_clear_reason(metrics: Metrics) -> None:
    stop = threading.Event()
    timeouts = [error(KafkaError._TIMED_OUT, retriable=True) for _ in range(1000)]
    wedged = FakeProducer({"commit": timeouts})
    delivery, _made = replaceable(metrics, wedged, FakeProducer(), stop=stop)
    stop.set()
    with pytest.raises(StopBeforeCommitError, match="could not commit the batch in hand"):
        delivery.write(REQUESTS)
    assert wedged.calls.count("commit") <= 6, "bounded by stop_seconds"


def test_an_unsettled_rewind_never_guesses(metrics: Metrics) -> None:
    class NoCommitted(FakeConsumer):
        def committed(self, partitions: list[TopicPartition], timeout: float) -> Any:
            raise error(KafkaError._TRANSPORT, retriable=True)

    stop = threading.Event()
    stop.set()  # do not wait the patient minute in a unit test
    consumer = NoCommitted([], stop)
    records = [FakeRecord(b"x", topic_="in", partition_=0, offset_=7)]
    rewind(consumer, records, LOG, settled=True, stop=stop)
    assert consumer.seeks == [("in", 0, 7)], "an aborted attempt may rewind to its start"
    with pytest.raises(FatalKafkaError, match="cannot read the committed offsets"):
        rewind(consumer, records, LOG, settled=False, stop=stop)


def test_init_transactions_retries_until_the_coordinator_answers(metrics: Metrics) -> None:
    producer = FakeProducer({"init": [error(KafkaError._TIMED_OUT, retriable=True)]})
    eos(producer, metrics).start(threading.Event())
    assert producer.calls == ["init", "init"]


def test_at_least_once_commits_only_after_every_delivery(metrics: Metrics) -> None:
    producer = FakeProducer()
    consumer = FakeConsumer([], threading.Event())
    delivery = AtLeastOnceDelivery(producer, consumer, metrics, LOG)
    producer.delivery_errors = [None, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)]
    with pytest.raises(RetryBatch, match="MSG_SIZE_TOO_LARGE"):
        delivery.write(REQUESTS)
    assert consumer.commits == []
    delivery.write(REQUESTS)
    [offsets] = consumer.commits
    assert [(tp.partition, tp.offset) for tp in offsets] == [(0, 41)]


# --------------------------------------------------------------------------- the loop


class ScriptedDelivery:
    def __init__(self, outcomes: list[Exception | None]) -> None:
        self.outcomes = outcomes
        self.written: list[list[ProduceRequest]] = []

    def start(self, stop: threading.Event) -> None: ...

    def write(self, requests: Any) -> list[Any]:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.written.append(list(requests))
        return []

    def abandon(self) -> None: ...

    def close(self) -> None: ...


def loop(
    batches: list[list[Any]], delivery: ScriptedDelivery, metrics: Metrics, **kwargs: Any
) -> tuple[Worker, FakeConsumer, threading.Event]:
    stop = threading.Event()
    consumer = FakeConsumer(batches, stop)
    engine = Engine(Catalog.of([parse_ruleset(ruleset_document())]))
    worker = Worker(
        consumer=consumer,
        delivery=delivery,
        engine=engine,
        routes=Routes("acc", "notes", "dlq"),
        metrics=metrics,
        health=Health(30),
        errors=ClientErrors(metrics, LOG),
        log=LOG,
        **kwargs,
    )
    return worker, consumer, stop


def records(*offsets: int, partition: int = 0) -> list[FakeRecord]:
    doc = purchase(1, customer="C-1", occurred_at=START, lines=[("groceries", 10_000)])
    return [FakeRecord(orjson.dumps(doc), partition_=partition, offset_=o) for o in offsets]


def test_a_failed_batch_is_rewound_to_the_committed_offsets(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    delivery = ScriptedDelivery([RetryBatch("_STATE")])
    batch = records(7, 8) + records(3, partition=1)
    worker, consumer, stop = loop([batch, batch], delivery, metrics)
    consumer.committed_offsets[("in", 0)] = 5  # partition 1 has nothing committed yet
    worker.run(stop)
    assert sorted(consumer.seeks) == [("in", 0, 5), ("in", 1, 3)]
    assert len(delivery.written) == 1
    assert registry.get_sample_value("cashback_batch_retries_total", {"error": "_STATE"}) == 1
    assert registry.get_sample_value("cashback_events_consumed_total", {"topic": "in"}) == 3


def test_consume_errors_are_counted_and_skipped(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    class ErrorMessage(FakeRecord):
        def error(self) -> KafkaError:
            return KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)

    good = records(1)[0]
    delivery = ScriptedDelivery([])
    worker, _, stop = loop([[ErrorMessage(None), good]], delivery, metrics)
    worker.run(stop)
    assert len(delivery.written) == 1
    name = {"error": "UNKNOWN_TOPIC_OR_PART"}
    assert registry.get_sample_value("cashback_kafka_errors_total", name) == 1


def test_a_fatal_client_error_ends_the_loop(metrics: Metrics) -> None:
    worker, _, stop = loop([[]] * 3, ScriptedDelivery([]), metrics)
    worker._errors(KafkaError(KafkaError._FATAL, "boom", fatal=True))
    with pytest.raises(FatalKafkaError, match="boom"):
        worker.run(stop)


def test_new_rule_versions_swap_in_between_batches(metrics: Metrics) -> None:
    newer = Catalog.of([parse_ruleset(ruleset_document(version=v)) for v in (1, 2)])

    class Feed:
        def poll(self, catalog: Catalog) -> Catalog:
            return newer

    worker, _, stop = loop([], ScriptedDelivery([]), metrics, rules_feed=Feed())
    worker.run(stop)
    assert worker._engine.catalog is newer


def test_a_revoke_aborts_an_open_transaction_without_raising(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    producer = FakeProducer({"abort": [error(KafkaError._FATAL, fatal=True)]})
    delivery = eos(producer, metrics)
    delivery._open = True  # as if a rebalance came in the middle of a batch
    delivery.abandon()
    assert producer.calls == ["abort"]
    delivery.abandon()  # already over: nothing more to abort
    assert producer.calls == ["abort"]


def test_a_record_refused_before_sending_aborts_and_retries_the_batch(
    registry: CollectorRegistry, metrics: Metrics
) -> None:
    producer = FakeProducer({"produce": [error(KafkaError._UNKNOWN_TOPIC)]})
    with pytest.raises(RetryBatch, match="_UNKNOWN_TOPIC"):
        eos(producer, metrics).write(REQUESTS)
    assert producer.calls == ["begin", "produce", "abort"]
    assert transactions(registry, "aborted") == 1


def test_at_least_once_retries_a_record_refused_before_sending(metrics: Metrics) -> None:
    producer = FakeProducer({"produce": [error(KafkaError._UNKNOWN_TOPIC)]})
    consumer = FakeConsumer([], threading.Event())
    with pytest.raises(RetryBatch, match="_UNKNOWN_TOPIC"):
        AtLeastOnceDelivery(producer, consumer, metrics, LOG).write(REQUESTS)
    assert consumer.commits == []
