"""The held-offsets watch: which answers of the two committed-offset reads mean what."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from cashback.runtime.clients import probe_config
from cashback.runtime.held_offsets import HELD, HeldOffsets
from cashback.runtime.metrics import Metrics
from cashback.runtime.settings import Settings


class Probe:
    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.asked = 0

    def committed(self, partitions: list[object], timeout: float) -> list[object]:
        self.asked += 1
        if not self.answers:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return partitions

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _watch(
    stable: bool, unstable: bool, hanging: float = 90.0
) -> tuple[HeldOffsets, Clock, Metrics, dict[bool, Probe]]:
    probes = {True: Probe(stable), False: Probe(unstable)}
    metrics = Metrics(CollectorRegistry(), guarantee="exactly_once")
    clock = Clock()
    watch = HeldOffsets(
        probes.__getitem__,
        metrics,
        logging.getLogger("test.held"),
        # The tests call check_once themselves; the watch's own thread must not look too.
        check_seconds=3600,
        patience_seconds=20,
        hanging_seconds=hanging,
        clock=clock,
    )
    _OPEN.append(watch)
    return watch, clock, metrics, probes


_OPEN: list[HeldOffsets] = []


@pytest.fixture(autouse=True)
def _close_watches() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _held_count(metrics: Metrics) -> float:
    value = metrics.kafka_errors.labels(HELD)._value.get()
    return float(value)


@pytest.mark.parametrize(
    ("stable", "unstable", "verdict"),
    [
        (True, True, False),  # readable: an idle partition, nothing held
        (False, True, True),  # only the read that waits on transactions fails: held
        (False, False, None),  # the coordinator does not answer at all: not ours to say
    ],
)
def test_the_two_reads_decide(stable: bool, unstable: bool, verdict: bool | None) -> None:
    watch, clock, metrics, _ = _watch(stable, unstable)
    watch.waiting([("in", 0), ("in", 1)])
    clock.now += 25
    assert watch.check_once() is verdict
    assert _held_count(metrics) == (1 if verdict else 0)
    assert (watch.diagnosis is not None) is bool(verdict)


def test_nothing_is_asked_before_the_patience_is_over_or_when_nothing_waits() -> None:
    watch, clock, _, probes = _watch(False, True)
    watch.waiting([("in", 0)])
    clock.now += 5
    assert watch.check_once() is None
    watch.waiting([])
    clock.now += 60
    assert watch.check_once() is None
    assert probes[True].asked == probes[False].asked == 0


def test_a_partition_keeps_its_first_wait_time_while_it_keeps_waiting() -> None:
    watch, clock, _, _ = _watch(False, True)
    watch.waiting([("in", 0)])
    for _ in range(5):  # the loop reports it every few seconds
        clock.now += 5
        watch.waiting([("in", 0), ("in", 1)])
    assert watch.check_once() is True  # in[0] waited 25 s, in[1] 20 s: both due
    assert watch.diagnosis is not None and "held by an open transaction" in watch.diagnosis


def test_past_any_transaction_timeout_it_is_called_a_hanging_transaction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch, clock, metrics, _ = _watch(False, True, hanging=90)
    watch.waiting([("in", 3)])
    clock.now += 10
    levels = []
    for _ in range(12):  # waited 20, 30, ... 130 s
        clock.now += 10
        with caplog.at_level(logging.WARNING, logger="test.held"):
            caplog.clear()
            assert watch.check_once() is True
            levels.append(caplog.records[-1].levelno)
    assert levels[0] == logging.WARNING and levels[-1] == logging.ERROR
    assert watch.diagnosis is not None and "hanging transaction" in watch.diagnosis
    assert "runbook" in watch.diagnosis
    assert _held_count(metrics) == 12


def test_the_probes_ask_as_the_worker_does_and_without_waiting_on_transactions() -> None:
    settings = Settings(
        bootstrap_servers="127.0.0.1:9",
        input_topics=("in",),
        group_id="g",
        kafka=(("security.protocol", "SASL_SSL"), ("group.instance.id", "w-0")),
    )
    quiet = logging.getLogger("test")
    stable = probe_config(settings, stable=True, log=quiet, on_error=lambda _e: None)
    loose = probe_config(settings, stable=False, log=quiet, on_error=lambda _e: None)
    assert stable["isolation.level"] == "read_committed"
    assert loose["isolation.level"] == "read_uncommitted"
    for config in (stable, loose):
        assert config["group.id"] == "g"
        assert config["security.protocol"] == "SASL_SSL"  # the operator's credentials too
        assert "group.instance.id" not in config  # never a static member of the group
        assert config["enable.auto.commit"] is False
