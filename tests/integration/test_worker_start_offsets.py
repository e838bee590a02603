"""Where a partition starts when the group changes while another producer's transaction
still holds its offsets.

librdkafka (2.16) asks for the committed offsets of an assignment with require_stable; a
producer's open transaction makes the broker answer UNSTABLE_OFFSET_COMMIT and the client
asks again. When the assignment changes meanwhile (another instance joins), the late answer
starts the partition with no offset, and auto.offset.reset=earliest then meant pricing the
partition's whole history again: in the every-fault sequence 10,072 accruals were written
twice that way (docs/reliability.md). The worker now decides the start itself."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from test_worker_harness import (
    Out,
    Topics,
    WorkerProcess,
    by_key,
    committed_total,
    engine_for,
    expected_by_key,
    make_topics,
    produce,
    publish_rules,
    read_all,
    wait_for,
    wait_until_committed,
)

from cashback.devtools.local_kafka.toolchain import ensure_jars, find_java
from cashback.domain.engine import ACCRUALS
from events_factory import Event, ruleset_document, stream
from kafka_support import TopicFactory

pytestmark = pytest.mark.kafka

PARTITIONS = 2
EVENTS = 1200
# The group had committed this far into each partition before the instances start.
FLOOR = 200
# The open transaction (a crashed instance's): the broker would abort it after this.
HELD_MS = 60_000
SETTLE_SECONDS = 4.0


def test_a_join_while_offsets_are_held_by_an_open_transaction_repeats_nothing(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    topics = make_topics(topic_factory, partitions=PARTITIONS)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(EVENTS, seed=29, customers=200)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"

    # The group's history: everything below FLOOR in each partition was priced already.
    written = read_all(kafka_bootstrap, topics.input)
    start = [TopicPartition(topics.input, p, FLOOR) for p in range(PARTITIONS)]
    setter = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    setter.commit(offsets=start, asynchronous=False)
    metadata = setter.consumer_group_metadata()

    # A crashed instance's transaction: its offsets are sent, never committed; the broker
    # aborts it after HELD_MS, until then every stable offset read for them waits.
    crashed = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "transactional.id": f"crashed-{group}",
            "transaction.timeout.ms": HELD_MS,
        }
    )
    crashed.init_transactions(30)
    crashed.begin_transaction()
    ahead = [TopicPartition(topics.input, p, FLOOR + 100) for p in range(PARTITIONS)]
    crashed.send_offsets_to_transaction(ahead, metadata, 30)
    held_since = time.monotonic()

    first = _start(workers, kafka_bootstrap, topics, group, "a")
    time.sleep(1)  # its committed-offset read is waiting on the open transaction
    # The group changes while that read is unanswered.
    second = _start(workers, kafka_bootstrap, topics, group, "b")
    joined = time.monotonic() - held_since
    assert joined < HELD_MS / 1000, f"the join came {joined:.0f} s in, too late to tell"
    # Once the late answers are in, the crashed transaction may end; a broker's own timeout
    # (HELD_MS and its abort check) would only make the test slower.
    time.sleep(SETTLE_SECONDS)
    crashed.abort_transaction(30)

    at = _offsets(events, written)
    priced = [e for e, offset in zip(events, at, strict=True) if offset >= FLOOR]
    history = {
        orjson.loads(e.value or b"")["event_id"]
        for e, offset in zip(events, at, strict=True)
        if offset < FLOOR
    }
    wait_until_committed(kafka_bootstrap, group, topics.input, EVENTS, timeout=120)
    assert first.proc is not None and first.proc.poll() is None
    assert second.proc is not None and second.proc.poll() is None

    accruals = read_all(kafka_bootstrap, topics.accruals)
    once = Counter(orjson.loads(r.value or b"")["accrual_id"] for r in accruals)
    assert not once or max(once.values()) == 1, "an accrual was written twice"
    again = [a for a in accruals if orjson.loads(a.value or b"")["event_id"] in history]
    assert not again, f"{len(again)} accruals for events the group had committed already"
    expected = expected_by_key(engine_for(document), priced)[ACCRUALS]
    assert by_key(accruals) == expected, "outputs differ from the events above the floor"


def _start(
    workers: Callable[..., WorkerProcess], bootstrap: str, topics: Topics, group: str, name: str
) -> WorkerProcess:
    return workers(
        bootstrap,
        topics,
        group=group,
        transactional_id=f"tx-{group}-{name}",
        extra=["--batch-size", "100"],
    ).start()


def _offsets(events: list[Event], written: list[Out]) -> list[int]:
    """Each event's offset in its partition, in the order the events were produced."""
    offsets: dict[tuple[bytes | None, bytes | None], list[int]] = {}
    for record in written:
        offsets.setdefault((record.key, record.value), []).append(record.offset)
    return [offsets[(e.key, e.value)].pop(0) for e in events]


def test_an_older_committed_offset_from_the_broker_repeats_nothing(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    """A broker just back from a crash answered with committed offsets minutes old (its
    group coordinator had loaded __consumer_offsets only part way). Here the group's
    offsets are moved back on purpose (a transactional commit without a member, which the
    broker accepts), then the group rebalances: the worker must not read again what it
    committed itself."""
    topics = make_topics(topic_factory, partitions=PARTITIONS)
    other = topic_factory("other", 1)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(EVENTS, seed=31, customers=200)
    head, tail = events[: EVENTS // 2], events[EVENTS // 2 :]
    produce(kafka_bootstrap, topics.input, head)
    group = f"g-{uuid.uuid4().hex[:8]}"
    worker = _start(workers, kafka_bootstrap, topics, group, "a")
    wait_until_committed(kafka_bootstrap, group, topics.input, len(head), timeout=120)

    # The group's committed offsets go back to the start of each partition.
    outsider = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    rewinder = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"rewinder-{group}"}
    )
    rewinder.init_transactions(30)
    rewinder.begin_transaction()
    back = [TopicPartition(topics.input, p, 0) for p in range(PARTITIONS)]
    rewinder.send_offsets_to_transaction(back, outsider.consumer_group_metadata(), 30)
    rewinder.commit_transaction(30)

    # A member for another topic joins: the worker's partitions are revoked and assigned
    # again, and the committed offsets it is given are the old ones.
    joiner = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "latest"}
    )
    joiner.subscribe([other])
    deadline = time.monotonic() + 60
    while not joiner.assignment() and time.monotonic() < deadline:
        joiner.poll(0.5)
    assert joiner.assignment(), "the second member never joined"
    produce(kafka_bootstrap, topics.input, tail)
    wait_until_committed(kafka_bootstrap, group, topics.input, EVENTS, timeout=120)
    joiner.close()
    assert worker.proc is not None and worker.proc.poll() is None

    accruals = read_all(kafka_bootstrap, topics.accruals)
    once = Counter(orjson.loads(r.value or b"")["accrual_id"] for r in accruals)
    twice = sum(n - 1 for n in once.values())
    assert twice == 0, f"{twice} accruals written twice"
    assert by_key(accruals) == expected_by_key(engine_for(document), events)[ACCRUALS]


def test_offsets_held_by_a_transaction_are_reported_and_the_partition_starts_once_freed(
    kafka_bootstrap: str, topic_factory: TopicFactory, workers: Callable[..., WorkerProcess]
) -> None:
    """A transaction that holds the group's offsets for minutes: what a broker that lost
    a transaction's markers leaves behind (a hanging transaction, docs/reliability.md).
    The worker cannot start the partitions; it must say why (not poll on in silence), and
    start them exactly where the group stands once the transaction is aborted, here with
    the runbook's command (kafka-transactions abort)."""
    topics = make_topics(topic_factory, partitions=PARTITIONS)
    document = ruleset_document()
    publish_rules(kafka_bootstrap, topics.rules, document)
    events = stream(EVENTS // 2, seed=37, customers=200)
    produce(kafka_bootstrap, topics.input, events)
    group = f"g-{uuid.uuid4().hex[:8]}"
    written = read_all(kafka_bootstrap, topics.input)
    setter = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    setter.commit(
        offsets=[TopicPartition(topics.input, p, FLOOR) for p in range(PARTITIONS)],
        asynchronous=False,
    )
    hanging = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "transactional.id": f"hanging-{group}",
            "transaction.timeout.ms": 600_000,  # outlives the test: only an abort frees it
        }
    )
    hanging.init_transactions(30)
    hanging.begin_transaction()
    ahead = [TopicPartition(topics.input, p, FLOOR + 50) for p in range(PARTITIONS)]
    hanging.send_offsets_to_transaction(ahead, setter.consumer_group_metadata(), 30)

    worker = _start(workers, kafka_bootstrap, topics, group, "a")

    def reported() -> bool:
        return any("held by an open transaction" in line.get("msg", "") for line in worker.logs())

    wait_for(reported, 60, "the worker to say its offsets are held by a transaction")
    assert worker.metric("cashback_kafka_errors_total", error="UNSTABLE_OFFSET_COMMIT") >= 1
    assert committed_total(kafka_bootstrap, group, topics.input) == PARTITIONS * FLOOR
    line = next(x for x in worker.logs() if "held by an open transaction" in x.get("msg", ""))
    assert sorted(line["partitions"]) == [f"{topics.input}[{p}]" for p in range(PARTITIONS)]

    # The runbook's way out: Kafka's own tool writes the abort marker where the
    # transaction holds the group's offsets (the coordinator is not asked).
    offsets_partition = _offsets_partition(kafka_bootstrap, group)
    start_offset = _open_transaction_start(kafka_bootstrap, offsets_partition)
    _kafka_transactions(
        kafka_bootstrap,
        "abort",
        "--topic",
        "__consumer_offsets",
        "--partition",
        str(offsets_partition),
        "--start-offset",
        str(start_offset),
    )
    wait_until_committed(kafka_bootstrap, group, topics.input, len(events), timeout=120)
    assert worker.proc is not None and worker.proc.poll() is None
    at = _offsets(events, written)
    priced = [e for e, offset in zip(events, at, strict=True) if offset >= FLOOR]
    accruals = read_all(kafka_bootstrap, topics.accruals)
    assert by_key(accruals) == expected_by_key(engine_for(document), priced)[ACCRUALS]


def _kafka_transactions(bootstrap: str, *args: str) -> str:
    """`kafka-transactions.sh` (org.apache.kafka.tools.TransactionsCommand) from the jars
    the local broker runs on."""
    command = [
        find_java(),
        "-cp",
        str(ensure_jars() / "*"),
        "org.apache.kafka.tools.TransactionsCommand",
        "--bootstrap-server",
        bootstrap,
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"kafka-transactions {args[0]}: {done.stderr[-2000:]}"
    return done.stdout


def _offsets_partition(bootstrap: str, group: str) -> int:
    """The __consumer_offsets partition of `group`: Java's String.hashCode through Kafka's
    Utils.abs, modulo the partition count (as the broker places it)."""
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"meta-{group}"})
    try:
        topic = reader.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"]
        count = len(topic.partitions)
    finally:
        reader.close()
    code = 0
    for unit in group.encode("utf-16-be").hex(" ", 2).split():
        code = (31 * code + int(unit, 16)) & 0xFFFFFFFF
    signed = code - (1 << 32) if code >= 1 << 31 else code
    return (0 if signed == -(1 << 31) else abs(signed)) % count  # Kafka's Utils.abs


def _open_transaction_start(bootstrap: str, partition: int) -> int:
    """The start offset of the one open transaction `describe-producers` lists there."""
    table = _kafka_transactions(
        bootstrap,
        "describe-producers",
        "--topic",
        "__consumer_offsets",
        "--partition",
        str(partition),
    )
    lines = [line.split() for line in table.strip().splitlines()]
    column = lines[0].index("CurrentTransactionStartOffset")
    # Producers with nothing open there show None (or -1): other tests' share the partition.
    cells = [row[column] for row in lines[1:]]
    starts = [int(cell) for cell in cells if cell.isdigit()]
    assert len(starts) == 1, f"open transactions on __consumer_offsets-{partition}: {table}"
    return starts[0]
