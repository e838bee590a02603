"""One fault cell: a stream, a worker, a fault, a read_committed auditor, a verdict.

Modelled on Kafka's own transactions_test.py: the input is produced up front, the worker
copies it through the fault, a read_committed reader runs during the run and the output
is read again from the beginning after it; the verdict compares the output with what the
pure engine says the input must give (lost, duplicated, payout, order per key).

The worker is supervised like an orchestrator would: if it exits, its exit code and its
last error line are recorded and a new one is started with the same transactional.id.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from test_worker_harness import (
    Out,
    Topics,
    WorkerProcess,
    by_key,
    committed_total,
    engine_for,
    expected_by_key,
    make_topics,
    offsets_reader,
    publish_rules,
    read_all,
)

from cashback.devtools.fault_proxy import FaultProxy
from cashback.devtools.local_kafka import LocalBroker, LocalKafkaError, start_broker
from cashback.devtools.local_kafka.ports import free_port
from cashback.domain.engine import ACCRUALS
from events_factory import Event, ruleset_document, stream
from kafka_support import TopicFactory

EXACTLY_ONCE = "exactly_once"
# A JVM start on this shared 2-core machine has taken 40 s and more under load.
BROKER_TIMEOUT = 180.0
AT_LEAST_ONCE = "at_least_once"


@dataclass
class Rig:
    """A broker that only fault tests use, clients routed through a fault proxy."""

    broker: LocalBroker
    proxy: FaultProxy

    @property
    def client_bootstrap(self) -> str:
        """What the worker is given: every connection goes through the proxy."""
        return self.broker.bootstrap

    @property
    def direct(self) -> str:
        """The broker itself (producing the input, auditing): faults do not touch it."""
        return self.broker.direct_bootstrap

    def ensure_up(self) -> None:
        """After a cell: whatever the fault left, the next cell starts on a healthy rig."""
        self.proxy.latency(0)
        self.proxy.blackhole(False)
        self.broker.resume()
        if not self.broker.is_alive():
            self.broker.restart(BROKER_TIMEOUT)


@contextlib.contextmanager
def start_rig(workdir: Path, say: Callable[[str], None]) -> Iterator[Rig]:
    port = free_port()
    proxy = FaultProxy(port).start()
    try:
        broker = start_broker(
            workdir, port=port, advertised_port=proxy.port, progress=say, timeout=BROKER_TIMEOUT
        )
    except LocalKafkaError as exc:
        proxy.close()
        pytest.fail(f"cannot start the fault tests' broker: {exc}", pytrace=False)
    say(f"fault broker at {broker.direct_bootstrap}, advertised via proxy {broker.bootstrap}")
    try:
        yield Rig(broker, proxy)
    finally:
        broker.stop()
        proxy.close()


class LiveAuditor:
    """A read_committed reader of the accruals topic while the run goes on: what it sees
    is what a downstream ledger would book, so it must never see a record twice."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self.records: list[tuple[float, Out]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LiveAuditor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def first_after(self, moment: float) -> float | None:
        return next((seen for seen, _ in self.records if seen > moment), None)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"auditor-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "logger": _QUIET,
            }
        )
        try:
            partitions = consumer.list_topics(self._topic, timeout=30).topics[self._topic]
            consumer.assign(
                [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in partitions.partitions]
            )
            while not self._stop.is_set():
                for message in consumer.consume(1000, 0.5):
                    error = message.error()
                    if error is not None:
                        assert error.code() == KafkaError._PARTITION_EOF or error.retriable()
                        continue
                    out = Out(
                        self._topic,
                        message.partition(),
                        message.offset(),
                        message.key(),
                        message.value(),
                        [],
                    )
                    self.records.append((time.monotonic(), out))
        finally:
            consumer.close()


class _Quiet:
    """librdkafka's log lines while the broker is down are expected; keep them out."""

    def log(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def __getattr__(self, _name: str) -> Callable[..., None]:
        return self.log


_QUIET: Any = _Quiet()


@dataclass
class Supervisor:
    """Keeps `instances` workers running; records how each one that stopped ended.

    Each instance has a slot, and its transactional.id is the slot's (as a StatefulSet
    would give): a replacement takes the same id, so its init_transactions fences the
    one before; an instance that joins gets a slot, and an id, of its own."""

    start_worker: Callable[[int], WorkerProcess]
    instances: int = 1
    running: list[WorkerProcess] = field(default_factory=list)
    exits: list[tuple[int, str]] = field(default_factory=list)
    slots: dict[int, int] = field(default_factory=dict)  # id(worker) -> slot
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Supervisor:
        for slot in range(self.instances):
            self._launch(slot)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _launch(self, slot: int) -> WorkerProcess:
        worker = self.start_worker(slot)
        self.slots[id(worker)] = slot
        self.running.append(worker)
        return worker

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                for worker in list(self.running):
                    assert worker.proc is not None
                    code = worker.proc.poll()
                    if code is None:
                        continue
                    self.exits.append((code, last_error(worker)))
                    self.running.remove(worker)
                    self._launch(self.slots[id(worker)])

    def forget(self, worker: WorkerProcess) -> None:
        """A test kills this one on purpose: do not count or replace it."""
        with self._lock:
            self.running.remove(worker)

    def add(self) -> WorkerProcess:
        """One more instance, with a slot (and transactional.id) of its own."""
        with self._lock:
            return self._launch(max(self.slots.values(), default=-1) + 1)

    def stop_watching(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def stop(self) -> list[int]:
        """SIGTERM every worker; returns their exit codes."""
        self.stop_watching()
        codes = []
        for worker in self.running:
            assert worker.proc is not None
            if worker.proc.poll() is None:
                codes.append(worker.terminate(45))
            else:
                codes.append(worker.proc.returncode)
        return codes


def last_error(worker: WorkerProcess) -> str:
    for line in reversed(worker.logs()):
        if line.get("level") == "error":
            return str(line.get("msg", ""))[:160]
    return ""


@dataclass
class Cell:
    """What a fault function sees: the rig, the running workers and the progress."""

    rig: Rig
    topics: Topics
    group: str
    events: int
    supervisor: Supervisor
    auditor: LiveAuditor
    faults: list[tuple[str, float, float]] = field(default_factory=list)
    # wait_progress(f) waits for floor + f * scale of the stream (a sequence of faults
    # shifts each step's "20 %" past the previous step).
    floor: float = 0.0
    scale: float = 1.0
    # Set when the dead-letter topic was deleted: the group's committed offset per input
    # partition then. Dead letters of inputs before it went with the topic.
    dlq_floor: dict[int, int] | None = None

    last_committed: int = 0
    # How much of the input is produced so far, as a fraction (a gated cell's feeder
    # reads it): one list, so the feeder thread sees every change.
    release: list[float] = field(default_factory=lambda: [1.0])

    def committed_by_partition(self) -> dict[int, int]:
        consumer = offsets_reader(self.rig.direct, self.group)
        try:
            topic = self.topics.input
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            return {tp.partition: max(tp.offset, 0) for tp in found}
        finally:
            consumer.close()

    def committed(self) -> int:
        """The group's committed total; the last one known while the broker is away."""
        with contextlib.suppress(KafkaException):
            self.last_committed = committed_total(self.rig.direct, self.group, self.topics.input)
        return self.last_committed

    def wait_progress(self, fraction: float, timeout: float = 180) -> int:
        """Until the group committed `fraction` of the input (past the current value)."""
        want = int(self.events * min(self.floor + fraction * self.scale, 0.95))
        deadline = time.monotonic() + timeout
        while True:
            done = self.committed()
            if done >= want:
                return done
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress to {want} committed (at {done})")
            time.sleep(0.2)

    @contextlib.contextmanager
    def fault(self, name: str) -> Iterator[None]:
        """Time one fault: from when it is applied until it is lifted."""
        began = time.monotonic()
        yield
        self.faults.append((name, began, time.monotonic()))


@dataclass
class Verdict:
    cell: str
    guarantee: str
    events: int
    expected: int
    written: int
    lost: int
    duplicated: int
    dead_letters: int
    payout_exact: bool
    order_kept: bool
    seen_twice_live: int
    recovery_seconds: list[float]
    worker: str
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.payout_exact and self.order_kept

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "exact": self.exact}


def run_cell(
    name: str,
    rig: Rig,
    factory: TopicFactory,
    workers: Callable[..., WorkerProcess],
    fault: Callable[[Cell], None],
    *,
    events: int,
    guarantee: str = EXACTLY_ONCE,
    instances: int = 1,
    batch_size: int = 200,
    extra: tuple[str, ...] = (),
    bad_every: int = 0,
    finish_timeout: float = 300,
    gated: bool = False,
) -> Verdict:
    """One cell. `gated`: the input is produced only as far as `Cell.release` says (the
    fault function moves it on), so a sequence of faults lands mid-stream, not after it."""
    started = time.monotonic()
    topics = make_topics(factory, partitions=4)
    document = ruleset_document()
    publish_rules(rig.direct, topics.rules, document)
    inputs = stream(events, seed=zlib.crc32(name.encode()) & 0xFFFF, customers=400)
    if bad_every:
        # Not JSON: each one must reach the dead-letter topic (exactly once, in EOS).
        for n in range(len(inputs) // bad_every, 0, -1):
            inputs.insert(n * bad_every, Event(f"bad-{n}".encode(), f"{{not json {n}".encode()))
    release = [0.1 if gated else 1.0]  # shared with the Cell below
    feeder = threading.Thread(
        target=_feed, args=(rig.direct, topics.input, inputs, release), daemon=True
    )
    if not gated:  # the whole input is there before the first worker starts
        feeder.run()
    group = f"g-{uuid.uuid4().hex[:8]}"

    def start_worker(slot: int) -> WorkerProcess:
        args = ["--batch-size", str(batch_size), "--processing-guarantee", guarantee, *extra]
        return workers(
            rig.client_bootstrap,
            topics,
            group=group,
            transactional_id=f"tx-{group}-{slot}",
            extra=args,
        ).start(ready=False)

    supervisor = Supervisor(start_worker, instances).start()
    auditor = LiveAuditor(rig.direct, topics.accruals).start()
    cell = Cell(rig, topics, group, len(inputs), supervisor, auditor, release=release)
    if gated:
        feeder.start()
    try:
        fault(cell)
        release[0] = 1.0
        if gated:
            feeder.join()
        deadline = time.monotonic() + finish_timeout
        while cell.committed() < len(inputs) and time.monotonic() < deadline:
            time.sleep(0.5)
        seen = _metrics(supervisor)
        codes = supervisor.stop()
    finally:
        supervisor.stop_watching()  # else it replaces workers after the pool stopped them
        auditor.stop()
        rig.ensure_up()
    verdict = _verdict(name, guarantee, inputs, document, rig, topics, cell, codes, started)
    verdict.metrics = seen
    return verdict


def settled(bootstrap: str, topics: list[str], timeout: float = 120) -> None:
    """Until no transaction is open on `topics`: a read_committed reader stops at the last
    stable offset, and a worker killed with a transaction open (no successor for its
    transactional.id) holds it there until the broker aborts it (transaction.timeout.ms).
    Reading before that would count the records behind it as lost."""
    ends: dict[str, Consumer] = {
        isolation: Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"ends-{uuid.uuid4().hex}",
                "isolation.level": isolation,
                "logger": _QUIET,
            }
        )
        for isolation in ("read_committed", "read_uncommitted")
    }
    try:
        deadline = time.monotonic() + timeout
        while True:
            behind = []
            for topic in topics:
                meta = ends["read_committed"].list_topics(topic, timeout=10).topics[topic]
                for number in meta.partitions:
                    tp = TopicPartition(topic, number)
                    stable = ends["read_committed"].get_watermark_offsets(tp, timeout=10)[1]
                    end = ends["read_uncommitted"].get_watermark_offsets(tp, timeout=10)[1]
                    if stable < end:
                        behind.append(f"{topic}[{number}] {stable} < {end}")
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"transactions still open after {timeout:.0f} s: {behind}")
            time.sleep(0.5)
    finally:
        for consumer in ends.values():
            consumer.close()


def _feed(bootstrap: str, topic: str, inputs: list[Event], release: list[float]) -> None:
    """Produce `inputs` as far as `release[0]` (a fraction, raised by the fault function)
    allows, until all are out. The broker goes away during the faults: one idempotent
    producer that waits for it (no record lost, none doubled, order per key kept)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "message.timeout.ms": 600_000,
            "linger.ms": 20,
            "logger": _QUIET,
        }
    )
    failed: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(str(error))

    sent = 0
    while sent < len(inputs):
        allowed = min(len(inputs), int(len(inputs) * release[0]))
        for event in inputs[sent:allowed]:
            while True:  # more than librdkafka queues at once (100,000): let it drain
                try:
                    producer.produce(
                        topic,
                        key=event.key,
                        value=event.value,
                        headers=event.headers,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
        sent = max(sent, allowed)
        producer.poll(0.2)
    left = producer.flush(600)
    assert left == 0 and not failed, f"input not delivered: {left} queued, errors {failed[:3]}"


def _verdict(  # noqa: PLR0917 - one call site, every argument a different thing
    name: str,
    guarantee: str,
    inputs: list[Event],
    document: bytes,
    rig: Rig,
    topics: Topics,
    cell: Cell,
    codes: list[int],
    started: float,
) -> Verdict:
    expected = expected_by_key(engine_for(document), inputs)[ACCRUALS]
    settled(rig.direct, [topics.accruals, topics.dlq])
    accruals = read_all(rig.direct, topics.accruals)
    dead = Counter(r.key for r in read_all(rig.direct, topics.dlq))
    floor = cell.dlq_floor
    if floor is None:
        bad = {event.key for event in inputs if (event.key or b"").startswith(b"bad-")}
    else:
        bad = {
            record.key
            for record in read_all(rig.direct, topics.input)
            if (record.key or b"").startswith(b"bad-")
            and record.offset >= floor.get(record.partition, 0)
        }
    dead_lost = len(bad - set(dead))
    dead_doubled = sum(n - 1 for n in dead.values())
    decoded = [orjson.loads(r.value or b"") for r in accruals]
    ids = Counter((a["event_id"], a["ruleset"]) for a in decoded)
    wanted = {
        (doc["event_id"], doc["ruleset"])
        for values in expected.values()
        for doc in (orjson.loads(v) for v in values)
    }
    expected_payout = sum(orjson.loads(v)["amount_minor"] for vs in expected.values() for v in vs)
    # Payout over distinct accruals: what a ledger de-duplicating by id would book.
    paid = {(a["event_id"], a["ruleset"]): a["amount_minor"] for a in decoded}
    got = by_key(accruals)
    firsts = {key: list(dict.fromkeys(values)) for key, values in got.items()}
    live = Counter(out.value for _, out in cell.auditor.records)
    recovery = []
    for _, _, lifted in cell.faults:
        seen = cell.auditor.first_after(lifted)
        recovery.append(round(seen - lifted, 1) if seen is not None else -1.0)
    outcome = "survived" if not cell.supervisor.exits else _exits(cell.supervisor.exits)
    if any(code != 0 for code in codes):
        outcome += f"; SIGTERM exit codes {codes}"
    duplicated = sum(n - 1 for n in ids.values())
    return Verdict(
        cell=name,
        guarantee=guarantee,
        events=len(inputs),
        expected=len(wanted),
        written=len(decoded),
        lost=len(wanted - set(ids)) + dead_lost,
        duplicated=duplicated + dead_doubled,
        dead_letters=len(dead),
        payout_exact=sum(paid.values()) == expected_payout
        and (duplicated == 0 or guarantee == AT_LEAST_ONCE),
        order_kept=(got if guarantee == EXACTLY_ONCE else firsts) == expected,
        seen_twice_live=sum(n - 1 for n in live.values()),
        recovery_seconds=recovery,
        worker=outcome,
        seconds=round(time.monotonic() - started, 1),
    )


def _exits(exits: list[tuple[int, str]]) -> str:
    shown = "; ".join(f"exit {code}: {reason or '(no error line)'}" for code, reason in exits)
    return f"exited {len(exits)}x, restarted ({shown})"


_WATCHED = {
    "retries": ("cashback_batch_retries_total", {}),
    "aborted": ("cashback_transactions_total", {"result": "aborted"}),
    "producers_replaced": ("cashback_transactions_total", {"result": "recreated"}),
    "client_errors": ("cashback_kafka_errors_total", {}),
}


def _metrics(supervisor: Supervisor) -> dict[str, float]:
    """The fault as the running workers' /metrics show it (summed over instances)."""
    totals = dict.fromkeys(_WATCHED, 0.0)
    for worker in supervisor.running:
        try:
            for key, (name, labels) in _WATCHED.items():
                totals[key] += worker.metric(name, **labels)
        except (AssertionError, OSError):
            continue  # exiting or not listening yet: its log still tells
    return totals
