"""Repeated client errors: the first of each kind logged, the rest summarized per interval."""

from __future__ import annotations

import io
import logging

import orjson
from prometheus_client import CollectorRegistry

from cashback.runtime import logs
from cashback.runtime.metrics import Metrics
from cashback.runtime.worker import ClientErrors


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Error:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def fatal(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"KafkaError{{code={self._name}}}"


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_each_kind_once_then_one_summary_per_interval() -> None:
    stream = io.StringIO()
    logs.configure("info", stream)
    registry = CollectorRegistry()
    clock = Clock()
    errors = ClientErrors(Metrics(registry), logs.get("test-errors"), interval=30, clock=clock)
    for _ in range(40):  # a broker outage: every reconnect attempt reported
        errors(Error("_TRANSPORT"))
        errors(Error("_ALL_BROKERS_DOWN"))
        clock.now += 0.5
    errors.summarize()  # 20 s in: not due yet
    clock.now = 31.0
    errors.summarize()
    lines = _lines(stream)
    assert [line["msg"] for line in lines] == [
        "Kafka client error",
        "Kafka client error",
        "Kafka client errors repeated",
    ]
    assert lines[-1]["repeats"] == {"_TRANSPORT": 39, "_ALL_BROKERS_DOWN": 39}
    counted = registry.get_sample_value("cashback_kafka_errors_total", {"error": "_TRANSPORT"})
    assert counted == 40, "the metric counts every one"


def test_librdkafka_lines_that_differ_only_in_numbers_are_counted_not_written() -> None:
    stream = io.StringIO()
    logs.configure("info", stream)
    kafka = logs.get(logs.KAFKA)
    for port in range(100):
        kafka.log(logging.INFO, f"FAIL [consumer-1] 127.0.0.1:{port}: Disconnected")
    kafka.warning("SESSTMOUT [consumer-1] session timed out")
    lines = _lines(stream)
    assert len(lines) == 2
