"""The worker as a subprocess on the real broker, and the Kafka I/O its tests share.

No tests here: the other `test_worker_*` modules import these helpers (the name keeps
the file with the tests it serves) and define `workers` with `worker_pool`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine
from cashback.domain.rules import parse_ruleset
from events_factory import Event
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka

CONFLUENT = "confluent"
FAUST = "faust"
# The conformance suite: every test marked `conformance` runs once per runtime (the
# `runtime` parameter, see conftest.py); the default runtime must pass all of them.
RUNTIMES = (CONFLUENT, FAUST)

# Short session timeouts so a SIGKILLed member leaves the group in seconds, not 45 s.
FAST_GROUP = ("session.timeout.ms=6000", "heartbeat.interval.ms=1000")


@dataclass(frozen=True)
class Topics:
    input: str
    accruals: str
    notifications: str
    dlq: str
    rules: str

    def args(self) -> list[str]:
        return [
            "--input-topics", self.input,
            "--accruals-topic", self.accruals,
            "--notifications-topic", self.notifications,
            "--dlq-topic", self.dlq,
            "--rules-topic", self.rules,
        ]  # fmt: skip


def make_topics(factory: TopicFactory, partitions: int = 3) -> Topics:
    return Topics(
        input=factory("purchases", partitions),
        accruals=factory("accruals", partitions),
        notifications=factory("notifications", partitions),
        dlq=factory("dlq", partitions),
        rules=factory("rules", 1, {"cleanup.policy": "compact"}),
    )


@dataclass(frozen=True)
class Out:
    """One record read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


class WorkerProcess:
    """`python -m cashback.cli.main run ...` with its JSON log in a file."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        log_dir: Path,
        *,
        group: str,
        transactional_id: str | None = None,
        extra: Sequence[str] = (),
        runtime: str = CONFLUENT,
    ) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
        self.runtime = runtime
        # faust names its transactional producers itself, one per input partition.
        identity = (
            ["--transactional-id", transactional_id or f"tx-{uuid.uuid4().hex[:8]}"]
            if runtime == CONFLUENT
            else ["--runtime", runtime]
        )
        self.args = [
            sys.executable, "-m", "cashback.cli.main", "run",
            "--bootstrap-servers", bootstrap,
            *topics.args(),
            "--group-id", group,
            "--metrics-host", "127.0.0.1",
            "--metrics-port", "0",
            *identity,
            *[arg for prop in FAST_GROUP for arg in ("--kafka", prop)],
            *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    def start(self, *, ready: bool = True) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CASHBACK_", "KAFKA_"))}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, env=env)
        self._port = None
        if ready:
            self.wait_ready()
        return self

    @property
    def port(self) -> int:
        if self._port is None:
            found = wait_for(self._find_port, 30, f"metrics port in {self.log_path}")
            self._port = found
        return self._port

    def _find_port(self) -> int | None:
        self._check_alive()
        for line in self.logs():
            if line.get("msg") == "metrics server listening":
                return int(line["port"])
        return None

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: self._check_alive() or self.get("/readyz")[0] == 200, timeout, "ready")

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            series = head[len(name) :]
            if series and not series.startswith("{"):
                continue
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                lines.append({"raw": raw.decode(errors="replace")})
        return lines

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Cleanup: SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _check_alive(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        if code is not None:
            tail = "\n".join(str(line) for line in self.logs()[-15:])
            raise AssertionError(f"worker exited with {code}:\n{tail}")


def worker_pool(log_dir: Path, runtime: str = CONFLUENT) -> Iterator[Callable[..., WorkerProcess]]:
    """For a `workers` fixture: make WorkerProcess(...) (minus the log folder) on
    `runtime`; every one started is stopped afterwards."""
    started: list[WorkerProcess] = []

    def make(*args: Any, **kwargs: Any) -> WorkerProcess:
        kwargs.setdefault("runtime", runtime)
        worker = WorkerProcess(*args, log_dir=log_dir, **kwargs)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def wait_for(probe: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


# `config`: extra client properties (credentials for a secured broker, tests/security).
Config = Mapping[str, str] | None


def produce(bootstrap: str, topic: str, events: Iterable[Event], *, config: Config = None) -> int:
    producer = Producer({**(config or {}), "bootstrap.servers": bootstrap, "linger.ms": 20})
    count = 0
    for event in events:
        producer.produce(topic, key=event.key, value=event.value, headers=event.headers)
        count += 1
        if count % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return count


def publish_rules(
    bootstrap: str, topic: str, *documents: bytes, key: str | None = None, config: Config = None
) -> None:
    producer = Producer({**(config or {}), "bootstrap.servers": bootstrap})
    for document in documents:
        if key is None:
            parsed = orjson.loads(document)
        record_key = key or f"{parsed['ruleset']}:{parsed['version']}"
        producer.produce(topic, key=record_key.encode(), value=document)
    assert producer.flush(10) == 0


def read_all(
    bootstrap: str, topic: str, *, isolation: str = "read_committed", config: Config = None
) -> list[Out]:
    """Every record of every partition, from the beginning to the (stable) end."""
    consumer = Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        found: list[Out] = []
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    pending.discard(message.partition())
                    continue
                found.append(
                    Out(
                        topic,
                        message.partition(),
                        message.offset(),
                        message.key(),
                        message.value(),
                        list(message.headers() or []),
                    )
                )
        assert not pending, f"did not reach the end of {topic}"
        return found
    finally:
        consumer.close()


def offsets_reader(bootstrap: str, group: str, config: Config = None) -> Consumer:
    """A consumer to ask for the group's committed offsets without joining it. It reads
    uncommitted, so the answer does not wait for a transaction a killed worker left open
    (a read_committed consumer asks for stable offsets and waits until it is aborted)."""
    return Consumer(
        {
            **(config or {}),
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "isolation.level": "read_uncommitted",
        }
    )


def committed_total(bootstrap: str, group: str, topic: str, config: Config = None) -> int:
    """Sum of the group's committed offsets over the topic's partitions."""
    consumer = offsets_reader(bootstrap, group, config)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    finally:
        consumer.close()


def wait_until_committed(
    bootstrap: str,
    group: str,
    topic: str,
    total: int,
    timeout: float = 90,
    *,
    config: Config = None,
) -> None:
    wait_for(
        lambda: committed_total(bootstrap, group, topic, config) >= total,
        timeout,
        f"group {group} to commit {total} records of {topic}",
        every=0.5,
    )


def group_members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(10)
    return len(description.members)


def engine_for(*documents: bytes) -> Engine:
    return Engine(Catalog.of(parse_ruleset(d) for d in documents))


def expected_by_key(engine: Engine, events: Iterable[Event]) -> dict[str, dict[bytes, list[bytes]]]:
    """destination -> key -> output values in input order, as the engine writes them."""
    found: dict[str, dict[bytes, list[bytes]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        for output in engine.handle(event.value).outputs:
            found[output.destination][output.key].append(output.value)
    return found


def by_key(records: Iterable[Out]) -> dict[bytes, list[bytes]]:
    """key -> values in partition order (one key lives in one partition)."""
    found: dict[bytes, list[bytes]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None and record.value is not None
        found[record.key].append(record.value)
    return found
