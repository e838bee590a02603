"""A real worker on the real broker, fed a sample stream that exercises every outcome, for
Prometheus to scrape: accruals, reversals, not eligible, dead letters of several codes, a
refused rule document, a Kafka client error, and an incident that aborts transactions and
rewinds batches until an operator fixes the topic."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from prometheus_support import ROOT, free_port

from cashback.devtools.sample_stream import generate
from kafka_support import TopicFactory

RULES = ROOT / "deploy" / "examples" / "rules"
COUNT = 3000
WAVES = 6
SEED = 11
# Every 150th record is bad, cycling through each dead-letter code the stream knows.
BAD_EVERY = 150
# The DLQ first refuses the stream's oversized dead letter (the sample's too_large record,
# ~1 MB): the transaction aborts and the batch is retried until the limit is raised.
DLQ_SMALL_LIMIT = "200000"
DLQ_FIXED_LIMIT = "4194304"
# Nothing listens on port 1: the clients report connection errors for it (Kafka errors).
DEAD_BROKER = "127.0.0.1:1"


@dataclass(frozen=True)
class Topics:
    input: str
    accruals: str
    notifications: str
    dlq: str
    rules: str

    def flags(self) -> list[str]:
        return [
            "--input-topics", self.input,
            "--accruals-topic", self.accruals,
            "--notifications-topic", self.notifications,
            "--dlq-topic", self.dlq,
            "--rules-topic", self.rules,
        ]  # fmt: skip


@dataclass
class LiveRun:
    metrics_port: int
    produced: int
    started: float
    typo_published: float  # when the mistyped retail version went out
    finished: float


def metric_total(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in "{ ":
            total += float(line.rpartition(" ")[2])
    return total


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _cli(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def mistyped_retail(folder: Path) -> Path:
    """retail v3: version 2 with every percent ten times too high (the "50" for "5" slip),
    effective from 26 November, inside the stream's window."""
    text = (RULES / "retail.v2.yaml").read_text()
    text = re.sub(r'percent: "([0-9.]+)"', lambda m: f'percent: "{float(m[1]) * 10:g}"', text)
    text = text.replace("version: 2", "version: 3").replace(
        "effective_from: 2026-11-23T00:00:00+03:00", "effective_from: 2026-11-26T00:00:00+03:00"
    )
    path = folder / "retail.v3.yaml"
    path.write_text(text)
    return path


def _set_dlq_limit(bootstrap: str, topic: str, limit: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry("max.message.bytes", limit, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource("topic", topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(15)


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 10, "message.max.bytes": 2 * 1024 * 1024}
    )
    for key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def _wait_metric(
    worker: subprocess.Popen[bytes], log_path: Path, port: int, name: str, at_least: float
) -> None:
    deadline = time.monotonic() + 120
    while metric_total(port, name) < at_least:
        assert worker.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{name} did not reach {at_least} in 120 s"
        time.sleep(0.1)


def _wait_committed(worker: subprocess.Popen[bytes], log_path: Path, port: int, count: int) -> None:
    _wait_metric(worker, log_path, port, "cashback_events_consumed_total", count)


def run_live(
    bootstrap: str, factory: TopicFactory, workdir: Path, start_scraper: object
) -> Iterator[LiveRun]:
    """Start the worker, let `start_scraper(port)` start Prometheus on it, feed the stream;
    yields once every record is committed; stops the worker (by its PID) afterwards."""
    topics = Topics(
        input=factory("purchases", 3),
        accruals=factory("accruals", 3),
        notifications=factory("notifications", 3),
        dlq=factory("dlq", 3, {"max.message.bytes": DLQ_SMALL_LIMIT}),
        rules=factory("rules", 1, {"cleanup.policy": "compact"}),
    )
    _cli("rules", "publish", str(RULES), "--bootstrap-servers", bootstrap,
         "--rules-topic", topics.rules)  # fmt: skip
    port = free_port()
    log_path = workdir / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASHBACK_", "KAFKA_"))}
    command = [
        sys.executable, "-m", "cashback.cli.main", "run",
        "--bootstrap-servers", f"{DEAD_BROKER},{bootstrap}",
        *topics.flags(),
        "--group-id", f"live-{uuid.uuid4().hex[:8]}",
        "--transactional-id", f"live-{uuid.uuid4().hex[:8]}",
        "--processing-guarantee", "exactly_once",
        "--metrics-host", "127.0.0.1", "--metrics-port", str(port),
        # Statistics (consumer lag) every second instead of five, for a short run.
        "--kafka", "statistics.interval.ms=1000",
        # librdkafka connects to one bootstrap broker at random (sparse connections): a
        # client that picks the live one first never reports the dead one, so the Kafka
        # errors panel was empty in some runs. Connect to every broker instead.
        "--kafka", "enable.sparse.connections=false",
        # The incident is a dead letter the DLQ refuses as too large: its padding is what
        # lz4 (the producer's default) squeezes under the limit, so send it uncompressed.
        "--kafka", "compression.type=none",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
        )
    try:
        assert callable(start_scraper)
        start_scraper(port)
        started = time.time()  # the picture starts here: readiness 0 -> 1, startup errors
        typo_published = started
        deadline = time.monotonic() + 60
        while _status(f"http://127.0.0.1:{port}/readyz") != 200:
            assert worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker not ready in 60 s"
            time.sleep(0.2)
        # A document the worker must refuse: not even JSON.
        _produce(bootstrap, topics.rules, [(b"retail:999", b"{not a rule set")])
        records = [(r.key, r.value) for r in generate(COUNT, SEED, BAD_EVERY)]
        size = len(records) // WAVES
        # Each wave is committed and scraped before the next: a counter series that is new
        # (a new rule set version's) counts in rate() only from its second scrape on.
        for wave in range(WAVES):
            _produce(bootstrap, topics.input, records[wave * size : (wave + 1) * size])
            if wave == 1:  # the operator raises the DLQ's limit: the stuck batch goes through
                _wait_metric(worker, log_path, port, "cashback_batch_retries_total", 1)
                _set_dlq_limit(bootstrap, topics.dlq, DLQ_FIXED_LIMIT)
            _wait_committed(worker, log_path, port, (wave + 1) * size)
            time.sleep(2)
            if wave == 1:  # then someone publishes a rule set version with a mistyped rate
                typo_published = time.time()
                _cli("rules", "publish", str(mistyped_retail(workdir)),
                     "--bootstrap-servers", bootstrap, "--rules-topic", topics.rules)  # fmt: skip
                time.sleep(1)
        produced = size * WAVES
        time.sleep(3)  # the last scrapes and statistics after the last batch
        yield LiveRun(port, produced, started, typo_published, time.time())
    finally:
        if worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
